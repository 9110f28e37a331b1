"""`tirelire report make | check`: the programme's report, signed, and its confirmation.

    tirelire report make [--position N | --at ISO] [--format json|csv|html] [--out FILE]
                         [--quiet]
    tirelire report check FILE --key operator.pub [--quiet]

`make` replays the log up to a position (the end of the log by default; `--at` a moment
with its offset: the last event before the first one stamped after it) into every read
model, computes the report (`projections.report`: the paper's indicators, devices by
stage, the fund in and out, spend and co-financing by territory, the bank, the
reconciliation), signs the checkpoint of the log at that position with the operator's
checkpoint key (`TIRELIRE_CHECKPOINT_KEY_FILE`) and writes it as JSON, CSV or a
self-contained HTML page (`api.report_render`) to FILE (never over an existing one) or
stdout. The clock is read once: the report's `generated_at` and its checkpoint's
`issued_at` are that moment.

`check` reads a report in any of the three formats (told apart by their content),
verifies its sha256, its checkpoint's signature with the operator's public key, the
checkpoint against the log at its position, and every figure computed again from the log
(`projections.report_check`). It prints `confirmed` and exits 0, or names the first field
that differs and exits 2, as every refusal of the command line does.

`report` takes its action first, `make` or `check`, so that generating options and a
file to check never share one command line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from api import tokens
from api.audit_cli import open_output, read_public_key
from api.bootstrap import check_schema
from api.common import parse_moment
from api.report_render import FORMATS, MAX_REPORT_BYTES, read_report, render
from ledger.errors import InvalidInput
from ledger.settings import Settings
from ledger.vouchers import VoucherLedger
from projections.report import head, make_report
from projections.report_check import check_report

# The checkpoint a report carries is found by the audit pass on both cores: a command
# line process may fork (the server computes it in one process).
AUDIT_PROCESSES = 2


def add_report_commands(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser("report", help="the programme's signed report, and its check")
    actions = report.add_subparsers(required=True, metavar="ACTION")
    make = actions.add_parser("make", help="compute and sign a report (JSON, CSV or HTML)")
    as_of = make.add_mutually_exclusive_group()
    as_of.add_argument("--position", type=int, help="as of this log position (inclusive)")
    as_of.add_argument("--at", help="as of this moment, e.g. 2028-03-01T12:00:00+00:00")
    make.add_argument("--format", choices=FORMATS, default="json")
    make.add_argument("--out", type=Path, help="the file to write (default: stdout)")
    make.add_argument("--quiet", action="store_true", help="no progress bar")
    make.set_defaults(handler=cmd_report_make)
    check = actions.add_parser("check", help="confirm a report against the log")
    check.add_argument("file", type=Path, metavar="FILE")
    check.add_argument("--key", required=True, type=Path, help="the operator's public key")
    check.add_argument("--quiet", action="store_true", help="no progress bar")
    check.set_defaults(handler=cmd_report_check)


def cmd_report_make(settings: Settings, args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    at = parse_moment(args.at, "at") if args.at is not None else None
    key = tokens.load_or_create_checkpoint_key(settings)
    check_schema(settings)
    app = VoucherLedger(settings)
    try:
        total = args.position if args.position is not None else head(app)
        with replay_bar(total, args.quiet) as progress:
            report = make_report(
                app, key, now, position=args.position, at=at, progress=progress,
                processes=AUDIT_PROCESSES,
            )  # fmt: skip
        with open_output(args.out) as out:
            out.write(render(report, args.format))
    finally:
        app.close()
    position = report["as_of"]["position"]
    print(f"Report as of position {position}: sha256 {report['sha256']}.", file=sys.stderr)
    return 0


def cmd_report_check(settings: Settings, args: argparse.Namespace) -> int:
    operator = read_public_key(args.key)
    fmt, report = read_report(read_file(args.file))
    check_schema(settings)
    app = VoucherLedger(settings)
    try:
        stated = report["checkpoint"].get("position")
        total = stated if type(stated) is int and 0 <= stated <= head(app) else head(app)
        with replay_bar(total, args.quiet) as progress:
            position = check_report(app, report, operator, progress, AUDIT_PROCESSES)
    finally:
        app.close()
    print(
        f"confirmed: the {fmt.upper()} report as of position {position} "
        f"(sha256 {report['sha256']}) is what the log gives."
    )
    return 0


@contextmanager
def replay_bar(total: int, quiet: bool) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for a replay up to `total`, told each page's last position."""
    with tqdm(
        total=total, unit="id", desc="replaying the log", file=sys.stderr, disable=quiet
    ) as bar:

        def progress(position: int) -> None:
            bar.update(position - bar.n)

        yield progress


def read_file(path: Path) -> bytes:
    try:
        with path.open("rb") as file:
            return file.read(MAX_REPORT_BYTES + 1)
    except OSError as error:
        raise InvalidInput(f"cannot read {path}: {error.strerror}") from None
