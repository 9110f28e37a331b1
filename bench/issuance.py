"""Bulk issuance: grant credit to N teachers, against two baselines, on each store.

    .venv/bin/python bench/issuance.py                       # 800,000 teachers, both stores
    .venv/bin/python bench/issuance.py --teachers 50000 --store sqlite
    .venv/bin/python bench/issuance.py --profile bench/profiles/grant.pstats

Per store, in one scratch store each (see bench/_common.py):
(a) ours: `VoucherLedger.grant_credits` for N teachers, chunks of one transaction each
    (the campaign's `CreditsGranted` and the chunk's new accounts), with a progress bar fed
    by the `progress` callback;
(b) baseline 1: the eventsourcing library used plainly: an `Application` with default
    settings (JSON transcoder, `save()` with its checks) and a plain `Aggregate` subclass
    carrying the same fields as `CreditAccount.Granted`, saved 100 aggregates per
    `app.save(...)`, in a store of its own where the library creates its table;
(c) baseline 2: naive, one transaction per teacher: our own `CreditAccount` built with
    `grant_account` and saved with `app.record(account)`, on a sample, rate extrapolated.

Target: 800,000 credits in at most 40 s on PostgreSQL (>= 20,000 teachers/s).
"""

from __future__ import annotations

import argparse
import cProfile
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    DEFAULT_PG_URL,
    StallWatchdog,
    count_events,
    exit_cleanly_on_sigterm,
    fmt_int,
    machine_load,
    report_profile,
    scratch_store,
    stores_from_arg,
    table,
)

from ledger.grants import grant_account
from ledger.settings import Settings
from ledger.vouchers import VoucherLedger

TARGET_TEACHERS = 800_000
TARGET_SECONDS = 40.0
TARGET_RATE = TARGET_TEACHERS / TARGET_SECONDS  # 20,000 teachers/s
PG_HANG_CHUNK = 17_000  # above this many events per transaction, psycopg's pipeline hangs
STALL_S = 120.0  # a phase with no progress for this long is aborted (see StallWatchdog)

START = datetime(2027, 9, 1, tzinfo=UTC)
END = START + timedelta(days=300)
FACE_VALUE_CENTS = 7800
FUNDERS = (("etat", 7), ("region-idf", 3))
OPERATOR = "operator"


@dataclass
class Figure:
    store: str
    path: str
    count: int  # teachers (or aggregates) written
    events: int  # events written
    seconds: float
    extrapolated_seconds: float | None = None  # for N teachers, from a sample

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    @property
    def event_rate(self) -> float:
        return self.events / self.seconds


def teacher_ids(prefix: str, n: int) -> list[str]:
    return [f"{prefix}-{i:07d}" for i in range(n)]


def open_campaign(app: VoucherLedger, key: str, teachers: int) -> UUID:
    return app.open_campaign(
        campaign_key=key,
        name=f"Bench {key}",
        face_value_cents=FACE_VALUE_CENTS,
        valid_from=START,
        valid_until=END,
        budget_cents=FACE_VALUE_CENTS * max(teachers, 1),
        funders=FUNDERS,
        by=OPERATOR,
        now=START,
    )


# (a) ours ----------------------------------------------------------------------------------


def run_ours(
    store: str, url: str, n: int, chunk_size: int, profile: cProfile.Profile | None
) -> Figure:
    app = VoucherLedger(Settings(database_url=url, grant_chunk_size=chunk_size))
    try:
        campaign_id = open_campaign(app, "bench-issuance", n)
        teachers = teacher_ids("teacher", n)
        bar = tqdm(
            total=n,
            desc=f"[{store}] ours: grant_credits",
            unit="teacher",
            unit_scale=True,
            smoothing=0.05,
            mininterval=0.5,
            file=sys.stderr,
        )
        with StallWatchdog(STALL_S, f"[{store}] grant_credits") as dog:

            def progress(granted: int) -> None:
                bar.update(granted)
                dog.kick()

            if profile:
                profile.enable()
            started = time.perf_counter()
            report = app.grant_credits(
                campaign_id,
                teachers,
                grant_key="bench-grant",
                by=OPERATOR,
                now=START,
                progress=progress,
            )
            seconds = time.perf_counter() - started
            if profile:
                profile.disable()
        bar.close()
        if report.granted != n or report.already_granted != 0:
            raise SystemExit(f"grant reported {report}, expected {n} granted")
        campaign = app.get_campaign(campaign_id)
        if campaign.teachers_granted != n:
            raise SystemExit(f"campaign counts {campaign.teachers_granted} teachers, not {n}")
        return Figure(store, "ours: grant_credits", n, n + report.chunks, seconds)
    finally:
        app.close()


# (b) baseline 1: the library used plainly ---------------------------------------------------


class PlainAccount(Aggregate):
    """A plain library aggregate with the same fields as `CreditAccount.Granted`."""

    def __init__(
        self,
        campaign_id: UUID,
        teacher_id: str,
        amount_cents: int,
        funding: tuple[tuple[str, int], ...],
        valid_from: datetime,
        valid_until: datetime,
        grant_key: str,
        granted_by: str,
        granted_at: datetime,
    ) -> None:
        self.campaign_id = campaign_id
        self.teacher_id = teacher_id
        self.amount_cents = amount_cents
        self.funding = funding
        self.valid_from = valid_from
        self.valid_until = valid_until
        self.grant_key = grant_key
        self.granted_by = granted_by
        self.granted_at = granted_at


class PlainGrants(Application):
    """The library's defaults: JSON transcoder, `save()`, its own table (plaingrants_events)."""


def run_library_baseline(store: str, pg_url: str, n: int, batch: int = 100) -> Figure:
    with scratch_store(store, pg_url, suffix="_plain", migrate=False) as scratch:
        app = PlainGrants(env=scratch.library_env())
        try:
            campaign_id = UUID(int=1)
            funding = (("etat", 5460), ("region-idf", 2340))
            teachers = teacher_ids("plain", n)
            bar = tqdm(
                total=n,
                desc=f"[{store}] baseline 1: library save(*{batch})",
                unit="event",
                unit_scale=True,
                mininterval=0.5,
                file=sys.stderr,
            )
            with StallWatchdog(STALL_S, f"[{store}] library baseline") as dog:
                started = time.perf_counter()
                for i in range(0, n, batch):
                    aggregates = [
                        PlainAccount(
                            campaign_id,
                            t,
                            FACE_VALUE_CENTS,
                            funding,
                            START,
                            END,
                            "plain#0",
                            OPERATOR,
                            START,
                        )
                        for t in teachers[i : i + batch]
                    ]
                    app.save(*aggregates)
                    bar.update(len(aggregates))
                    dog.kick()
                seconds = time.perf_counter() - started
            bar.close()
        finally:
            app.close()
        written = count_events(
            scratch, "plaingrants_events" if store == "postgresql" else "stored_events"
        )
        if written != n:
            raise SystemExit(f"library baseline wrote {written} events, expected {n}")
        return Figure(store, f"baseline 1: library save(*{batch})", n, n, seconds)


# (c) baseline 2: one transaction per teacher ------------------------------------------------


def run_naive_baseline(store: str, url: str, sample: int, n: int) -> Figure:
    app = VoucherLedger(Settings(database_url=url))
    try:
        campaign_id = open_campaign(app, "bench-naive", sample)
        campaign = app.get_campaign(campaign_id)
        teachers = teacher_ids("naive", sample)
        bar = tqdm(
            total=sample,
            desc=f"[{store}] baseline 2: one save per teacher",
            unit="teacher",
            unit_scale=True,
            mininterval=0.5,
            file=sys.stderr,
        )
        with StallWatchdog(STALL_S, f"[{store}] naive baseline") as dog:
            started = time.perf_counter()
            for teacher in teachers:
                app.record(grant_account(campaign, teacher, "naive#0", OPERATOR, START))
                bar.update(1)
                dog.kick()
            seconds = time.perf_counter() - started
        bar.close()
        figure = Figure(store, "baseline 2: one save per teacher", sample, sample, seconds)
        figure.extrapolated_seconds = n / figure.rate
        return figure
    finally:
        app.close()


# Reporting ---------------------------------------------------------------------------------


def target_note(store: str, ours: Figure, n: int) -> str:
    if store != "postgresql":
        return "(target is for PostgreSQL)"
    projected = TARGET_TEACHERS / ours.rate
    if n >= TARGET_TEACHERS:
        seconds = ours.seconds * TARGET_TEACHERS / n
        verdict = "MET" if seconds <= TARGET_SECONDS else "NOT MET"
        return f"target 800,000 in <= 40 s: {seconds:.1f} s measured -> {verdict}"
    verdict = "on track" if projected <= TARGET_SECONDS else "NOT on track"
    return (
        f"target 800,000 in <= 40 s: {projected:.1f} s extrapolated from {fmt_int(n)} "
        f"-> {verdict} (run --teachers 800000 to check)"
    )


def print_store(store: str, ours: Figure, lib: Figure, naive: Figure, n: int) -> None:
    print(f"\n== {store} ==")
    print(
        f"(a) ours      grant_credits: {fmt_int(ours.count)} teachers in {ours.seconds:.2f} s"
        f" = {fmt_int(ours.rate)} teachers/s ({fmt_int(ours.event_rate)} events/s)   "
        f"{target_note(store, ours, n)}"
    )
    print(
        f"(b) baseline 1 library save(*100): {fmt_int(lib.count)} events in "
        f"{lib.seconds:.2f} s = {fmt_int(lib.rate)} events/s   "
        f"-> ours is {ours.rate / lib.rate:.2f}x"
    )
    print(
        f"(c) baseline 2 one save/teacher: {fmt_int(naive.count)} teachers in "
        f"{naive.seconds:.2f} s = {fmt_int(naive.rate)} teachers/s; "
        f"{fmt_int(n)} would take {naive.extrapolated_seconds:.0f} s   "
        f"-> ours is {ours.rate / naive.rate:.1f}x"
    )
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    global STALL_S
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--teachers",
        type=int,
        default=TARGET_TEACHERS,
        help="teachers granted by our path (default 800,000)",
    )
    parser.add_argument("--store", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--chunk-size",
        type=int,
        default=Settings().grant_chunk_size,
        help="teachers per grant transaction (Settings.grant_chunk_size)",
    )
    parser.add_argument(
        "--baseline-events",
        type=int,
        default=100_000,
        help="events saved by baseline 1 (default min(100,000, teachers))",
    )
    parser.add_argument(
        "--naive-sample",
        type=int,
        default=5_000,
        help="teachers saved one by one by baseline 2 (default 5,000)",
    )
    parser.add_argument(
        "--pg-url",
        default=DEFAULT_PG_URL,
        help="server and user for scratch databases (the db name is ignored)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="cProfile our grant path; save .pstats here (one per store)",
    )
    parser.add_argument(
        "--stall-timeout",
        type=float,
        default=STALL_S,
        help="abort (exit 3) when a phase makes no progress for this long",
    )
    parser.add_argument(
        "--skip-baselines", action="store_true", help="measure only our path (e.g. while profiling)"
    )
    args = parser.parse_args(argv)
    n = args.teachers
    if n < 1:
        parser.error("--teachers must be at least 1")
    exit_cleanly_on_sigterm()
    STALL_S = args.stall_timeout
    if args.chunk_size > PG_HANG_CHUNK and args.store != "sqlite":
        print(
            f"warning: chunks above ~{PG_HANG_CHUNK:,} teachers hang in psycopg's pipeline "
            f"mode on PostgreSQL; the watchdog aborts after {STALL_S:.0f} s without progress",
            file=sys.stderr,
        )
    print(
        f"issuance: {fmt_int(n)} teachers, chunks of {fmt_int(args.chunk_size)}; {machine_load()}"
    )

    figures: list[tuple[str, Figure, Figure | None, Figure | None]] = []
    for store in stores_from_arg(args.store):
        with scratch_store(store, args.pg_url) as scratch:
            profile = cProfile.Profile() if args.profile else None
            ours = run_ours(store, scratch.url, n, args.chunk_size, profile)
            if profile:
                path = args.profile.with_name(f"{args.profile.stem}-{store}{args.profile.suffix}")
                print(report_profile(profile, path, f"grant_credits, {store}, {n} teachers"))
            lib = naive = None
            if not args.skip_baselines:
                lib = run_library_baseline(store, args.pg_url, min(args.baseline_events, n))
                naive = run_naive_baseline(store, scratch.url, min(args.naive_sample, n), n)
                print_store(store, ours, lib, naive, n)
            else:
                print(
                    f"\n== {store} ==\n(a) ours: {fmt_int(ours.count)} teachers in "
                    f"{ours.seconds:.2f} s = {fmt_int(ours.rate)} teachers/s   "
                    f"{target_note(store, ours, n)}"
                )
            figures.append((store, ours, lib, naive))

    rows = []
    for store, ours, lib, naive in figures:
        rows.append(
            [
                store,
                ours.path,
                fmt_int(ours.count),
                f"{ours.seconds:.2f}",
                fmt_int(ours.rate),
                "1.00x",
                target_note(store, ours, n),
            ]
        )
        for base in (lib, naive):
            if base is None:
                continue
            note = (
                f"{fmt_int(n)} would take {base.extrapolated_seconds:.0f} s"
                if base.extrapolated_seconds
                else "events/s, same payload"
            )
            rows.append(
                [
                    store,
                    base.path,
                    fmt_int(base.count),
                    f"{base.seconds:.2f}",
                    fmt_int(base.rate),
                    f"{ours.rate / base.rate:.2f}x",
                    note,
                ]
            )
    print(f"\nafter the run: {machine_load()}")
    print(
        "\nSummary (rate: teachers/s for ours and baseline 2, events/s for baseline 1;"
        " ours/baseline in the 'ours is' column)"
    )
    print(table(["store", "path", "count", "seconds", "rate/s", "ours is", "note"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
