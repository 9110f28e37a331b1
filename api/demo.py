"""`tirelire demo`: one school year of EdTech credit, from opening to year-end expiry.

The demo is the system's main job in miniature, on the configured database: the operator
opens a campaign funded by the State and a region, grants credit to every teacher in bulk,
a commune tops up some of its teachers, teachers order resources (holds) that vendors
capture, release or later refund, some holds are left to expire, and at the year's end the
unspent credit returns to the funders. Then the balances projection catches up and the books
are printed: the trial balance is zero.

Simulated time is passed to every command, so the same seed gives the same books.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TextIO
from uuid import UUID, uuid4

from tqdm import tqdm

from api.bootstrap import Services
from api.render import print_balances
from ledger.batching import GroupCommitter
from ledger.commands import (
    AccountCommand,
    CaptureHold,
    HoldReceipt,
    PlaceHold,
    Refund,
    ReleaseHold,
    TopUp,
)
from ledger.credits import TopUpKind
from ledger.errors import DomainError, InvalidInput
from ledger.money import Money

MAX_DEMO_TEACHERS = 1_000_000
FACE_VALUE_CENTS = 7800  # the paper's figure: about 78 € per primary teacher
SCHOOL_YEAR_START = datetime(2027, 9, 1, tzinfo=UTC)
SCHOOL_YEAR_END = datetime(2028, 7, 6, tzinfo=UTC)
FUNDERS = (("etat", 80), ("region-demo", 20))
WAVE_SIZE = 2000


@dataclass(frozen=True)
class DemoPlan:
    teachers: int = 2000
    seed: int = 2027
    campaign_key: str | None = None
    show_progress: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.teachers <= MAX_DEMO_TEACHERS:
            raise InvalidInput(f"the demo runs with 1 to {MAX_DEMO_TEACHERS} teachers")


@dataclass
class DemoTally:
    holds: int = 0
    captures: int = 0
    releases: int = 0
    refunds: int = 0
    top_ups: int = 0
    refused: dict[str, int] | None = None

    def refuse(self, code: str) -> None:
        self.refused = self.refused or {}
        self.refused[code] = self.refused.get(code, 0) + 1


def run_demo(services: Services, plan: DemoPlan, out: TextIO) -> DemoTally:
    app, rng, tally = services.ledger, random.Random(plan.seed), DemoTally()
    key = plan.campaign_key or f"demo-{uuid4().hex[:10]}"
    teachers = [f"teacher-{n:07d}" for n in range(plan.teachers)]
    campaign_id = app.open_campaign(
        campaign_key=key,
        name="Compte EdTech 2027-2028 (démo)",
        face_value_cents=FACE_VALUE_CENTS,
        valid_from=SCHOOL_YEAR_START,
        valid_until=SCHOOL_YEAR_END,
        budget_cents=FACE_VALUE_CENTS * plan.teachers,
        funders=FUNDERS,
        by="operator",
        now=SCHOOL_YEAR_START - timedelta(days=30),
    )
    print(
        f"Campaign {key} ({campaign_id}): {plan.teachers} teachers × {Money(FACE_VALUE_CENTS)}",
        file=out,
    )
    with bar(plan.show_progress, len(teachers), "granting credit") as progress:
        report = app.grant_credits(
            campaign_id,
            teachers,
            grant_key=f"{key}-grant",
            by="operator",
            now=SCHOOL_YEAR_START,
            progress=progress,
        )
    print(f"Granted {report.granted} credits in {report.chunks} transactions", file=out)
    committer = GroupCommitter(app)
    try:
        simulate_year(committer, campaign_id, teachers, rng, tally, plan)
    finally:
        committer.close()
    print(
        f"Group commit: {committer.commands} commands in {committer.batches} transactions", file=out
    )
    year_end(services, campaign_id, plan, out)
    print_tally(tally, out)
    catch_up_and_print(services, plan, out)
    return tally


def simulate_year(
    committer: GroupCommitter,
    campaign_id: UUID,
    teachers: list[str],
    rng: random.Random,
    tally: DemoTally,
    plan: DemoPlan,
) -> None:
    day = SCHOOL_YEAR_START + timedelta(days=20)
    top_ups = [
        TopUp(
            campaign_id=campaign_id,
            teacher_id=t,
            key=f"topup-{t}",
            by="commune-demo",
            now=day,
            authority_id="commune-demo",
            kind=TopUpKind.COMMUNE,
            amount_cents=2000,
        )
        for t in teachers[::10]
    ]
    tally.top_ups = sum(1 for r in run_wave(committer, top_ups, plan, "top-ups", tally) if r)
    day += timedelta(days=30)
    orders = [
        PlaceHold(
            campaign_id=campaign_id,
            teacher_id=t,
            key=f"order-{t}-{n}",
            by=t,
            now=day,
            vendor_id=f"vendor-{rng.randrange(12):02d}",
            order_ref=f"cmd-{t}-{n}",
            amount_cents=rng.randrange(500, 6001, 10),
            ttl_s=3600,
        )
        for t in teachers
        if rng.random() < 0.6
        for n in range(rng.choice((1, 1, 2)))
    ]
    holds = run_wave(committer, orders, plan, "holds", tally)
    tally.holds = sum(1 for h in holds if h)
    resolutions, captured = resolve_holds(campaign_id, orders, holds, rng, day)
    results = run_wave(committer, resolutions, plan, "captures and releases", tally)
    tally.captures = sum(
        1 for c, r in zip(resolutions, results, strict=True) if r and type(c) is CaptureHold
    )
    tally.releases = sum(
        1 for c, r in zip(resolutions, results, strict=True) if r and type(c) is ReleaseHold
    )
    refunds = [
        Refund(
            campaign_id=campaign_id,
            teacher_id=c.teacher_id,
            key=f"refund-{c.key}",
            by=c.by,
            now=day + timedelta(days=5),
            hold_id=c.hold_id,
            amount_cents=c.amount_cents,
        )
        for c in captured
        if rng.random() < 0.05
    ]
    tally.refunds = sum(1 for r in run_wave(committer, refunds, plan, "refunds", tally) if r)
    # Two mistakes a real system sees: spending more than the credit, capturing twice.
    mistakes: list[AccountCommand] = [
        PlaceHold(
            campaign_id=campaign_id,
            teacher_id=teachers[0],
            key="too-much",
            by="x",
            now=day,
            vendor_id="vendor-00",
            order_ref="too-much",
            amount_cents=1_000_000,
            ttl_s=60,
        ),
        *captured[:1],
    ]
    run_wave(committer, [replace_key(m) for m in mistakes], plan, None, tally)


def resolve_holds(
    campaign_id: UUID,
    orders: list[PlaceHold],
    holds: list[object],
    rng: random.Random,
    day: datetime,
) -> tuple[list[AccountCommand], list[CaptureHold]]:
    """70 % captured (a fifth of them in part), 15 % released, 15 % left to expire."""
    commands: list[AccountCommand] = []
    captured: list[CaptureHold] = []
    later = day + timedelta(minutes=20)
    for order, receipt in zip(orders, holds, strict=True):
        if not isinstance(receipt, HoldReceipt):
            continue
        draw = rng.random()
        if draw < 0.70:
            amount = receipt.amount_cents * 4 // 5 if rng.random() < 0.2 else receipt.amount_cents
            capture = CaptureHold(
                campaign_id=campaign_id,
                teacher_id=order.teacher_id,
                key=f"capture-{order.key}",
                by=order.vendor_id,
                now=later,
                hold_id=receipt.hold_id,
                amount_cents=amount,
            )
            commands.append(capture)
            captured.append(capture)
        elif draw < 0.85:
            commands.append(
                ReleaseHold(
                    campaign_id=campaign_id,
                    teacher_id=order.teacher_id,
                    key=f"release-{order.key}",
                    by=order.vendor_id,
                    now=later,
                    hold_id=receipt.hold_id,
                )
            )
    return commands, captured


def replace_key(command: AccountCommand) -> AccountCommand:
    if isinstance(command, CaptureHold):
        return CaptureHold(
            campaign_id=command.campaign_id,
            teacher_id=command.teacher_id,
            key=f"again-{command.key}",
            by=command.by,
            now=command.now,
            hold_id=command.hold_id,
            amount_cents=command.amount_cents,
        )
    return command


def run_wave(
    committer: GroupCommitter,
    commands: list[AccountCommand],
    plan: DemoPlan,
    label: str | None,
    tally: DemoTally,
) -> list[object]:
    """Submit commands in waves; a refused command is counted by its code, not raised."""
    results: list[object] = []
    with bar(plan.show_progress and label is not None, len(commands), label or "") as progress:
        for start in range(0, len(commands), WAVE_SIZE):
            futures: list[Future] = [
                committer.submit(c) for c in commands[start : start + WAVE_SIZE]
            ]
            for future in futures:
                try:
                    results.append(future.result())
                except DomainError as error:
                    tally.refuse(error.code)
                    results.append(None)
            progress(len(futures))
    return results


def year_end(services: Services, campaign_id: UUID, plan: DemoPlan, out: TextIO) -> None:
    app = services.ledger
    accounts = app.get_campaign(campaign_id).teachers_granted
    with bar(plan.show_progress, accounts, "year-end expiry") as progress:
        returned = app.run_year_end_expiry(
            campaign_id, by="operator", now=SCHOOL_YEAR_END + timedelta(days=1), progress=progress
        )
    print(f"Year-end: {Money(returned)} of unspent credit returned to the funders", file=out)


def print_tally(tally: DemoTally, out: TextIO) -> None:
    print(
        f"Orders: {tally.holds} holds, {tally.captures} captured, {tally.releases} released, "
        f"{tally.refunds} refunded; {tally.top_ups} top-ups by a commune",
        file=out,
    )
    refused = ", ".join(f"{code} × {n}" for code, n in sorted((tally.refused or {}).items()))
    print(f"Refused, with nothing changed: {refused or 'none'}", file=out)


def catch_up_and_print(services: Services, plan: DemoPlan, out: TextIO) -> None:
    with bar(plan.show_progress, None, "balances projection") as progress:
        services.balances_runner.catch_up(progress)
    print("\nBalances by account kind (funders run negative: what they put in, net)", file=out)
    print_balances(services, out)


@contextmanager
def bar(show: bool, total: int | None, label: str) -> Iterator[Callable[[int], object]]:
    with tqdm(
        total=total,
        desc=label,
        unit="",
        disable=not show,
        leave=False,
        dynamic_ncols=True,
    ) as progress:
        yield progress.update
