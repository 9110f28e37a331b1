"""`tirelire checkpoint | checkpoints | proof …`: signed checkpoints and proofs for auditors.

    tirelire checkpoint                     sign and keep a checkpoint now, if an event is new
    tirelire checkpoints [list]             the kept checkpoints, one JSON object per line
    tirelire checkpoints cosign FILE --operator operator.pub --key witness.pem --out FILE2
                                            a witness co-signs them (no database)
    tirelire checkpoints witness FILE2 --witness witness.pub
                                            keep the witness's co-signatures
    tirelire proof inclusion POSITION [--size N]
                                            the event at POSITION is in the checkpoint of
                                            size N (default: the latest)
    tirelire proof consistency FROM_SIZE TO_SIZE
                                            the older checkpoint is a prefix of the newer
    tirelire proof check FILE --key operator.pub [--witness witness.pub]
                                            check a proof offline (no database)

`tirelire serve` keeps checkpoints by itself (`projections.checkpointer`: every
TIRELIRE_CHECKPOINT_EVERY_EVENTS events or TIRELIRE_CHECKPOINT_EVERY_MINUTES minutes),
signed with the key in TIRELIRE_CHECKPOINT_KEY_FILE (`tirelire audit keygen` makes one; on
the SQLite default one is made beside the database file). Proofs are JSON documents
(`ledger.proofs`, the same as `GET /v1/audit/proofs/…`) that carry the signed checkpoints
they are checked against: `proof check` verifies their signatures with the operator's
public key, then the proof against the signed roots, and exits with 2 naming what is wrong.
A line of `tirelire checkpoints` is also what `tirelire verify --at-least` takes. What a
witness checks before it co-signs, and what it does not: `api.witness_cli`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from api.audit_cli import read_proof_file, read_public_key
from api.bootstrap import check_schema
from api.tokens import load_or_create_checkpoint_key
from api.witness_cli import add_witness_actions
from ledger.application import LedgerApplication
from ledger.errors import InvalidProof
from ledger.proofs import check_proof
from ledger.settings import Settings
from projections.checkpoint_store import MAX_LIST, CheckpointStore
from projections.checkpointer import Checkpointer
from projections.engine import create_read_engine
from projections.log_proofs import LogProofs


def add_proof_commands(commands: argparse._SubParsersAction) -> None:
    checkpoint = commands.add_parser("checkpoint", help="sign and keep a checkpoint now")
    checkpoint.set_defaults(handler=cmd_checkpoint)
    listing = commands.add_parser("checkpoints", help="the kept checkpoints (JSON lines)")
    listing.set_defaults(handler=cmd_checkpoints)  # `list` when no action is given
    listing_actions = listing.add_subparsers(required=False, metavar="ACTION")
    listed = listing_actions.add_parser("list", help="the kept checkpoints (the default)")
    listed.set_defaults(handler=cmd_checkpoints)
    add_witness_actions(listing_actions)

    proof = commands.add_parser("proof", help="inclusion and consistency proofs")
    actions = proof.add_subparsers(required=True, metavar="ACTION")
    inclusion = actions.add_parser("inclusion", help="an event is in a signed checkpoint")
    inclusion.add_argument("position", type=int, metavar="POSITION", help="its log position")
    inclusion.add_argument("--size", type=int, help="the checkpoint's size (default: latest)")
    inclusion.set_defaults(handler=cmd_proof_inclusion)
    consistency = actions.add_parser("consistency", help="a checkpoint extends an older one")
    consistency.add_argument("from_size", type=int, metavar="FROM_SIZE")
    consistency.add_argument("to_size", type=int, metavar="TO_SIZE")
    consistency.set_defaults(handler=cmd_proof_consistency)
    check = actions.add_parser("check", help="check a proof offline (no database)")
    check.add_argument("file", type=Path, metavar="FILE")
    check.add_argument("--key", required=True, type=Path, help="the operator's public key")
    check.add_argument("--witness", type=Path, help="a witness's public key")
    check.set_defaults(handler=cmd_proof_check)


@dataclass
class Log:
    """The log, its kept checkpoints, and proofs from them, for one command."""

    app: LedgerApplication
    store: CheckpointStore

    @property
    def proofs(self) -> LogProofs:
        return LogProofs(self.app, self.store)


@contextmanager
def opened(settings: Settings) -> Iterator[Log]:
    check_schema(settings)
    app, engine = LedgerApplication(settings), create_read_engine(settings)
    try:
        yield Log(app, CheckpointStore(engine))
    finally:
        app.close()
        engine.dispose()


def cmd_checkpoint(settings: Settings, _args: argparse.Namespace) -> int:
    key = load_or_create_checkpoint_key(settings)
    with opened(settings) as log:
        signed = Checkpointer(log.app, log.store, key, settings).issue(datetime.now(UTC))
    if signed is None:
        print("No event since the latest checkpoint: none signed.", file=sys.stderr)
        return 0
    print(_dumps(signed.as_dict()))
    return 0


def cmd_checkpoints(settings: Settings, _args: argparse.Namespace) -> int:
    with opened(settings) as log:
        offset = 0
        while page := log.store.listing(MAX_LIST, offset):
            for signed in page:
                print(_dumps(signed.as_dict()))
            offset += len(page)
    return 0


def cmd_proof_inclusion(settings: Settings, args: argparse.Namespace) -> int:
    with opened(settings) as log:
        print(_dumps(log.proofs.inclusion(args.position, args.size)))
    return 0


def cmd_proof_consistency(settings: Settings, args: argparse.Namespace) -> int:
    with opened(settings) as log:
        print(_dumps(log.proofs.consistency(args.from_size, args.to_size)))
    return 0


def cmd_proof_check(_settings: Settings, args: argparse.Namespace) -> int:
    operator = read_public_key(args.key)
    witness = read_public_key(args.witness) if args.witness else None
    document = read_proof_file(args.file)
    try:
        proved = check_proof(document, operator, witness)
    except InvalidProof as error:  # say which check refused it
        reason = error.details.get("reason", "")
        raise InvalidProof(f"{error.message} ({reason})", **error.details) from None
    print(f"Verified: {proved}.")
    return 0


def _dumps(fields: dict[str, Any]) -> str:
    return json.dumps(fields, separators=(",", ":"))
