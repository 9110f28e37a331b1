"""Checkpoints: signed tree heads that also commit to the balances.

A **checkpoint** says "the first `log_size` events of the log hash to this Merkle `root`
(`ledger.audit_log`, `ledger.merkle`), and replaying them gives balances whose commitment is
`balances_sha256`; signed at `issued_at`". Four fields:

    log_size         the number of events covered (an integer, 0 or more)
    root             the Merkle root of those events, 64 lowercase hex digits
    balances_sha256  SHA-256, in 64 lowercase hex digits, of the canonical JSON of the
                     non-zero balances after those events (`ledger.accounts.fold`): one
                     object, account → integer cents, keys sorted, no spaces, ASCII only,
                     e.g. `{"bank:main":-500,"vendor_payable:v1":500}`
    issued_at        when it was signed, passed in: ISO 8601 in UTC to the second,
                     e.g. `2026-11-29T22:40:00Z`

The **signed bytes** are the ASCII prefix `tirelire-checkpoint-v1\\n` followed by the
canonical JSON of those four fields (keys sorted, no spaces, ASCII). The prefix separates
the domains: no signature the operator makes for anything else (a bearer token is signed
after `tirelire-token-v1.`) can pass for a checkpoint's. Signatures are Ed25519 (64 bytes).

A **witness** (another party watching the log) co-signs the very same bytes with its own
key once it has checked them: an auditor holding the witness's public key then knows the
operator cannot show the witness one history and the auditor another.

Consecutive checkpoints extend each other: the older tree is a prefix of the newer one,
which an RFC 9162 consistency proof shows.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ledger.errors import InvalidCheckpoint, InvalidCheckpointSignature
from ledger.merkle import MAX_TREE_SIZE

SIGNING_PREFIX = b"tirelire-checkpoint-v1\n"
SIGNATURE_BYTES = 64
FIELDS = ("balances_sha256", "issued_at", "log_size", "root")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
MAX_TIME_CHARS = len("2026-11-29T22:40:00Z")

_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    log_size: int
    root: str  # hex
    balances_sha256: str  # hex
    issued_at: str  # ISO 8601, UTC, seconds

    def __post_init__(self) -> None:
        if type(self.log_size) is not int or not 0 <= self.log_size <= MAX_TREE_SIZE:
            raise InvalidCheckpoint(f"log_size {self.log_size!r} is out of range")
        for name in ("root", "balances_sha256"):
            value = getattr(self, name)
            if type(value) is not str or not _HEX_DIGEST.fullmatch(value):
                raise InvalidCheckpoint(f"{name} is not 64 lowercase hex digits", field=name)
        _check_time(self.issued_at)

    def as_dict(self) -> dict[str, int | str]:
        return {name: getattr(self, name) for name in FIELDS}

    @classmethod
    def from_dict(cls, fields: Mapping[str, object]) -> Checkpoint:
        """A checkpoint from exactly its four fields; anything else is refused."""
        if set(fields) != set(FIELDS):
            raise InvalidCheckpoint(f"a checkpoint has exactly the fields {', '.join(FIELDS)}")
        return cls(**fields)  # type: ignore[arg-type]

    def signed_bytes(self) -> bytes:
        body = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return SIGNING_PREFIX + body.encode("ascii")


def issued_at(moment: datetime) -> str:
    """A moment as a checkpoint writes it: UTC, to the second."""
    assert moment.tzinfo is not None, "checkpoint times are aware"
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def balances_commitment(balances: Mapping[str, int]) -> str:
    """SHA-256 (hex) of the canonical JSON of the non-zero balances, keys sorted."""
    non_zero = {account: cents for account, cents in balances.items() if cents}
    assert all(type(cents) is int for cents in non_zero.values()), "integer cents only"
    body = json.dumps(non_zero, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(body.encode("ascii")).hexdigest()


def make_checkpoint(
    log_size: int, root: bytes, balances: Mapping[str, int], moment: datetime
) -> Checkpoint:
    return checkpoint_of(log_size, root, balances_commitment(balances), moment)


def checkpoint_of(log_size: int, root: bytes, balances_sha256: str, moment: datetime) -> Checkpoint:
    """A checkpoint of balances committed to already (`ledger.commitment`)."""
    return Checkpoint(log_size, root.hex(), balances_sha256, issued_at(moment))


def sign(checkpoint: Checkpoint, key: Ed25519PrivateKey) -> bytes:
    """The operator's signature of a checkpoint."""
    return key.sign(checkpoint.signed_bytes())


def cosign(checkpoint: Checkpoint, witness_key: Ed25519PrivateKey) -> bytes:
    """A witness's signature of the same bytes, with its own key."""
    return witness_key.sign(checkpoint.signed_bytes())


def verify(checkpoint: Checkpoint, signature: bytes, public_key: Ed25519PublicKey) -> None:
    """Raise `InvalidCheckpointSignature` unless `signature` signs this checkpoint."""
    if type(signature) is not bytes or len(signature) != SIGNATURE_BYTES:
        raise InvalidCheckpointSignature(f"a signature is {SIGNATURE_BYTES} bytes")
    try:
        public_key.verify(signature, checkpoint.signed_bytes())
    except InvalidSignature:
        raise InvalidCheckpointSignature(
            f"the signature of the checkpoint of size {checkpoint.log_size} does not verify"
        ) from None


def _check_time(value: object) -> None:
    if type(value) is not str or len(value) != MAX_TIME_CHARS:
        raise InvalidCheckpoint(
            "issued_at is not a UTC time like 2026-11-29T22:40:00Z", field="issued_at"
        )
    try:
        canonical = datetime.strptime(value, TIME_FORMAT).strftime(TIME_FORMAT) == value
    except ValueError:
        canonical = False
    if not canonical:  # one spelling per moment: the signed bytes are canonical
        raise InvalidCheckpoint(
            "issued_at is not a UTC time like 2026-11-29T22:40:00Z", field="issued_at"
        )
