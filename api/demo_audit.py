"""The demo's last step: the auditors' view of the year just played.

The operator signs a checkpoint of the whole log (`projections.checkpointer`, kept in the
`checkpoints` table, as `tirelire serve` does on its own every N events), and the report
as of that position reconciles the journal with the aggregates and the bank
(`projections.report`). Both are signed with the checkpoint key: made beside the SQLite
file on the embedded default; on PostgreSQL without TIRELIRE_CHECKPOINT_KEY_FILE the step
is left out, as the internet fund is without its key.
"""

from __future__ import annotations

from datetime import datetime
from typing import TextIO

from api.bootstrap import Services
from api.tokens import load_or_create_checkpoint_key
from ledger.errors import InvalidSigningKey
from projections.checkpoint_store import CheckpointStore
from projections.checkpointer import Checkpointer
from projections.report import make_report


def run_audit(services: Services, now: datetime, out: TextIO) -> None:
    """Sign a checkpoint of the log at `now`, then print the report's reconciliation."""
    try:
        key = load_or_create_checkpoint_key(services.settings)
    except InvalidSigningKey as missing:
        print(f"\nAudit: left out ({missing.message})", file=out)
        return
    checkpointer = Checkpointer(
        services.ledger, CheckpointStore(services.engine), key, services.settings
    )
    signed = checkpointer.issue(now) or checkpointer.latest
    report = make_report(services.ledger, key, now)
    lines = report["reconciliation"]
    differing = [line for line in lines if not line["ok"]]
    print("\nAudit", file=out)
    if signed is not None:
        print(
            f"checkpoint signed: {signed.checkpoint.log_size} events, root "
            f"{signed.checkpoint.root[:16]}…, balances {signed.checkpoint.balances_sha256[:16]}…",
            file=out,
        )
    print(
        f"reconciliation at position {report['checkpoint']['position']}: {len(lines)} lines "
        f"(journal against aggregates and bank), {len(differing)} with a difference",
        file=out,
    )
    for line in differing:
        print(f"  {line['name']}: {line['difference_cents']} cents", file=out)
    print(
        "Auditors: `tirelire audit public-key`, `tirelire export`, `tirelire verify`, "
        "`tirelire report make --format html`, `tirelire rebuild`",
        file=out,
    )
