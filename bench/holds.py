"""Holds and captures under concurrent clients: group commit against one save per command.

    .venv/bin/python bench/holds.py                          # both stores, defaults below
    .venv/bin/python bench/holds.py --store postgresql --threads 64 --pairs 150
    .venv/bin/python bench/holds.py --profile bench/profiles/group.pstats

Per store, in a scratch store of its own (see bench/_common.py):
1. two campaigns are opened and each grants credit to M accounts (`grant_credits`), one for
   each path, so neither path reads the other's events;
2. ours: K client threads (default 64) each loop `pairs` times over their own accounts:
   place a hold (100 cents), then capture part of it (60 cents; 40 return to available),
   each command through `GroupCommitter.execute` (submit, wait for the batch's commit). The
   writer's cache is warmed first with one no-op `ExpireHolds` per account (not measured);
3. baseline: the same K client threads and the same loop, each command through
   `VoucherLedger.execute` (load the account, apply, one save per command);
4. afterwards every account is read back from the store and the captured and held totals
   are checked against what the clients were told.

Printed per path: commands/s, p50/p99 latency per command (client side, submit to answer);
for ours also the mean batch size (commands / batches) and how busy the writer thread was.
Target: ours >= 5x the baseline, on each store.
"""

from __future__ import annotations

import argparse
import cProfile
import sys
import time
from pathlib import Path
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _clients import (
    CAPTURE_CENTS,
    DURING,
    END,
    START,
    Run,
    TimedCommitter,
    run_clients,
)
from _common import (
    DEFAULT_PG_URL,
    exit_cleanly_on_sigterm,
    fmt_int,
    machine_load,
    report_profile,
    scratch_store,
    stores_from_arg,
    table,
)

from ledger.commands import ExpireHolds
from ledger.settings import Settings
from ledger.vouchers import VoucherLedger

TARGET_RATIO = 5.0

FACE_VALUE_CENTS = 7800
FUNDERS = (("etat", 7), ("region-idf", 3))


def open_and_grant(app: VoucherLedger, key: str, teachers: list[str]) -> UUID:
    campaign_id = app.open_campaign(
        campaign_key=key,
        name=f"Bench {key}",
        face_value_cents=FACE_VALUE_CENTS,
        valid_from=START,
        valid_until=END,
        budget_cents=FACE_VALUE_CENTS * len(teachers),
        funders=FUNDERS,
        by="operator",
        now=START,
    )
    report = app.grant_credits(
        campaign_id, teachers, grant_key=f"{key}-grant", by="operator", now=START
    )
    if report.granted != len(teachers):
        raise SystemExit(f"grant for {key} reported {report}")
    return campaign_id


def check_totals(
    app: VoucherLedger, campaign_id: UUID, teachers: list[str], pairs: int, threads: int
) -> None:
    """Read every account back from the store: captured and held must match the clients."""
    captured = held = 0
    for teacher in teachers:
        view = app.account_view(campaign_id, teacher)
        captured += view.captured_cents
        held += view.held_cents
    expected = threads * pairs * CAPTURE_CENTS
    if captured != expected or held != 0:
        raise SystemExit(
            f"store holds captured={captured} held={held}; expected captured={expected} held=0"
        )


def bench_store(store: str, args: argparse.Namespace) -> tuple[Run, Run, Run | None]:
    with scratch_store(store, args.pg_url) as scratch:
        app = VoucherLedger(Settings(database_url=scratch.url))
        try:
            group_teachers = [f"g-{i:06d}" for i in range(args.accounts)]
            naive_teachers = [f"n-{i:06d}" for i in range(args.accounts)]
            serial_teachers = [f"s-{i:06d}" for i in range(args.accounts)]
            group_campaign = open_and_grant(app, "bench-holds-group", group_teachers)
            naive_campaign = open_and_grant(app, "bench-holds-naive", naive_teachers)
            serial_campaign = (
                open_and_grant(app, "bench-holds-serial", serial_teachers)
                if args.serial_pairs
                else None
            )

            # Ours: group commit.
            profile = cProfile.Profile() if args.profile else None
            committer = TimedCommitter(app, profile)
            try:
                warm_started = time.perf_counter()
                futures = [
                    committer.submit(
                        ExpireHolds(
                            campaign_id=group_campaign, teacher_id=t, by="bench", now=DURING
                        )
                    )
                    for t in group_teachers
                ]
                for future in futures:
                    future.result()
                warm_s = time.perf_counter() - warm_started
                print(
                    f"[{store}] writer cache warmed with {fmt_int(len(group_teachers))} "
                    f"accounts in {warm_s:.2f} s (not measured)",
                    file=sys.stderr,
                )
                batches0, commands0, busy0 = (
                    committer.batches,
                    committer.commands,
                    committer.busy_s,
                )
                committer.profiling = True
                seconds, lat = run_clients(
                    committer.execute,
                    group_campaign,
                    group_teachers,
                    args.threads,
                    args.pairs,
                    "g",
                    f"[{store}] ours: GroupCommitter",
                )
                committer.profiling = False
                ours = Run(
                    store,
                    "ours: GroupCommitter",
                    args.threads * args.pairs * 2,
                    seconds,
                    lat,
                    committer.batches - batches0,
                    committer.commands - commands0,
                    committer.busy_s - busy0,
                )
            finally:
                committer.close()
            if profile:
                path = args.profile.with_name(f"{args.profile.stem}-{store}{args.profile.suffix}")
                print(
                    report_profile(
                        profile, path, f"GroupCommitter writer thread (_commit), {store}"
                    )
                )

            # Baseline: one save per command.
            seconds, lat = run_clients(
                app.execute,
                naive_campaign,
                naive_teachers,
                args.threads,
                args.baseline_pairs,
                "n",
                f"[{store}] baseline: execute per command",
            )
            naive = Run(
                store,
                f"baseline: execute, {args.threads} threads",
                args.threads * args.baseline_pairs * 2,
                seconds,
                lat,
            )

            # Reference: the same naive path from one thread, a plain loop.
            serial = None
            if serial_campaign is not None:
                seconds, lat = run_clients(
                    app.execute,
                    serial_campaign,
                    serial_teachers,
                    1,
                    args.serial_pairs,
                    "s",
                    f"[{store}] reference: execute, 1 thread",
                )
                serial = Run(
                    store, "reference: execute, 1 thread", args.serial_pairs * 2, seconds, lat
                )

            check_totals(app, group_campaign, group_teachers, args.pairs, args.threads)
            check_totals(app, naive_campaign, naive_teachers, args.baseline_pairs, args.threads)
            if serial_campaign is not None:
                check_totals(app, serial_campaign, serial_teachers, args.serial_pairs, 1)
        finally:
            app.close()
    print_store(ours, naive, serial, args)
    return ours, naive, serial


def verdict(ours: Run, naive: Run) -> str:
    ratio = ours.rate / naive.rate
    met = "MET" if ratio >= TARGET_RATIO else "NOT MET"
    return f"target >= {TARGET_RATIO:.0f}x: {ratio:.2f}x -> {met}"


def print_store(ours: Run, naive: Run, serial: Run | None, args: argparse.Namespace) -> None:
    note = " (profiled: figures slowed by cProfile)" if args.profile else ""
    print(
        f"\n== {ours.store}: {args.threads} client threads, {fmt_int(args.accounts)} accounts "
        f"per path, place hold + capture{note} =="
    )
    print(
        f"ours     GroupCommitter : {fmt_int(ours.commands)} commands in {ours.seconds:.2f} s"
        f" = {fmt_int(ours.rate)} commands/s; p50 {ours.p(50):.2f} ms, p99 {ours.p(99):.2f} ms;"
        f" mean batch {ours.mean_batch:.1f} commands ({fmt_int(ours.batches)} batches);"
        f" writer busy {100 * ours.writer_busy_s / ours.seconds:.0f}%"
    )
    print(
        f"baseline execute, {args.threads} threads: {fmt_int(naive.commands)} commands in "
        f"{naive.seconds:.2f} s = {fmt_int(naive.rate)} commands/s; p50 {naive.p(50):.2f} ms, "
        f"p99 {naive.p(99):.2f} ms"
    )
    if serial is not None:
        print(
            f"reference execute, 1 thread: {fmt_int(serial.commands)} commands in "
            f"{serial.seconds:.2f} s = {fmt_int(serial.rate)} commands/s; "
            f"p50 {serial.p(50):.2f} ms, p99 {serial.p(99):.2f} ms "
            f"(ours is {ours.rate / serial.rate:.2f}x this)"
        )
    print(f"ratio ours/baseline: {ours.rate / naive.rate:.2f}x   {verdict(ours, naive)}")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--accounts", type=int, default=2000, help="accounts granted per path")
    parser.add_argument("--threads", type=int, default=64, help="concurrent client threads")
    parser.add_argument(
        "--pairs",
        type=int,
        default=150,
        help="hold+capture pairs per client thread, group commit path",
    )
    parser.add_argument(
        "--baseline-pairs",
        type=int,
        default=40,
        help="hold+capture pairs per client thread, baseline path",
    )
    parser.add_argument(
        "--serial-pairs",
        type=int,
        default=1000,
        help="hold+capture pairs of the one-thread reference loop (0: skip)",
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
        help="cProfile the writer thread's commits; save .pstats here",
    )
    args = parser.parse_args(argv)
    if args.accounts < args.threads:
        parser.error("give each client thread at least one account (--accounts >= --threads)")
    per_account = -(-max(args.pairs, args.baseline_pairs) * args.threads // args.accounts)
    if per_account * CAPTURE_CENTS > FACE_VALUE_CENTS:
        parser.error("too many pairs per account for the face value: add accounts")

    exit_cleanly_on_sigterm()
    print(
        f"holds: {args.threads} client threads, {fmt_int(args.accounts)} accounts per path; "
        f"{machine_load()}"
    )
    results = [bench_store(store, args) for store in stores_from_arg(args.store)]
    print(f"\nafter the run: {machine_load()}")

    rows = []
    for ours, naive, serial in results:
        for run in (ours, naive, serial):
            if run is None:
                continue
            rows.append(
                [
                    run.store,
                    run.path,
                    fmt_int(run.commands),
                    f"{run.seconds:.2f}",
                    fmt_int(run.rate),
                    f"{run.p(50):.2f}",
                    f"{run.p(99):.2f}",
                    f"{run.mean_batch:.1f}" if run.batches else "1",
                    f"{run.rate / naive.rate:.2f}x",
                ]
            )
    print("\nSummary (latency per command, client side)")
    print(
        table(
            [
                "store",
                "path",
                "commands",
                "seconds",
                "cmd/s",
                "p50 ms",
                "p99 ms",
                "mean batch",
                "vs baseline",
            ],
            rows,
        )
    )
    for ours, naive, _ in results:
        print(f"{ours.store}: {verdict(ours, naive)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
