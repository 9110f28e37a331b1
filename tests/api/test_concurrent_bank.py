"""A bank under concurrent clients over real HTTP: the books hold at every moment.

Sixteen clients each make 500 requests chosen at random (with a fixed seed) on fifty
teachers' credit: a teacher places a hold; the vendor captures part of a pending hold,
releases one, or refunds part of a capture; and now and then a client deliberately tries
to spend twice (capture a hold again, refund more than is left). Pending and captured holds
sit in pools that every client draws from, so two clients often act on the same hold at the
same moment, and the server must let exactly one of them win.

Meanwhile a reader takes whole-ledger snapshots: it replays the log up to where it has got
(a prefix of the log is a consistent state of every account, since the log is in commit
order) and folds it with `ledger.accounts.fold`. Every snapshot, and the final credits read
over HTTP, go through one checker, `check_books`: money conserved, nothing negative, no hold
captured twice, no refund beyond its capture, the postings agreeing with the accounts. At the
end the books must also agree with what the clients were told, hold by hold.

`check_books` is itself tested on corrupted snapshots, which it must catch.

TIRELIRE_TEST_BANK_OPERATIONS sets the requests per client (default 500).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import pytest

from api.tokens import generate_key_file
from ledger import accounts
from ledger.credits import CreditAccount
from ledger.settings import Settings
from ledger.vouchers import VoucherLedger
from tests import helpers

CLIENTS = 16
OPERATIONS = int(os.environ.get("TIRELIRE_TEST_BANK_OPERATIONS", "500"))  # per client
TEACHERS = 50
PRICES_CENTS = (90, 190, 390)  # three resources; 78 € of credit is ~30 of them
TOP_UP_CENTS = 2500  # every fifth teacher's commune adds this before the run
SEED = 20270901
SNAPSHOT_PAUSE_S = 1.0  # between whole-ledger reads during the run
LOG_PAGE_SIZE = 5000
# (operation, weight): what a client does next; a "double" tries to spend twice.
MIX = (("hold", 45), ("capture", 28), ("release", 10), ("refund", 10), ("double", 7))


# The books as plain values, and the checker ---------------------------------------------


@dataclass(frozen=True)
class HoldFigures:
    hold_id: str
    status: str
    amount_cents: int
    captured_cents: int
    refunded_cents: int
    captures: int  # capture events of this hold (over HTTP: 1 when captured)


@dataclass(frozen=True)
class AccountFigures:
    account_id: str
    teacher_id: str
    granted_cents: int
    topped_up_cents: int
    available_cents: int
    held_cents: int
    captured_cents: int
    returned_cents: int
    holds: tuple[HoldFigures, ...]


@dataclass(frozen=True)
class Snapshot:
    accounts: tuple[AccountFigures, ...]
    postings: dict[str, int] | None = None  # the log folded by `ledger.accounts.fold`
    events: int = 0


AMOUNTS = ("available_cents", "held_cents", "captured_cents", "returned_cents")


def check_books(snapshot: Snapshot) -> list[str]:
    """Every way the snapshot's books are wrong, in words; [] when they are right."""
    problems: list[str] = []
    for account in snapshot.accounts:
        problems.extend(check_account(account))
    came_in = sum(a.granted_cents + a.topped_up_cents for a in snapshot.accounts)
    is_now = sum(sum(getattr(a, n) for n in AMOUNTS) for a in snapshot.accounts)
    if came_in != is_now:
        problems.append(
            f"money not conserved: granted + topped up = {came_in}, but available + held + "
            f"captured + returned = {is_now}"
        )
    if snapshot.postings is not None:
        problems.extend(check_postings(snapshot))
    return problems


def check_account(a: AccountFigures) -> list[str]:
    problems = [
        f"{a.teacher_id}: {name} is negative ({getattr(a, name)})"
        for name in (*AMOUNTS, "granted_cents", "topped_up_cents")
        if getattr(a, name) < 0
    ]
    if sum(getattr(a, n) for n in AMOUNTS) != a.granted_cents + a.topped_up_cents:
        problems.append(f"{a.teacher_id}: the credit does not add up to what was put in")
    pending = sum(h.amount_cents for h in a.holds if h.status == "pending")
    if a.held_cents != pending:
        problems.append(f"{a.teacher_id}: {a.held_cents} held, but pending holds sum {pending}")
    kept = sum(h.captured_cents - h.refunded_cents for h in a.holds if h.status == "captured")
    if a.captured_cents != kept:
        problems.append(f"{a.teacher_id}: {a.captured_cents} captured, but its holds keep {kept}")
    for h in a.holds:
        problems.extend(f"{a.teacher_id}: hold {h.hold_id} {p}" for p in check_hold(h))
    return problems


def check_hold(h: HoldFigures) -> list[str]:
    problems = []
    if h.captures > 1:
        problems.append(f"captured {h.captures} times")
    if (h.status == "captured") != (h.captures == 1):
        problems.append(f"is {h.status} with {h.captures} capture(s)")
    if min(h.amount_cents, h.captured_cents, h.refunded_cents) < 0:
        problems.append("has a negative amount")
    if h.captured_cents > h.amount_cents:
        problems.append(f"captured {h.captured_cents}, more than its {h.amount_cents} held")
    if h.refunded_cents > h.captured_cents:
        problems.append(f"refunded {h.refunded_cents}, more than its {h.captured_cents} captured")
    return problems


def check_postings(snapshot: Snapshot) -> list[str]:
    """Double entry agrees with the accounts: a second derivation of the same books."""
    postings = snapshot.postings or {}
    problems = []
    if sum(postings.values()) != 0:
        problems.append(f"the trial balance is {sum(postings.values())}, not 0")
    for a in snapshot.accounts:
        account_id = UUID(a.account_id)
        for name, value in (
            (accounts.teacher_available(account_id), a.available_cents),
            (accounts.teacher_held(account_id), a.held_cents),
        ):
            if postings.get(name, 0) != value:
                problems.append(f"{name} is {postings.get(name, 0)} in postings, {value} here")
    owed = sum(
        v
        for k, v in postings.items()
        if accounts.account_kind(k) in ("vendor_payable", "withheld", "bank")
    )
    if owed != sum(a.captured_cents for a in snapshot.accounts):
        problems.append(f"vendors are owed {owed}, but teachers' captures keep a different sum")
    return problems


# Snapshots: from the log, and over HTTP -------------------------------------------------


class LogReplay:
    """The log replayed from its start: every credit account, its holds, and the postings
    (`ledger.accounts.fold`), carried forward as the log grows, so that each whole-ledger
    read costs only the events since the last one."""

    def __init__(self, vouchers: VoucherLedger) -> None:
        self.vouchers = vouchers
        self.position: int | None = None
        self.events = 0
        self.live: dict[UUID, CreditAccount] = {}
        self.captures: Counter[UUID] = Counter()
        self.postings: dict[str, int] = {}

    def snapshot(self) -> Snapshot:
        """Replay what was added to the log since the last snapshot; the books as of now."""
        while True:
            page = self.vouchers.recorder.select_notifications(
                start=self.position, limit=LOG_PAGE_SIZE, inclusive_of_start=False
            )
            for notification in page:
                self.replay(self.vouchers.mapper.to_domain_event(notification))
            if page:
                self.position = page[-1].id
            if len(page) < LOG_PAGE_SIZE:
                break
        figures = tuple(figures_of(a, self.captures) for a in self.live.values())
        return Snapshot(figures, dict(self.postings), self.events)

    def replay(self, event: Any) -> None:
        self.events += 1
        accounts.apply_postings(self.postings, accounts.postings(event))
        if isinstance(event, CreditAccount.Event):
            self.live[event.originator_id] = event.mutate(self.live.get(event.originator_id))
            if isinstance(event, CreditAccount.HoldCaptured):
                self.captures[event.hold_id] += 1


def snapshot_from_log(vouchers: VoucherLedger) -> Snapshot:
    """The whole log replayed from its start, at once."""
    return LogReplay(vouchers).snapshot()


def figures_of(account: CreditAccount, captures: Counter[UUID]) -> AccountFigures:
    holds = tuple(
        HoldFigures(
            str(h.hold_id),
            h.status.value,
            h.amount_cents,
            h.captured_cents,
            h.refunded_cents,
            captures[h.hold_id],
        )
        for h in account.holds.values()
    )
    return AccountFigures(
        str(account.id),
        account.teacher_id,
        account.granted_cents,
        account.topped_up_cents,
        account.available_cents,
        account.held_cents,
        account.captured_cents,
        account.returned_cents,
        holds,
    )


def figures_from_credit(credit: dict[str, Any]) -> AccountFigures:
    """One teacher's `GET /v1/campaigns/{id}/credit` answer as figures."""
    holds = tuple(
        HoldFigures(
            h["hold_id"],
            h["status"],
            h["amount_cents"],
            h["captured_cents"],
            h["refunded_cents"],
            1 if h["status"] == "captured" else 0,
        )
        for h in credit["holds"]
    )
    names = ("granted_cents", "topped_up_cents", *AMOUNTS)
    return AccountFigures(
        credit["account_id"], credit["teacher_id"], *(credit[n] for n in names), holds
    )


# The clients ------------------------------------------------------------------------------


@dataclass
class HoldRef:
    """A hold as the clients know it: what they were told, and nothing else."""

    hold_id: str
    code: str
    teacher: str
    amount_cents: int
    captured_cents: int = 0
    refunded_cents: int = 0
    released: bool = False


@dataclass
class Bank:
    """The shared state of the clients: the pools of holds, and what they were told."""

    api: Any
    campaign: str
    resources: tuple[str, ...]
    teachers: dict[str, dict[str, str]]  # teacher id -> Authorization header
    vendor: dict[str, str]
    pending: list[HoldRef] = field(default_factory=list)
    captured: list[HoldRef] = field(default_factory=list)
    told: dict[str, HoldRef] = field(default_factory=dict)  # by hold id
    outcomes: Counter[str] = field(default_factory=Counter)
    double_spends: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def expect(self, what: str, status: int, body: Any, allowed: dict[int, set[str]]) -> bool:
        """Count an answer; True for a success. Anything not allowed is unexpected."""
        code = body.get("code", "") if isinstance(body, dict) else ""
        self.outcomes[f"{what} {status} {code}".strip()] += 1
        if status not in allowed or (allowed[status] and code not in allowed[status]):
            self.unexpected.append(f"{what}: {status} {body}")
        return status < 300


RACE = {409: {"hold_already_resolved"}}  # another client resolved the hold first
CONFLICT = "concurrency_conflict"  # the account kept changing: nothing recorded


async def place(bank: Bank, rng: random.Random, key: str) -> None:
    teacher = rng.choice(tuple(bank.teachers))
    order = {"resource_id": rng.choice(bank.resources), "order_ref": key}
    status, body = await bank.api.call(
        "POST", f"/v1/campaigns/{bank.campaign}/holds", bank.teachers[teacher], key=key, json=order
    )
    refused = {409: {"insufficient_credit", "too_many_pending_holds", CONFLICT}}
    if bank.expect("hold", status, body, {201: set(), **refused}):
        ref = HoldRef(body["hold_id"], body["redemption_code"], teacher, body["amount_cents"])
        bank.told[ref.hold_id] = ref
        bank.pending.append(ref)


async def capture(bank: Bank, rng: random.Random, key: str) -> None:
    ref = rng.choice(bank.pending)
    amount = rng.randint(1, ref.amount_cents)
    status, body = await bank.api.call(
        "POST",
        f"/v1/redemptions/{ref.code}/capture",
        bank.vendor,
        key=key,
        json={"amount_cents": amount},
    )
    allowed = {200: set(), 409: {"hold_already_resolved", CONFLICT}}
    if bank.expect("capture", status, body, allowed):
        if ref.captured_cents or ref.released:
            bank.double_spends.append(f"hold {ref.hold_id} resolved twice, then captured")
        ref.captured_cents = body["captured_cents"]
        resolved(bank, ref)
        bank.captured.append(ref)


async def release(bank: Bank, rng: random.Random, key: str) -> None:
    ref = rng.choice(bank.pending)
    status, body = await bank.api.call(
        "POST", f"/v1/redemptions/{ref.code}/release", bank.vendor, key=key
    )
    allowed = {200: set(), 409: {"hold_already_resolved", CONFLICT}}
    if bank.expect("release", status, body, allowed):
        if ref.captured_cents or ref.released:
            bank.double_spends.append(f"hold {ref.hold_id} resolved, then released")
        ref.released = True
        resolved(bank, ref)


async def refund(bank: Bank, rng: random.Random, key: str, beyond: bool = False) -> None:
    """Refund part of what is left of a capture; `beyond`: one cent more than is left."""
    ref = rng.choice(bank.captured)
    left = ref.captured_cents - ref.refunded_cents
    amount = left + 1 if beyond else rng.randint(1, left)
    status, body = await bank.api.call(
        "POST",
        f"/v1/redemptions/{ref.code}/refunds",
        bank.vendor,
        key=key,
        json={"amount_cents": amount},
    )
    # Another client may have refunded the same capture meanwhile.
    allowed = {201: set(), 409: {"refund_exceeds_captured", CONFLICT}}
    if bank.expect("refund beyond" if beyond else "refund", status, body, allowed):
        ref.refunded_cents += amount
        if beyond or ref.refunded_cents > ref.captured_cents:
            bank.double_spends.append(f"hold {ref.hold_id} refunded beyond its capture")
        if ref.refunded_cents >= ref.captured_cents and ref in bank.captured:
            bank.captured.remove(ref)


async def capture_again(bank: Bank, rng: random.Random, key: str) -> None:
    ref = rng.choice(bank.captured)
    status, body = await bank.api.call(
        "POST",
        f"/v1/redemptions/{ref.code}/capture",
        bank.vendor,
        key=key,
        json={"amount_cents": 1},
    )
    if bank.expect("capture again", status, body, RACE):
        bank.double_spends.append(f"hold {ref.hold_id} captured twice")


def resolved(bank: Bank, ref: HoldRef) -> None:
    if ref in bank.pending:
        bank.pending.remove(ref)


async def client(bank: Bank, number: int, progress: Counter[str]) -> None:
    rng = random.Random(SEED + number)
    operations, weights = zip(*MIX, strict=True)
    for n in range(OPERATIONS):
        key = f"c{number}-{n}"
        what = rng.choices(operations, weights)[0]
        if what in ("capture", "release") and not bank.pending:
            what = "hold"
        if what in ("refund", "double") and not bank.captured:
            what = "hold"
        if what == "hold":
            await place(bank, rng, key)
        elif what == "capture":
            await capture(bank, rng, key)
        elif what == "release":
            await release(bank, rng, key)
        elif what == "refund":
            await refund(bank, rng, key)
        elif rng.random() < 0.5:
            await capture_again(bank, rng, key)
        else:
            await refund(bank, rng, key, beyond=True)
        progress["done"] += 1


# The test ---------------------------------------------------------------------------------


@pytest.fixture
def api_settings(store_settings: Settings, tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    """The server of `tests/api/conftest.py`, without a rate limit in the way: the clients
    share one vendor, which makes thousands of requests in a few seconds."""
    key_file = tmp_path / "signing-key.pem"
    generate_key_file(key_file)
    return dataclasses.replace(
        store_settings, signing_key_file=str(key_file), rate_per_minute=1_000_000
    )


def open_bank(api: Any) -> Bank:
    vendor = api.vendor()
    resources = tuple(api.resource(vendor, f"ressource-{p}", p) for p in PRICES_CENTS)
    teachers = tuple(f"teacher-{n:02d}" for n in range(TEACHERS))
    campaign = api.campaign(teachers)
    for teacher in teachers[::5]:
        api.vouchers.execute(helpers.top_up(UUID(campaign), teacher, "commune", TOP_UP_CENTS))
    return Bank(
        api=api,
        campaign=campaign,
        resources=resources,
        teachers={t: api.token("teacher", t) for t in teachers},
        vendor=api.token("vendor", vendor),
    )


async def read_while_running(replay: LogReplay, running: asyncio.Task) -> list[Snapshot]:
    """Whole-ledger snapshots, one after another, until the clients are done."""
    snapshots = []
    while not running.done():
        snapshots.append(await asyncio.to_thread(replay.snapshot))
        await asyncio.wait({running}, timeout=SNAPSHOT_PAUSE_S)
    return snapshots


async def snapshot_over_http(bank: Bank) -> Snapshot:
    async def credit(teacher: str) -> AccountFigures:
        path = f"/v1/campaigns/{bank.campaign}/credit"
        status, body = await bank.api.call("GET", path, bank.teachers[teacher])
        assert status == 200, body
        return figures_from_credit(body)

    return Snapshot(tuple(await asyncio.gather(*(credit(t) for t in bank.teachers))))


def by_teacher(snapshot: Snapshot) -> list[AccountFigures]:
    return sorted(snapshot.accounts, key=lambda a: a.teacher_id)


def check_told(bank: Bank, snapshot: Snapshot) -> None:
    """Hold by hold, the books say what the clients were told: nothing lost, nothing twice."""
    holds = {h.hold_id: h for a in snapshot.accounts for h in a.holds}
    assert holds.keys() == bank.told.keys()
    for hold_id, ref in bank.told.items():
        hold = holds[hold_id]
        status = "captured" if ref.captured_cents else "released" if ref.released else "pending"
        assert hold.status == status, (ref, hold)
        assert (hold.captured_cents, hold.refunded_cents) == (
            ref.captured_cents,
            ref.refunded_cents,
        ), (ref, hold)


async def test_sixteen_clients_never_break_the_books_of_fifty_teachers(api) -> None:
    bank = open_bank(api)
    replay = LogReplay(api.vouchers)
    before = replay.snapshot()
    assert check_books(before) == [] and before.events > 0
    progress: Counter[str] = Counter()
    running = asyncio.ensure_future(
        asyncio.gather(*(client(bank, n, progress) for n in range(CLIENTS)))
    )
    snapshots = await read_while_running(replay, running)
    await running
    assert progress["done"] == CLIENTS * OPERATIONS

    final = snapshot_from_log(api.vouchers)  # replayed anew, from the start
    over_http = await snapshot_over_http(bank)
    for snapshot in (*snapshots, replay.snapshot(), final, over_http):
        assert check_books(snapshot) == [], snapshot.events
    assert len(snapshots) >= 3, "the reader saw too little of the run"
    assert bank.unexpected == [] and bank.double_spends == []
    assert replay.snapshot() == final  # carrying the replay forward changed nothing
    assert by_teacher(final) == by_teacher(over_http)
    check_told(bank, final)
    # The run went where it should: every kind of move succeeded, and every kind of
    # attempt to spend twice was refused.
    for outcome in ("hold 201", "capture 200", "release 200", "refund 201"):
        assert bank.outcomes[outcome] > 0, bank.outcomes
    assert bank.outcomes["capture again 409 hold_already_resolved"] > 0, bank.outcomes
    assert bank.outcomes["refund beyond 409 refund_exceeds_captured"] > 0, bank.outcomes


# The checker catches what it is there to catch --------------------------------------------


@pytest.fixture
def small_books(memory_settings: Settings) -> Snapshot:
    """Two teachers' books, replayed from an in-memory log: a top-up, a captured and
    partly refunded hold, a released one, a pending one."""
    app = VoucherLedger(memory_settings)
    campaign = helpers.open_campaign(app)
    app.grant_credits(
        campaign,
        ["t1", "t2"],
        grant_key="g",
        by="op",
        now=helpers.START,
        territories=helpers.in_paris(["t1", "t2"]),
    )
    app.execute(helpers.top_up(campaign, "t1", "u1", 500))
    captured = app.execute(helpers.place(campaign, "t1", "h1", 1990))
    app.execute(helpers.capture(campaign, "t1", "c1", captured.hold_id, 1500))
    app.execute(helpers.refund(campaign, "t1", "r1", captured.hold_id, 400))
    released = app.execute(helpers.place(campaign, "t2", "h2", 700))
    app.execute(helpers.release(campaign, "t2", "l2", released.hold_id))
    app.execute(helpers.place(campaign, "t2", "h3", 300))
    snapshot = snapshot_from_log(app)
    app.close()
    return snapshot


def with_account(snapshot: Snapshot, teacher: str, **changes: Any) -> Snapshot:
    return dataclasses.replace(
        snapshot,
        accounts=tuple(
            dataclasses.replace(a, **changes) if a.teacher_id == teacher else a
            for a in snapshot.accounts
        ),
    )


def account(snapshot: Snapshot, teacher: str) -> AccountFigures:
    return next(a for a in snapshot.accounts if a.teacher_id == teacher)


def test_the_checker_passes_right_books(small_books: Snapshot) -> None:
    assert check_books(small_books) == []
    assert {h.status for a in small_books.accounts for h in a.holds} == {
        "captured",
        "released",
        "pending",
    }


def test_the_checker_catches_a_doubled_capture(small_books: Snapshot) -> None:
    t1 = account(small_books, "t1")
    (hold,) = t1.holds
    doubled = with_account(
        small_books,
        "t1",
        holds=(dataclasses.replace(hold, captures=2),),
        available_cents=t1.available_cents - hold.captured_cents,
        captured_cents=t1.captured_cents + hold.captured_cents,
    )
    problems = check_books(doubled)
    assert f"t1: hold {hold.hold_id} captured 2 times" in problems
    assert any("captured, but its holds keep" in p for p in problems)
    assert any(p.startswith("teacher_available:") for p in problems)  # postings disagree
    assert any(p.startswith("vendors are owed") for p in problems)


def test_the_checker_catches_a_negative_balance(small_books: Snapshot) -> None:
    t2 = account(small_books, "t2")
    overdrawn = with_account(
        small_books,
        "t2",
        available_cents=-100,
        held_cents=t2.held_cents + t2.available_cents + 100,
    )
    problems = check_books(overdrawn)
    assert "t2: available_cents is negative (-100)" in problems
    assert any(p.startswith("t2: ") and "pending holds sum" in p for p in problems)


def test_the_checker_catches_a_refund_beyond_the_capture(small_books: Snapshot) -> None:
    (hold,) = account(small_books, "t1").holds
    too_much = dataclasses.replace(hold, refunded_cents=hold.captured_cents + 1)
    problems = check_books(with_account(small_books, "t1", holds=(too_much,)))
    assert f"t1: hold {hold.hold_id} refunded 1501, more than its 1500 captured" in problems


def test_the_checker_catches_money_from_nowhere(small_books: Snapshot) -> None:
    t1 = account(small_books, "t1")
    richer = with_account(small_books, "t1", available_cents=t1.available_cents + 1)
    problems = check_books(richer)
    assert "t1: the credit does not add up to what was put in" in problems
    assert any(p.startswith("money not conserved") for p in problems)
    unbalanced = dataclasses.replace(
        small_books, postings={**(small_books.postings or {}), "funder:etat": 0}
    )
    assert any(p.startswith("the trial balance is") for p in check_books(unbalanced))
