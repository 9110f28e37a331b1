"""`tirelire demo`: one school year of EdTech credit, from opening to year-end expiry.

The demo is the system's main job in miniature, on the configured database. Vendors are
admitted and list resources that a committee labels (`api.demo_chain`); the operator opens a
campaign funded by the State and a region whose credit buys labelled resources only, with a
cap on training, and grants credit to every teacher in bulk; a commune tops up some of its
teachers. Three times in the year teachers redeem catalogue resources (holds, through the
group committer) that vendors capture, release or later refund, and some holds are left to
expire; one vendor is suspended for the winter and its orders are refused meanwhile. At the
end of the winter and again in spring, vendors claim their redemptions and are paid by a
SEPA batch reconciled with the bank's statement; a refund after payment raises a debit note
that the next batch deducts. At the year's end the unspent credit returns to the funders.
Then a donation drive takes donated computers to pupils (`api.demo_devices`), the internet
fund pays some of their households' connections (`api.demo_fund`), and the read models
catch up and the books are printed: the trial balance is zero.

Simulated time is passed to every command, so the same seed gives the same books.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import TextIO
from uuid import UUID, uuid4

from tqdm import tqdm

from api.bootstrap import Services
from api.demo_audit import run_audit
from api.demo_chain import Chain, Sale, open_market
from api.demo_devices import print_drive, print_pipeline, run_drive
from api.demo_fund import print_fund, run_fund
from api.render import print_balances, print_indicators, print_vendor_statements
from ledger.batching import GroupCommitter
from ledger.commands import AccountCommand, CaptureHold, HoldReceipt, Refund, ReleaseHold, TopUp
from ledger.credits import TopUpKind
from ledger.eligibility import EligibilityRule, Label, ResourceKind
from ledger.errors import DomainError, InvalidInput
from ledger.money import Money
from ledger.redemptions import Redemptions

MAX_DEMO_TEACHERS = 1_000_000
FACE_VALUE_CENTS = 7800  # the paper's figure: about 78 € per primary teacher
SCHOOL_YEAR_START = datetime(2027, 9, 1, tzinfo=UTC)
# Where the teachers' schools are: (commune, département, région), teacher n in the n % 4th.
SCHOOL_TOWNS = (("75056", "75", "11"), ("69123", "69", "84"), ("13055", "13", "93"))
SCHOOL_TOWNS += (("97411", "974", "04"),)  # Saint-Denis, La Réunion
SCHOOL_YEAR_END = datetime(2028, 7, 6, tzinfo=UTC)
FUNDERS = (("etat", 80), ("region-demo", 20))
WAVE_SIZE = 2000
REDEEM_WORKERS = 8  # clients redeeming at once: the group committer batches their holds
HOLD_TTL_S = 3600
ORDER_SHARE = 0.45  # of the teachers, in each wave of orders
REFUND_SHARE = 0.05  # of the captures, refunded a few days later
TRAINING_CAP_CENTS = 4000
RULE = EligibilityRule.labelled(
    [Label.RECONNU_INTERET_PEDAGOGIQUE], {ResourceKind.TRAINING: TRAINING_CAP_CENTS}
)
DAY = timedelta(days=1)
# The donation drive's size: a computer donated for every hundred teachers, per territory.
TEACHERS_PER_DEVICE = 100
MIN_DEVICES_PER_TERRITORY = 4
TURN = timedelta(minutes=10)  # between a teacher's two orders; each is captured 20 min later
# The calendar of the simulated year.
MARKET_OPENS = datetime(2027, 6, 1, 9, tzinfo=UTC)
ORDER_DAYS = tuple(datetime(*day, 9, tzinfo=UTC) for day in ((2027, 10, 12), (2028, 1, 18)))
SPRING_ORDERS = datetime(2028, 4, 11, 9, tzinfo=UTC)
AUDIT_AT = datetime(2028, 10, 15, 9, tzinfo=UTC)  # after the drive and the fund's year
SUSPENDED_VENDOR = 3  # suspended for the winter, so its January orders are refused
SUSPENDED = (datetime(2027, 12, 1, 9, tzinfo=UTC), datetime(2028, 2, 1, 9, tzinfo=UTC))
WINTER_CLAIMS = datetime(2028, 2, 2, 9, tzinfo=UTC)
SPRING_CLAIMS = datetime(2028, 5, 2, 9, tzinfo=UTC)
STATEMENT_PERIOD = (date(2027, 9, 1), date(2028, 8, 31))


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

    def refuse(self, error: DomainError) -> None:
        reason = error.details.get("reason")
        code = f"{error.code} ({reason})" if reason else error.code
        self.refused = self.refused or {}
        self.refused[code] = self.refused.get(code, 0) + 1


@dataclass(frozen=True)
class Order:
    teacher_id: str
    key: str
    resource_id: UUID
    vendor_id: str
    now: datetime
    turn: int  # a teacher's first or second order of the wave


def run_demo(services: Services, plan: DemoPlan, out: TextIO) -> DemoTally:
    app, tally = services.ledger, DemoTally()
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
    market = open_market(services, MARKET_OPENS, out)
    app.set_eligibility(campaign_id, RULE, by="operator", now=SCHOOL_YEAR_START - 5 * DAY)
    print(
        f"Eligibility: resources labelled « {Label.RECONNU_INTERET_PEDAGOGIQUE.display_name} » "
        f"only; training at most {Money(TRAINING_CAP_CENTS)} per teacher",
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
            territories={t: territories_of(n) for n, t in enumerate(teachers)},
        )
    print(f"Granted {report.granted} credits in {report.chunks} transactions", file=out)
    chain = Chain(services, campaign_id, key, market, out)
    committer = GroupCommitter(app)
    try:
        year = SchoolYear(
            services, committer, chain, teachers, random.Random(plan.seed), tally, plan
        )
        year.run()
    finally:
        committer.close()
    print(
        f"Group commit: {committer.commands} commands in {committer.batches} transactions", file=out
    )
    year_end(services, campaign_id, plan, out)
    print_tally(tally, out)
    per_territory = max(MIN_DEVICES_PER_TERRITORY, plan.teachers // TEACHERS_PER_DEVICE)
    drive = run_drive(services.devices, per_territory, plan.seed, key)
    print_drive(drive, out)
    print_fund(run_fund(services.settings, services.devices, drive, key, out), out)
    run_audit(services, AUDIT_AT, out)
    catch_up_and_print(services, chain, plan, out)
    return tally


def territories_of(n: int) -> tuple[str, ...]:
    """The territories of the nth teacher's school."""
    commune, departement, region = SCHOOL_TOWNS[n % len(SCHOOL_TOWNS)]
    return (f"commune:{commune}", f"departement:{departement}", f"region:{region}")


@dataclass
class SchoolYear:
    """The simulated year: top-ups, three waves of orders, two rounds of claims."""

    services: Services
    committer: GroupCommitter
    chain: Chain
    teachers: list[str]
    rng: random.Random
    tally: DemoTally
    plan: DemoPlan
    sales: list[Sale] = field(default_factory=list)
    mistakes: list[CaptureHold] = field(default_factory=list)

    def run(self) -> None:
        self.top_ups(SCHOOL_YEAR_START + 20 * DAY)
        self.order_wave(ORDER_DAYS[0])
        vendor = self.chain.market.vendor_ids[SUSPENDED_VENDOR]
        self.chain.suspend(vendor, SUSPENDED[0], "attestation de vigilance manquante")
        self.order_wave(ORDER_DAYS[1])
        self.chain.reinstate(vendor, SUSPENDED[1])
        self.chain.winter_payment(self.sales, self.rng, WINTER_CLAIMS)
        self.order_wave(SPRING_ORDERS)
        self.chain.spring_payment(self.sales, SPRING_CLAIMS)
        # A mistake a real system sees: a vendor capturing a hold a second time.
        self.run_wave([replace(m, key=f"again-{m.key}") for m in self.mistakes[:1]], None)

    def top_ups(self, day: datetime) -> None:
        """Each commune tops up one in ten of the teachers of its schools."""
        commands = [
            TopUp(
                campaign_id=self.chain.campaign_id,
                teacher_id=t,
                key=f"topup-{t}",
                by=f"commune-{SCHOOL_TOWNS[n % len(SCHOOL_TOWNS)][0]}",
                now=day,
                authority_id=f"commune-{SCHOOL_TOWNS[n % len(SCHOOL_TOWNS)][0]}",
                kind=TopUpKind.COMMUNE,
                amount_cents=2000,
            )
            for n, t in enumerate(self.teachers)
            if n % 10 == 0 or n % 10 == 3
        ]
        self.tally.top_ups = sum(1 for r in self.run_wave(commands, "top-ups") if r)

    def order_wave(self, day: datetime) -> None:
        market, rng = self.chain.market, self.rng
        orders = [
            Order(t, f"order-{day:%Y%m%d}-{t}-{n}", r, market.vendor_of[r], day + n * TURN, n)
            for t in self.teachers
            if rng.random() < ORDER_SHARE
            for n in range(rng.choice((1, 1, 2)))
            for r in rng.choices(market.resource_ids, market.weights)
        ]
        # A teacher's second order after every first one: each turn touches an account once,
        # so the answers do not depend on which client the committer hears first.
        orders.sort(key=lambda o: o.turn)
        holds = self.redeem(orders, f"orders {day:%Y-%m}")
        self.tally.holds += sum(1 for h in holds if isinstance(h, HoldReceipt))
        resolutions, captured = resolve_holds(self.chain.campaign_id, orders, holds, rng)
        results = self.run_wave(resolutions, "captures and releases")
        done = {id(c) for c, r in zip(resolutions, results, strict=True) if r}
        captured = [(c, s) for c, s in captured if id(c) in done]
        self.tally.releases += len(done) - len(captured)
        self.tally.captures += len(captured)
        self.sales.extend(s for _, s in captured)
        self.mistakes.extend(c for c, _ in captured[:1])
        self.refund_some(captured, day + 5 * DAY)

    def redeem(self, orders: list[Order], label: str) -> list[object]:
        """Redeem through `Redemptions`, from several clients at once, as a server would."""
        redemptions = replace(self.services.redemptions, committer=self.committer)
        redeem_one = partial(redeem, redemptions, self.chain.campaign_id)
        results: list[object] = []
        with (
            bar(self.plan.show_progress, len(orders), label) as progress,
            ThreadPoolExecutor(REDEEM_WORKERS, thread_name_prefix="client") as clients,
        ):
            for turn in (0, 1):
                mine = [o for o in orders if o.turn == turn]
                for start in range(0, len(mine), WAVE_SIZE):
                    wave = mine[start : start + WAVE_SIZE]
                    results.extend(clients.map(redeem_one, wave))
                    progress(len(wave))
        for result in results:
            if isinstance(result, DomainError):
                self.tally.refuse(result)
        return results

    def refund_some(self, captured: list[tuple[CaptureHold, Sale]], now: datetime) -> None:
        """Refunds go through the claims desk: a redemption in a claim is followed there."""
        chosen = [(c, s) for c, s in captured if self.rng.random() < REFUND_SHARE]
        refunded: set[UUID] = set()
        with bar(self.plan.show_progress, len(chosen), "refunds") as progress:
            for capture, sale in chosen:
                try:
                    self.services.desk.refund(
                        Refund(
                            campaign_id=capture.campaign_id,
                            teacher_id=capture.teacher_id,
                            key=f"refund-{capture.key}",
                            by=capture.by,
                            now=now,
                            hold_id=capture.hold_id,
                            amount_cents=capture.amount_cents,
                        )
                    )
                    refunded.add(sale.hold_id)
                except DomainError as error:
                    self.tally.refuse(error)
                progress(1)
        self.tally.refunds += len(refunded)
        self.sales = [s for s in self.sales if s.hold_id not in refunded]

    def run_wave(self, commands: list[AccountCommand], label: str | None) -> list[object]:
        """Submit commands in waves; a refused command is counted by its code, not raised."""
        results: list[object] = []
        show = self.plan.show_progress and label is not None
        with bar(show, len(commands), label or "") as progress:
            for start in range(0, len(commands), WAVE_SIZE):
                futures: list[Future] = [
                    self.committer.submit(c) for c in commands[start : start + WAVE_SIZE]
                ]
                for future in futures:
                    try:
                        results.append(future.result())
                    except DomainError as error:
                        self.tally.refuse(error)
                        results.append(None)
                progress(len(futures))
        return results


def redeem(redemptions: Redemptions, campaign_id: UUID, order: Order) -> object:
    """One client's redemption; a refusal is its answer, not raised."""
    try:
        return redemptions.redeem(
            campaign_id=campaign_id,
            teacher_id=order.teacher_id,
            key=order.key,
            resource_id=order.resource_id,
            order_ref=order.key,
            by=order.teacher_id,
            now=order.now,
            ttl_s=HOLD_TTL_S,
        )
    except DomainError as error:
        return error


def resolve_holds(
    campaign_id: UUID, orders: list[Order], holds: list[object], rng: random.Random
) -> tuple[list[AccountCommand], list[tuple[CaptureHold, Sale]]]:
    """70 % captured (a fifth of them in part), 15 % released, 15 % left to expire."""
    commands: list[AccountCommand] = []
    captured: list[tuple[CaptureHold, Sale]] = []
    for order, receipt in zip(orders, holds, strict=True):
        if not isinstance(receipt, HoldReceipt):
            continue
        draw, later = rng.random(), order.now + timedelta(minutes=20)
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
            sale = Sale(order.teacher_id, capture.account_id, receipt.hold_id, order.vendor_id)
            captured.append((capture, sale))
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
        f"{tally.refunds} refunded; {tally.top_ups} top-ups by their communes",
        file=out,
    )
    refused = ", ".join(f"{code} × {n}" for code, n in sorted((tally.refused or {}).items()))
    print(f"Refused, with nothing changed: {refused or 'none'}", file=out)


def catch_up_and_print(services: Services, chain: Chain, plan: DemoPlan, out: TextIO) -> None:
    runners = (
        ("balances", services.balances_runner),
        ("vendor statements", services.vendor_statements_runner),
        ("indicators", services.indicators_runner),
        ("device pipeline", services.device_pipeline_runner),
        *services.fund_runners.items(),
    )
    for name, runner in runners:
        with bar(plan.show_progress, None, f"{name} projection") as progress:
            runner.catch_up(progress)
    statements = services.vendor_statements.statements(*STATEMENT_PERIOD)
    print(f"\nVendor statements, {STATEMENT_PERIOD[0]} to {STATEMENT_PERIOD[1]}", file=out)
    print_vendor_statements(statements, chain.market.names, out)
    print_pipeline(services.device_pipeline, chain.campaign_key, out)
    print("\nIndicators (the paper's)", file=out)
    print_indicators(services.indicators.current(), out)
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
