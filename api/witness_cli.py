"""`tirelire checkpoints cosign | witness`: a witness co-signs the checkpoints we keep.

    tirelire checkpoints cosign FILE --operator operator.pub --key witness.pem --out FILE2
                                [--consistency PROOF]...
                                            the witness's side, with no database
    tirelire checkpoints witness FILE2 --witness witness.pub
                                            the operator's side: keep the co-signatures

The round trip: the operator hands the witness lines of `tirelire checkpoints` (FILE) and,
if the witness asks, `tirelire proof consistency OLD NEW` documents; the witness runs
`cosign` and hands back FILE2, the same lines each with its `witness_signature` (written
over any it had); the operator runs `witness`, which stores each co-signature on the kept
checkpoint (`CheckpointStore.add_witness_signature`). From then on `tirelire checkpoints`,
the proofs and `GET /v1/audit/checkpoints` carry it, and an auditor checks it with
`--witness` (`proof check`, `verify --at-least`).

What `cosign` checks before it signs anything (it refuses the whole file, naming the line
or the proof, at the first failure, and writes nothing):
  - every line is a well-formed signed checkpoint whose operator signature verifies under
    `--operator`;
  - the sizes strictly increase from one line to the next;
  - each `--consistency` document verifies (`ledger.proofs.check_proof`, under the same
    operator key) and both its checkpoints are lines of FILE, field for field: the older
    tree is then shown to be a prefix of the newer one.
What it does NOT check: it reads no event, so it cannot tell that a root or a balances
commitment is that of the real log (`tirelire verify` on an export does); two lines with no
consistency proof between them are NOT shown to extend each other (the summary lists those
pairs); `position` is not signed and is copied as given. A witness that wants no fork to go
unnoticed keeps the last checkpoint it co-signed, puts it first in the next FILE and asks
for a consistency proof from it to each new line (co-signing it again gives the very same
signature, which the operator's side takes as already stored).

`witness` refuses the whole file, storing nothing, unless every line carries a witness
signature that verifies under `--witness` on a kept checkpoint with exactly the same four
signed fields and operator signature (`checkpoint_not_kept` names a line that differs); a
checkpoint already co-signed with another signature is refused too.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from api import tokens
from api.audit_cli import open_output, read_checkpoint_lines, read_proof_file, read_public_key
from api.bootstrap import check_schema
from ledger.checkpoints import FIELDS, Checkpoint, cosign, verify
from ledger.errors import (
    CheckpointAlreadyCosigned,
    CheckpointNotFound,
    CheckpointNotKept,
    InvalidCheckpoint,
    InvalidCheckpointSignature,
    InvalidProof,
)
from ledger.proofs import SignedCheckpoint, check_proof
from ledger.settings import Settings
from projections.checkpoint_store import CheckpointStore
from projections.engine import create_read_engine


def add_witness_actions(actions: argparse._SubParsersAction) -> None:
    """`cosign` and `witness`, as actions of `tirelire checkpoints`."""
    cosigning = actions.add_parser(
        "cosign", help="the witness: check checkpoint lines, then co-sign them (no database)"
    )
    cosigning.add_argument("file", type=Path, metavar="FILE", help="`tirelire checkpoints` lines")
    cosigning.add_argument("--operator", required=True, type=Path, help="operator's public key")
    cosigning.add_argument("--key", required=True, type=Path, help="the witness's key (PEM)")
    cosigning.add_argument("--out", required=True, type=Path, help="the co-signed lines")
    cosigning.add_argument(
        "--consistency",
        action="append",
        default=[],
        type=Path,
        metavar="PROOF",
        help="a `tirelire proof consistency` document between two of the lines (repeatable)",
    )
    cosigning.set_defaults(handler=cmd_checkpoints_cosign)
    storing = actions.add_parser("witness", help="keep a witness's co-signatures")
    storing.add_argument("file", type=Path, metavar="FILE", help="lines the witness co-signed")
    storing.add_argument("--witness", required=True, type=Path, help="the witness's public key")
    storing.set_defaults(handler=cmd_checkpoints_witness)


def cmd_checkpoints_cosign(_settings: Settings, args: argparse.Namespace) -> int:
    operator = read_public_key(args.operator)
    key = tokens.read_signing_key(args.key)
    lines = read_checkpoint_lines(args.file)
    previous: SignedCheckpoint | None = None
    for number, signed in lines:
        where = f"{args.file}, line {number}"
        _verified(where, number, signed.checkpoint, signed.signature, operator)
        if previous is not None and signed.log_size <= previous.log_size:
            raise InvalidCheckpoint(
                f"{where}: size {signed.log_size} does not follow size {previous.log_size}: "
                "the sizes must increase",
                field="log_size",
                line=number,
            )
        previous = signed
    checkpoints = [signed.checkpoint for _number, signed in lines]
    proven = [_check_consistency(path, operator, checkpoints) for path in args.consistency]
    with open_output(args.out) as out:
        for _number, signed in lines:
            witnessed = cosign(signed.checkpoint, key)
            out.write(_dumps(dataclasses.replace(signed, witness_signature=witnessed).as_dict()))
    sizes = [checkpoint.log_size for checkpoint in checkpoints]
    unproven = [pair for pair in itertools.pairwise(sizes) if pair not in proven]
    print(
        f"Co-signed {len(lines)} checkpoints (sizes {sizes[0]} to {sizes[-1]}) into {args.out}: "
        "operator signatures verified, sizes increasing."
    )
    print(f"Shown consistent by a proof: {_pairs(proven) or 'none'}.")
    print(
        f"NOT shown consistent: {_pairs(unproven) or 'none'}. Roots and balances were not "
        "checked against the events (no log was read)."
    )
    return 0


def cmd_checkpoints_witness(settings: Settings, args: argparse.Namespace) -> int:
    witness = read_public_key(args.witness)
    lines = read_checkpoint_lines(args.file)
    check_schema(settings)
    engine = create_read_engine(settings)
    try:
        store = CheckpointStore(engine)
        # Every line is checked before any is stored: a file is taken whole or not at all.
        new = [_to_store(store, args.file, number, signed, witness) for number, signed in lines]
        for signed in new:
            if signed is not None:
                assert signed.witness_signature is not None
                store.add_witness_signature(signed.log_size, signed.witness_signature, witness)
    finally:
        engine.dispose()
    stored = sum(signed is not None for signed in new)
    print(
        f"Stored {stored} witness signatures from {args.file} "
        f"({len(new) - stored} were already stored)."
    )
    return 0


def _to_store(
    store: CheckpointStore,
    path: Path,
    number: int,
    signed: SignedCheckpoint,
    witness: Ed25519PublicKey,
) -> SignedCheckpoint | None:
    """The line's co-signature to store, None if it is already stored; or refused."""
    where = f"{path}, line {number}"
    if signed.witness_signature is None:
        raise InvalidCheckpoint(
            f"{where}: no witness_signature", field="witness_signature", line=number
        )
    try:
        kept = store.by_size(signed.log_size)
    except CheckpointNotFound:
        raise CheckpointNotKept(
            f"{where}: no checkpoint of size {signed.log_size} is kept", line=number
        ) from None
    ours, theirs = kept.as_dict(), signed.as_dict()
    differs = [name for name in (*FIELDS, "signature") if ours[name] != theirs[name]]
    if differs:
        raise CheckpointNotKept(
            f"{where}: the checkpoint of size {signed.log_size} differs from the one kept "
            f"in its {', '.join(differs)}",
            line=number,
        )
    _verified(where, number, kept.checkpoint, signed.witness_signature, witness)
    if kept.witness_signature == signed.witness_signature:
        return None
    if kept.witness_signature is not None:
        raise CheckpointAlreadyCosigned(
            f"{where}: the checkpoint of size {signed.log_size} is already co-signed with "
            "another signature",
            log_size=signed.log_size,
            line=number,
        )
    return signed


def _check_consistency(
    path: Path, operator: Ed25519PublicKey, checkpoints: Sequence[Checkpoint]
) -> tuple[int, int]:
    """The sizes a consistency proof between two of the lines shows consistent."""
    document = read_proof_file(path)
    if not isinstance(document, dict) or document.get("kind") != "consistency":
        raise InvalidProof(
            f"{path} is not a consistency proof (`tirelire proof consistency`)",
            reason="malformed_proof",
        )
    try:
        check_proof(document, operator)
    except InvalidProof as error:
        reason = error.details.get("reason", "")
        raise InvalidProof(f"{path}: {error.message} ({reason})", **error.details) from None
    except InvalidCheckpointSignature as error:
        raise InvalidCheckpointSignature(f"{path}: {error.message}") from None
    ends = []
    for name in ("from_checkpoint", "to_checkpoint"):
        end = SignedCheckpoint.from_dict(document[name]).checkpoint  # checked above
        if end not in checkpoints:
            raise InvalidProof(
                f"{path}: its {name} (size {end.log_size}) is not one of the lines, field "
                "for field (checkpoint_not_in_file)",
                reason="checkpoint_not_in_file",
            )
        ends.append(end.log_size)
    return ends[0], ends[1]


def _verified(
    where: str, number: int, checkpoint: Checkpoint, signature: bytes, key: Ed25519PublicKey
) -> None:
    try:
        verify(checkpoint, signature, key)
    except InvalidCheckpointSignature as error:
        raise InvalidCheckpointSignature(f"{where}: {error.message}", line=number) from None


def _pairs(pairs: Sequence[tuple[int, int]]) -> str:
    return ", ".join(f"{old}->{new}" for old, new in pairs)


def _dumps(fields: dict[str, Any]) -> str:
    return json.dumps(fields, separators=(",", ":")) + "\n"
