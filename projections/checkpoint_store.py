"""The signed checkpoints the system keeps: table `checkpoints` (migration 0009).

Every checkpoint the operator signs (`ledger.checkpoints`, `projections.checkpointer`) is
kept, one row per size of the log, with the log position of its last event. Rows are only
added, each extending the latest: a larger size at a later position. An older or equal one
is refused (`CheckpointNotExtending`), as is one of the empty log, so the table reads as
the log's growth; two processes signing at once cannot leave it out of order (the table is
locked while a row is added). The one change a row takes is a witness's co-signature,
stored once it verifies under the witness's public key.

Proofs are served only against these rows: an auditor trusts nothing unsigned.
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, Engine, Row, func, select, text, update
from sqlalchemy.exc import IntegrityError

from ledger.checkpoints import Checkpoint, verify
from ledger.errors import CheckpointAlreadyCosigned, CheckpointNotExtending, CheckpointNotFound
from ledger.proofs import SignedCheckpoint
from projections.schema import checkpoints

MAX_LIST = 1000  # checkpoints one listing returns at most


class CheckpointStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, signed: SignedCheckpoint) -> None:
        """Keep a signed checkpoint that extends the latest one, or refuse it."""
        assert signed.position is not None, "a stored checkpoint says where the log stood"
        with self.engine.begin() as conn:
            _lock(conn)
            latest = _latest(conn)
            size, position = (latest.log_size, latest.position or 0) if latest else (0, 0)
            if not (signed.log_size > size and signed.position > position):
                raise _not_extending(signed, latest)
            try:
                with conn.begin_nested():
                    conn.execute(checkpoints.insert().values(**_row(signed)))
            except IntegrityError:
                raise _not_extending(signed, latest) from None

    def latest(self) -> SignedCheckpoint | None:
        with self.engine.connect() as conn:
            return _latest(conn)

    def by_size(self, log_size: int) -> SignedCheckpoint:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(checkpoints).where(checkpoints.c.log_size == log_size)
            ).first()
        if row is None:
            raise CheckpointNotFound(f"no signed checkpoint of size {log_size}", log_size=log_size)
        return _signed(row)

    def listing(self, limit: int = MAX_LIST, offset: int = 0) -> list[SignedCheckpoint]:
        """Checkpoints by size, smallest first."""
        assert 0 < limit <= MAX_LIST and offset >= 0
        query = select(checkpoints).order_by(checkpoints.c.log_size).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            return [_signed(row) for row in conn.execute(query)]

    def count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(checkpoints)).scalar_one()

    def add_witness_signature(
        self, log_size: int, signature: bytes, witness: Ed25519PublicKey
    ) -> SignedCheckpoint:
        """Store a witness's co-signature once it verifies; the same one again is a no-op,
        another one is refused."""
        stored = self.by_size(log_size)
        verify(stored.checkpoint, signature, witness)  # InvalidCheckpointSignature
        encoded = base64.b64encode(signature).decode("ascii")
        with self.engine.begin() as conn:
            done = conn.execute(
                update(checkpoints)
                .where(checkpoints.c.log_size == log_size)
                .where(checkpoints.c.witness_signature.is_(None))
                .values(witness_signature=encoded)
            )
            current = conn.execute(
                select(checkpoints.c.witness_signature).where(checkpoints.c.log_size == log_size)
            ).scalar_one()
        if done.rowcount == 0 and current != encoded:
            raise CheckpointAlreadyCosigned(
                f"the checkpoint of size {log_size} is already co-signed", log_size=log_size
            )
        return self.by_size(log_size)


def _lock(conn: Connection) -> None:
    """Serialize adders on PostgreSQL (SQLite's transactions start with the write lock)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("LOCK TABLE checkpoints IN SHARE ROW EXCLUSIVE MODE"))


def _latest(conn: Connection) -> SignedCheckpoint | None:
    query = select(checkpoints).order_by(checkpoints.c.log_size.desc()).limit(1)
    row = conn.execute(query).first()
    return None if row is None else _signed(row)


def _row(signed: SignedCheckpoint) -> dict[str, object]:
    fields = signed.as_dict()
    return {column.name: fields[column.name] for column in checkpoints.columns}


def _signed(row: Row) -> SignedCheckpoint:
    witness = row.witness_signature
    return SignedCheckpoint(
        Checkpoint(row.log_size, row.root, row.balances_sha256, row.issued_at),
        row.position,
        base64.b64decode(row.signature),
        None if witness is None else base64.b64decode(witness),
    )


def _not_extending(signed: SignedCheckpoint, latest: SignedCheckpoint | None) -> Exception:
    where = "" if latest is None else f" (latest: size {latest.log_size})"
    return CheckpointNotExtending(
        f"the checkpoint of size {signed.log_size} does not extend the latest one{where}",
        log_size=signed.log_size,
    )
