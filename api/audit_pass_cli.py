"""`tirelire audit pass`: the audit pass over the live log, and the signed checkpoint it confirms.

    tirelire audit pass [--position N] [--processes 1|2] [--quiet]

Hashes every event into the Merkle tree, decodes it and folds its postings into the
balances (`ledger.audit_parallel`, both cores by default), then prints the size, root and
balances commitment it found as one JSON object, with how long it took. Without
`--position` it stops at the latest signed checkpoint the operator kept, so the run
confirms that checkpoint from the log (at the end of the log when none is kept); with it,
at that position, and confirms the kept checkpoint of that size if there is one. A
checkpoint the log no longer gives exits 1 naming the field that differs
(`checkpoint_mismatch`); the steps go to stderr as they end (`--quiet`: none).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from api.proof_cli import opened
from ledger.audit_log import last_notification_id
from ledger.audit_parallel import AuditResult, audit_pass
from ledger.errors import CheckpointMismatch, CheckpointNotFound, InvalidInput
from ledger.proofs import SignedCheckpoint
from ledger.settings import Settings


def add_pass_action(actions: Any) -> None:
    run = actions.add_parser("pass", help="the audit pass over the log; confirms a checkpoint")
    run.add_argument("--position", type=int, help="the log position to stop at")
    run.add_argument(
        "--processes", type=int, choices=(1, 2), default=2, help="cores to use (%(default)s)"
    )
    run.add_argument("--quiet", action="store_true", help="no steps on stderr")
    run.set_defaults(handler=cmd_audit_pass)


def cmd_audit_pass(settings: Settings, args: argparse.Namespace) -> int:
    with opened(settings) as log:
        head = last_notification_id(log.app.recorder)
        if args.position is not None and not 0 <= args.position <= head:
            raise InvalidInput(f"--position is 0 to {head}, the end of the log", field="position")
        kept = log.store.latest() if args.position is None else None
        stop = args.position if args.position is not None else (kept.position if kept else head)
        assert stop is not None
        started = time.perf_counter()

        def trace(step: str) -> None:
            if not args.quiet:
                print(f"{time.perf_counter() - started:7.2f} s  {step}", file=sys.stderr)

        found = audit_pass(
            log.app.recorder, log.app.mapper, stop, processes=args.processes, trace=trace
        )
        seconds = time.perf_counter() - started
        if kept is None and found.size:
            try:
                kept = log.store.by_size(found.size)
            except CheckpointNotFound:
                kept = None
    print(json.dumps(summary(found, stop, seconds, kept), sort_keys=True))
    if kept is not None:
        confirm(found, kept)
        print(f"confirmed: the signed checkpoint of size {found.size}", file=sys.stderr)
    return 0


def summary(
    found: AuditResult, stop: int, seconds: float, kept: SignedCheckpoint | None
) -> dict[str, Any]:
    return {
        "position": stop,
        "log_size": found.size,
        "root": found.root.hex(),
        "balances_sha256": found.balances_sha256,
        "processes": found.processes,  # 1 for a log too short to be worth a second one
        "seconds": round(seconds, 3),
        "events_per_second": round(found.size / seconds) if seconds > 0 else None,
        "signed_checkpoint": kept.checkpoint.log_size if kept is not None else None,
    }


def confirm(found: AuditResult, kept: SignedCheckpoint) -> None:
    """Raise `CheckpointMismatch` naming the first field the log no longer gives."""
    signed = kept.checkpoint
    ours = {
        "log_size": found.size,
        "root": found.root.hex(),
        "balances_sha256": found.balances_sha256,
    }
    for field, value in ours.items():
        if getattr(signed, field) != value:
            raise CheckpointMismatch(
                f"the log up to position {kept.position} no longer gives the signed "
                f"checkpoint of size {signed.log_size}: its {field} differs",
                field=field,
                position=kept.position,
            )
