"""The load of concurrent clients for `holds.py`: threads that each run their own share of
the commands, a committer that times its writer, and what one run measured."""

from __future__ import annotations

import cProfile
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from _common import (
    StallWatchdog,
    percentile,
)
from tqdm import tqdm

from ledger.batching import GroupCommitter
from ledger.commands import AccountCommand, CaptureHold, PlaceHold
from ledger.vouchers import VoucherLedger

STALL_S = 60.0  # no command answered for this long: abort (exit 3), see StallWatchdog
START = datetime(2027, 9, 1, tzinfo=UTC)
END = START + timedelta(days=300)
DURING = START + timedelta(days=10)
HOLD_CENTS = 100
CAPTURE_CENTS = 60


class TimedCommitter(GroupCommitter):
    """The group committer, timing (and, if asked, profiling) each batch's commit.

    Only `_commit` is wrapped, in the writer thread, so the figures cover applying the batch,
    saving it and answering the callers; time waiting for work is excluded.
    """

    def __init__(self, app: VoucherLedger, profile: cProfile.Profile | None = None) -> None:
        self.busy_s = 0.0
        self.profile = profile
        self.profiling = False
        super().__init__(app)

    def _commit(self, batch):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        profile = self.profile if self.profiling else None
        if profile:
            profile.enable()
        try:
            super()._commit(batch)
        finally:
            if profile:
                profile.disable()
            self.busy_s += time.perf_counter() - started


@dataclass
class Run:
    store: str
    path: str
    commands: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    batches: int = 0
    batched_commands: int = 0
    writer_busy_s: float = 0.0

    @property
    def rate(self) -> float:
        return self.commands / self.seconds

    def p(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000

    @property
    def mean_batch(self) -> float:
        return self.batched_commands / self.batches if self.batches else float("nan")


def run_clients(
    execute: Callable[[AccountCommand], object],
    campaign_id: UUID,
    teachers: list[str],
    threads: int,
    pairs: int,
    tag: str,
    desc: str,
) -> tuple[float, list[float]]:
    """K threads, each `pairs` times: place a hold, capture part of it. Bounded, then stops."""
    mine = [teachers[i::threads] for i in range(threads)]
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads + 1)
    bar = tqdm(
        total=threads * pairs * 2,
        desc=desc,
        unit="cmd",
        unit_scale=True,
        mininterval=0.5,
        file=sys.stderr,
    )
    bar_lock = threading.Lock()
    dog = StallWatchdog(STALL_S, desc)

    def client(i: int) -> None:
        lat = latencies[i]
        accounts = mine[i]
        barrier.wait()
        try:
            for r in range(pairs):
                teacher = accounts[r % len(accounts)]
                place = PlaceHold(
                    campaign_id=campaign_id,
                    teacher_id=teacher,
                    key=f"{tag}-h-{i}-{r}",
                    by=teacher,
                    now=DURING,
                    vendor_id="vendor-1",
                    order_ref=f"o-{i}-{r}",
                    amount_cents=HOLD_CENTS,
                    ttl_s=1800,
                )
                t0 = time.perf_counter()
                hold = execute(place)
                t1 = time.perf_counter()
                capture = CaptureHold(
                    campaign_id=campaign_id,
                    teacher_id=teacher,
                    key=f"{tag}-c-{i}-{r}",
                    by="vendor-1",
                    now=DURING,
                    hold_id=hold.hold_id,  # type: ignore[attr-defined]
                    amount_cents=CAPTURE_CENTS,
                )
                t2 = time.perf_counter()
                execute(capture)
                t3 = time.perf_counter()
                lat.append(t1 - t0)
                lat.append(t3 - t2)
                dog.kick()
                if r % 10 == 9:
                    with bar_lock:
                        bar.update(20)
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    workers = [
        threading.Thread(target=client, args=(i,), name=f"client-{i}") for i in range(threads)
    ]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - started
    dog.stop()
    bar.n = threads * pairs * 2
    bar.close()
    if errors:
        raise SystemExit(f"{len(errors)} client(s) failed; first: {errors[0]!r}")
    return seconds, sorted(x for lat in latencies for x in lat)
