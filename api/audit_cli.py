"""`tirelire export`, `verify`, `audit keygen | public-key | cosign`: the log for auditors.

    tirelire export [--key operator.pem] [--every N] [--out FILE] [--quiet]
    tirelire verify EXPORT --key operator.pub [--witness witness.pub]
                                            [--at-least CHECKPOINT_FILE]
    tirelire audit keygen PATH          a new Ed25519 key in PATH, its public half in PATH.pub
    tirelire audit public-key           the checkpoint key's public half (PEM): operator.pub
    tirelire audit cosign EXPORT --operator operator.pub --key witness.pem --out FILE
    tirelire audit pass [--position N] [--processes 1|2]   (api/audit_pass_cli.py)

Without `--key`, `export` signs with the checkpoint key (TIRELIRE_CHECKPOINT_KEY_FILE,
`api.tokens.load_or_create_checkpoint_key`), the key of the kept checkpoints and of the
reports: one key, whose public half `audit public-key` prints, verifies them all.

An **export** is JSON Lines, one object per line, in notification order:

    {"kind":"event","notification_id":1,"originator_id":"<uuid>","originator_version":1,
     "topic":"ledger.devices:Device.Pledged","state":"<base64>","leaf_hash":"<hex>"}
    {"kind":"checkpoint","log_size":…,"root":…,"balances_sha256":…,"issued_at":…,
     "signature":"<base64>"[,"witness_signature":"<base64>"]}

A checkpoint line follows every N events and one ends the export, covering every event in
it (`ledger.checkpoints`; the leaf of an event: `ledger.audit_log`). `verify` needs no
database and trusts nothing in the file but what the operator's key signed: it recomputes
every leaf from its fields, rebuilds the tree, checks each checkpoint's size, root,
signatures, its consistency with the one before (RFC 9162), and replays the events' postings
to recompute the balances commitment. It stops at the first bad line and names it.

An export cut right after one of its own checkpoints verifies on its own. An auditor who
kept signed checkpoints from before (`tirelire checkpoints`, `GET /v1/audit/checkpoints`)
passes them with `--at-least`: the export must then reach each of them and have exactly
its root at its size, or it is refused as `truncated_before_known_checkpoint` or
`forked_from_known_checkpoint`.

The export reads the log up to its last event when it starts; events recorded meanwhile
belong to the next export.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from tqdm import tqdm

from api import tokens
from api.bootstrap import check_schema
from ledger.accounts import postings
from ledger.application import LedgerApplication
from ledger.audit_log import (
    ExportVerifier,
    b64encode,
    checkpoint_line,
    event_line,
    last_notification_id,
    notification_leaf_hash,
    notifications,
)
from ledger.checkpoints import FIELDS, Checkpoint, checkpoint_of, cosign
from ledger.commitment import RunningCommitment
from ledger.errors import (
    ExportMismatch,
    InvalidCheckpoint,
    InvalidInput,
    InvalidProof,
    InvalidSigningKey,
)
from ledger.merkle import MerkleFrontier
from ledger.proofs import SignedCheckpoint
from ledger.settings import Settings

DEFAULT_EVERY = 10_000  # events between two checkpoints of an export
MAX_EVERY = 10_000_000
MAX_KEY_FILE_BYTES = 16_384
MAX_PROOF_FILE_BYTES = 1_000_000  # a proof is a few kilobytes: two checkpoints, 2 × 64 hashes
MAX_KEPT_CHECKPOINTS = 100_000  # lines of a file of checkpoints an auditor kept
MAX_KEPT_LINE_CHARS = 4096  # a signed checkpoint is about 400 characters


def add_audit_commands(commands: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """`export`, `verify` and `audit ...`; the actions of `audit`, for the ones defined apart."""
    export = commands.add_parser("export", help="the log and signed checkpoints, for auditors")
    export.add_argument("--format", choices=["jsonl"], default="jsonl")
    export.add_argument(
        "--key", type=Path, help="the operator's key (PEM; default: the checkpoint key)"
    )
    export.add_argument(
        "--every", type=int, default=DEFAULT_EVERY, help="events per checkpoint (%(default)s)"
    )
    export.add_argument("--out", type=Path, help="the file to write (default: stdout)")
    export.add_argument("--quiet", action="store_true", help="no progress bar")
    export.set_defaults(handler=cmd_export)

    verify = commands.add_parser("verify", help="check an export offline (no database)")
    verify.add_argument("export", type=Path, metavar="EXPORT")
    verify.add_argument("--key", required=True, type=Path, help="the operator's public key")
    verify.add_argument("--witness", type=Path, help="a witness's public key")
    verify.add_argument(
        "--at-least",
        type=Path,
        metavar="CHECKPOINT_FILE",
        help="signed checkpoints you kept (JSON lines, as `tirelire checkpoints` prints): "
        "the export must reach each with exactly its root; with --witness, a kept line's "
        "witness_signature, where it has one, must verify too",
    )
    verify.set_defaults(handler=cmd_verify)

    audit = commands.add_parser("audit", help="audit keys and witnesses' co-signatures")
    actions = audit.add_subparsers(required=True, metavar="ACTION")
    keygen = actions.add_parser("keygen", help="write a new key PATH and PATH.pub")
    keygen.add_argument("path", type=Path, metavar="PATH")
    keygen.set_defaults(handler=cmd_audit_keygen)
    public = actions.add_parser("public-key", help="the checkpoint key's public half (PEM)")
    public.set_defaults(handler=cmd_audit_public_key)
    cosigning = actions.add_parser("cosign", help="verify an export, then co-sign it")
    cosigning.add_argument("export", type=Path, metavar="EXPORT")
    cosigning.add_argument("--operator", required=True, type=Path, help="operator's public key")
    cosigning.add_argument("--key", required=True, type=Path, help="the witness's key (PEM)")
    cosigning.add_argument("--out", required=True, type=Path, help="the co-signed export")
    cosigning.set_defaults(handler=cmd_audit_cosign)
    return actions


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    if not 1 <= args.every <= MAX_EVERY:
        raise InvalidInput(f"--every is 1 to {MAX_EVERY} events", field="every")
    check_schema(settings)
    if args.key is None:
        key = tokens.load_or_create_checkpoint_key(settings)
    else:
        key = tokens.read_signing_key(args.key)
    app = LedgerApplication(settings)
    try:
        with open_output(args.out) as out:
            size = export_jsonl(app, out, key, args.every, datetime.now(UTC), not args.quiet)
    finally:
        app.close()
    print(f"Exported {size} events.", file=sys.stderr)
    return 0


def export_jsonl(
    app: LedgerApplication,
    out: IO[str],
    key: Ed25519PrivateKey,
    every: int,
    now: datetime,
    progress: bool = False,
) -> int:
    """Write the log up to its last event now, with a checkpoint every `every` events and
    one at the end; the number of events written."""
    stop = last_notification_id(app.recorder)
    tree, balances = MerkleFrontier(), RunningCommitment()

    def write_checkpoint() -> None:
        checkpoint = checkpoint_of(tree.size, tree.root(), balances.digest(), now)
        out.write(_dumps(checkpoint_line(checkpoint, key)))

    with tqdm(total=stop, unit="id", file=sys.stderr, disable=not progress) as bar:
        for notification in notifications(app.recorder, stop):
            leaf = notification_leaf_hash(notification)
            tree.append(leaf)
            balances.apply(postings(app.mapper.to_domain_event(notification)))
            out.write(_dumps(event_line(notification, leaf)))
            if tree.size % every == 0:
                write_checkpoint()
            bar.update(notification.id - bar.n)
    if tree.size == 0 or tree.size % every:
        write_checkpoint()
    return tree.size


def cmd_verify(_settings: Settings, args: argparse.Namespace) -> int:
    operator = read_public_key(args.key)
    witness = read_public_key(args.witness) if args.witness else None
    known = read_kept_checkpoints(args.at_least) if args.at_least else ()
    for signed in known:  # a kept line's co-signature, where it has one, is the witness's
        if witness is not None and signed.witness_signature is not None:
            signed.check(operator, witness)
    try:
        verifier = verify_export(args.export, operator, witness, known)
    except ExportMismatch as error:  # say which check refused it
        reason = error.details.get("reason", "")
        raise ExportMismatch(f"{error.message} ({reason})", **error.details) from None
    last = verifier.last_checkpoint
    assert last is not None
    reached = f" It reaches the {len(known)} checkpoints you kept." if known else ""
    print(
        f"Verified {verifier.tree.size} events and {verifier.checkpoints} checkpoints: "
        f"size {last.log_size}, root {last.root}, balances {last.balances_sha256}.{reached}"
    )
    return 0


def verify_export(
    path: Path,
    operator: Ed25519PublicKey,
    witness: Ed25519PublicKey | None = None,
    known: Sequence[SignedCheckpoint] = (),
) -> ExportVerifier:
    """Check a whole export file, and that it reaches the `known` checkpoints the auditor
    kept; `ExportMismatch` names its first bad line."""
    verifier = ExportVerifier(operator, witness)
    for signed in known:
        verifier.expect(signed.checkpoint, signed.signature)
    number = 0
    with _input(path) as lines:
        for number, text in enumerate(lines, start=1):
            verifier.check_line(number, text)
    verifier.finish(number)
    return verifier


def read_kept_checkpoints(path: Path) -> list[SignedCheckpoint]:
    """Signed checkpoints an auditor kept: one JSON object per line (an export's checkpoint
    line, or a line of `tirelire checkpoints`)."""
    return [signed for _number, signed in read_checkpoint_lines(path)]


def read_checkpoint_lines(path: Path) -> list[tuple[int, SignedCheckpoint]]:
    """The signed checkpoints of a file of JSON lines, each with its line number; blank
    lines are skipped. `InvalidCheckpoint` names the first malformed line."""
    kept: list[tuple[int, SignedCheckpoint]] = []
    with _input(path) as lines:
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            if len(kept) == MAX_KEPT_CHECKPOINTS or len(text) > MAX_KEPT_LINE_CHARS:
                raise InvalidInput(f"{path}: at most {MAX_KEPT_CHECKPOINTS} short lines")
            try:
                kept.append((number, SignedCheckpoint.from_dict(json.loads(text))))
            except ValueError:
                raise InvalidCheckpoint(f"{path}, line {number}: not JSON") from None
            except InvalidCheckpoint as error:
                raise InvalidCheckpoint(f"{path}, line {number}: {error.message}") from None
    if not kept:
        raise InvalidCheckpoint(f"{path} holds no checkpoint")
    return kept


def cmd_audit_keygen(_settings: Settings, args: argparse.Namespace) -> int:
    public_path = args.path.with_name(args.path.name + ".pub")
    if public_path.exists():
        raise InvalidInput(f"{public_path} already exists: a key is never written over")
    key = tokens.generate_key_file(args.path)
    public_path.write_bytes(tokens.public_key_pem(key))
    print(f"Wrote a new Ed25519 key to {args.path} (mode 0600), its public key to {public_path}.")
    return 0


def cmd_audit_public_key(settings: Settings, _args: argparse.Namespace) -> int:
    """The public half of the key that signs kept checkpoints, reports and (by default)
    exports: the `operator.pub` auditors pass to `verify`, `proof check`, `report check`."""
    key = tokens.load_or_create_checkpoint_key(settings)
    sys.stdout.write(tokens.public_key_pem(key).decode("ascii"))
    return 0


def cmd_audit_cosign(_settings: Settings, args: argparse.Namespace) -> int:
    """A witness co-signs only what it has verified in full."""
    verify_export(args.export, read_public_key(args.operator))
    key = tokens.read_signing_key(args.key)
    with _input(args.export) as lines, open_output(args.out) as out:
        for text in lines:
            fields = json.loads(text)
            if fields["kind"] == "checkpoint":
                checkpoint = Checkpoint.from_dict({name: fields[name] for name in FIELDS})
                fields["witness_signature"] = b64encode(cosign(checkpoint, key))
            out.write(_dumps(fields))
    print(f"Co-signed every checkpoint of {args.export} into {args.out}.")
    return 0


def read_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file (SubjectPublicKeyInfo)."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_KEY_FILE_BYTES + 1)
        key = serialization.load_pem_public_key(data[:MAX_KEY_FILE_BYTES])
    except OSError as error:
        raise InvalidSigningKey(f"cannot read the public key {path}: {error.strerror}") from None
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise InvalidSigningKey(f"{path} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidSigningKey(f"{path} is not an Ed25519 public key")
    return key


def read_proof_file(path: Path) -> Any:
    """A proof document (`ledger.proofs`) from a JSON file of at most a megabyte."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_PROOF_FILE_BYTES + 1)
    except OSError as error:
        raise InvalidInput(f"cannot read {path}: {error.strerror}") from None
    if len(data) > MAX_PROOF_FILE_BYTES:
        raise InvalidProof(f"{path} is larger than a proof", reason="malformed_proof")
    try:
        return json.loads(data)
    except ValueError:
        raise InvalidProof(f"{path} is not JSON", reason="malformed_proof") from None


def _dumps(fields: dict[str, Any]) -> str:
    return json.dumps(fields, separators=(",", ":")) + "\n"


@contextmanager
def open_output(path: Path | None) -> Iterator[IO[str]]:
    """A new file to write (never over an existing one), or stdout."""
    if path is None:
        yield sys.stdout
        return
    try:
        file = path.open("x", encoding="utf-8", newline="")
    except FileExistsError:
        raise InvalidInput(f"{path} already exists: choose a new file") from None
    except OSError as error:
        raise InvalidInput(f"cannot write {path}: {error.strerror}") from None
    with file:
        yield file


@contextmanager
def _input(path: Path) -> Iterator[IO[str]]:
    try:
        file = path.open(encoding="utf-8", newline="\n")
    except OSError as error:
        raise InvalidInput(f"cannot read {path}: {error.strerror}") from None
    with file:
        yield file
