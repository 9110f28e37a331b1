"""The credit account: holds and how they end, top-ups, year-end expiry, and its books.

Every test applies commands from `ledger.commands` to an account built in memory; no store.
Each refused command is followed by a check that nothing changed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.accounts import (
    MONEY_EVENT_TYPES,
    account_kind,
    campaign_budget,
    fold,
    funder,
    postings,
    teacher_available,
    teacher_held,
)
from ledger.campaigns import Campaign
from ledger.commands import (
    AccountCommand,
    ExpireHolds,
    ExpireRemainder,
    HoldReceipt,
    KeyedCommand,
    Receipt,
)
from ledger.credits import MAX_HOLD_TTL_S, MAX_PENDING_HOLDS, CreditAccount, HoldStatus, TopUpKind
from ledger.errors import (
    CaptureExceedsHold,
    CreditAccountExpired,
    DomainError,
    HoldAlreadyResolved,
    HoldExpired,
    HoldNotCaptured,
    HoldNotFound,
    IdempotencyKeyReused,
    InsufficientCredit,
    InvalidAmount,
    InvalidIdentifier,
    InvalidInput,
    OutsideTerritory,
    OutsideValidity,
    RefundExceedsCaptured,
    TooManyPendingHolds,
)
from ledger.grants import grant_account
from ledger.ids import campaign_id, credit_account_id, derived_id
from tests.helpers import (
    AFTER,
    DURING,
    END,
    FACE_VALUE_CENTS,
    FUNDERS,
    PARIS,
    START,
    capture,
    place,
    refund,
    release,
    top_up,
)

CID = campaign_id("rentree-2027")
TEACHER = "teacher-1"
SECOND = timedelta(seconds=1)
NEVER_PLACED = derived_id(credit_account_id(CID, TEACHER), "place_hold", "never-placed")


def snapshot(account: CreditAccount) -> tuple[object, ...]:
    """Everything a command could change, as plain values."""
    holds = {
        h.hold_id: (h.status, h.amount_cents, h.captured_cents, h.refunded_cents, h.expires_at)
        for h in account.holds.values()
    }
    money = (account.available_cents, account.held_cents, account.captured_cents)
    more = (account.returned_cents, account.topped_up_cents, account.expired_cents)
    return (account.version, *money, *more, account.is_expired, holds, dict(account.outcomes))


def replay(events: list[CreditAccount.Event]) -> CreditAccount:
    account = None
    for event in events:
        account = event.mutate(account)
    return account


@dataclass
class Books:
    """A campaign with one granted account, and the log of every event recorded since."""

    campaign: Campaign
    account: CreditAccount
    log: list[object]

    def run(self, command: AccountCommand) -> Receipt:
        receipt = command.apply_to(self.account)
        self.log.extend(self.account.collect_events())
        return receipt

    def refused(self, command: AccountCommand, error: type[DomainError]) -> DomainError:
        before = snapshot(self.account)
        with pytest.raises(error) as refusal:
            command.apply_to(self.account)
        assert snapshot(self.account) == before
        assert self.account.pending_events == []
        return refusal.value

    def close_campaign(self, now) -> None:
        self.campaign.close(by="operator", now=now)
        self.log.extend(self.campaign.collect_events())

    def assert_consistent(self) -> None:
        """Money conserved, nothing negative, books equal the aggregates, replay equals live."""
        a = self.account
        places = (a.available_cents, a.held_cents, a.captured_cents, a.returned_cents)
        assert sum(places) == a.granted_cents + a.topped_up_cents
        assert min(places) >= 0
        balances = fold(self.log)
        assert sum(balances.values()) == 0
        assert balances.get(teacher_available(a.id), 0) == a.available_cents
        assert balances.get(teacher_held(a.id), 0) == a.held_cents
        payable = [v for k, v in balances.items() if account_kind(k) == "vendor_payable"]
        assert sum(payable) == a.captured_cents
        assert balances.get(campaign_budget(CID), 0) == self.campaign.remaining_cents
        mine = [e for e in self.log if getattr(e, "originator_id", None) == a.id]
        assert snapshot(replay(mine)) == snapshot(a)


def open_books() -> Books:
    campaign = Campaign.open(
        campaign_id=CID,
        campaign_key="rentree-2027",
        name="Rentrée 2027",
        face_value_cents=FACE_VALUE_CENTS,
        valid_from=START,
        valid_until=END,
        budget_cents=FACE_VALUE_CENTS * 100,
        funders=FUNDERS,
        request_digest="digest-of-the-terms",
        by="operator",
        now=START,
    )
    campaign.record_grant("g", "digest-g", 50, 0, 1, "operator", START)
    account = grant_account(campaign, TEACHER, "g#0", "operator", START, PARIS)
    return Books(campaign, account, [*campaign.collect_events(), *account.collect_events()])


@pytest.fixture
def books() -> Books:
    return open_books()


def test_a_granted_account_holds_the_face_value_funded_by_each_funder(books: Books):
    account = books.account
    assert account.available_cents == FACE_VALUE_CENTS
    assert account.funding == {"etat": 5460, "region-idf": 2340}
    assert (account.held_cents, account.captured_cents, account.returned_cents) == (0, 0, 0)


# Holds -----------------------------------------------------------------------------------


def test_placing_a_hold_sets_credit_aside(books: Books):
    receipt = books.run(place(CID, TEACHER, "h1", 1000))
    assert receipt.hold_id == derived_id(books.account.id, "place_hold", "h1")
    assert receipt.expires_at == DURING + timedelta(seconds=1800)
    assert (books.account.available_cents, books.account.held_cents) == (6800, 1000)
    assert books.account.holds[receipt.hold_id].status is HoldStatus.PENDING


@pytest.mark.parametrize("now", [START - SECOND, END, AFTER], ids=["before", "at-end", "after"])
def test_a_hold_outside_the_validity_window_is_refused(books: Books, now):
    books.refused(place(CID, TEACHER, "h1", 1000, now=now), OutsideValidity)


def test_a_hold_never_outlives_the_campaign(books: Books):
    receipt = books.run(place(CID, TEACHER, "h1", 1000, now=END - 60 * SECOND, ttl_s=1800))
    assert receipt.expires_at == END


def test_a_hold_beyond_the_available_credit_is_refused(books: Books):
    books.run(place(CID, TEACHER, "h1", 7000))
    error = books.refused(place(CID, TEACHER, "h2", 801), InsufficientCredit)
    assert error.details == {"available_cents": 800, "asked_cents": 801}


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"amount_cents": 0}, InvalidAmount),
        ({"amount_cents": -100}, InvalidAmount),
        ({"ttl_s": 0}, InvalidInput),
        ({"ttl_s": MAX_HOLD_TTL_S + 1}, InvalidInput),
        ({"order_ref": ""}, InvalidInput),
        ({"order_ref": "x" * 65}, InvalidInput),
    ],
)
def test_a_hold_with_bad_terms_is_refused(books: Books, change, error):
    books.refused(replace(place(CID, TEACHER, "h1", 1000), **change), error)


def test_capturing_in_full_pays_the_vendor(books: Books):
    hold = books.run(place(CID, TEACHER, "h1", 1000))
    receipt = books.run(capture(CID, TEACHER, "c1", hold.hold_id, 1000))
    assert (receipt.captured_cents, receipt.released_cents) == (1000, 0)
    account = books.account
    assert (account.available_cents, account.held_cents, account.captured_cents) == (6800, 0, 1000)


def test_a_partial_capture_returns_the_remainder_to_available(books: Books):
    hold = books.run(place(CID, TEACHER, "h1", 3000))
    receipt = books.run(capture(CID, TEACHER, "c1", hold.hold_id, 1200))
    assert (receipt.captured_cents, receipt.released_cents) == (1200, 1800)
    account = books.account
    assert (account.available_cents, account.held_cents, account.captured_cents) == (6600, 0, 1200)


def test_capturing_more_than_the_hold_is_refused(books: Books):
    hold = books.run(place(CID, TEACHER, "h1", 1000))
    books.refused(capture(CID, TEACHER, "c1", hold.hold_id, 1001), CaptureExceedsHold)


def test_releasing_returns_the_whole_hold_to_available(books: Books):
    hold = books.run(place(CID, TEACHER, "h1", 1000))
    receipt = books.run(release(CID, TEACHER, "r1", hold.hold_id))
    assert receipt.released_cents == 1000
    assert (books.account.available_cents, books.account.held_cents) == (FACE_VALUE_CENTS, 0)
    assert books.account.holds[hold.hold_id].status is HoldStatus.RELEASED


@pytest.mark.parametrize("first", ["capture", "release"])
@pytest.mark.parametrize("second", ["capture", "release"])
def test_a_hold_resolves_at_most_once(books: Books, first, second):
    hold_id = books.run(place(CID, TEACHER, "h1", 1000)).hold_id
    ends = {
        "capture": lambda key: capture(CID, TEACHER, key, hold_id, 500),
        "release": lambda key: release(CID, TEACHER, key, hold_id),
    }
    books.run(ends[first]("end-1"))
    books.refused(ends[second]("end-2"), HoldAlreadyResolved)


def test_an_overdue_hold_can_be_neither_captured_nor_released(books: Books):
    hold = books.run(place(CID, TEACHER, "h1", 1000, ttl_s=60))
    later = hold.expires_at
    books.refused(capture(CID, TEACHER, "c1", hold.hold_id, 1000, now=later), HoldExpired)
    books.refused(release(CID, TEACHER, "r1", hold.hold_id, now=later), HoldExpired)


def test_the_sweep_expires_overdue_holds_and_returns_their_credit(books: Books):
    hold = books.run(place(CID, TEACHER, "h1", 1000, ttl_s=60))
    books.run(place(CID, TEACHER, "h2", 2000, ttl_s=3600))
    sweep = ExpireHolds(campaign_id=CID, teacher_id=TEACHER, by="sweeper", now=hold.expires_at)
    books.run(sweep)
    assert isinstance(books.log[-1], CreditAccount.HoldExpired)
    assert (books.account.available_cents, books.account.held_cents) == (5800, 2000)
    books.refused(capture(CID, TEACHER, "c1", hold.hold_id, 1000), HoldAlreadyResolved)


def test_ending_an_unknown_hold_is_refused(books: Books):
    unknown = derived_id(books.account.id, "place_hold", "never-placed")
    books.refused(capture(CID, TEACHER, "c1", unknown, 100), HoldNotFound)
    books.refused(release(CID, TEACHER, "r1", unknown), HoldNotFound)
    books.refused(refund(CID, TEACHER, "f1", unknown, 100), HoldNotFound)


def test_overdue_holds_expire_as_their_own_events_when_a_new_hold_needs_the_money(books: Books):
    first = books.run(place(CID, TEACHER, "h1", 7000, ttl_s=60))
    books.refused(place(CID, TEACHER, "h2", 5000, now=DURING + 59 * SECOND), InsufficientCredit)
    books.run(place(CID, TEACHER, "h2", 5000, now=DURING + 60 * SECOND))
    assert [type(e) for e in books.log[-2:]] == [
        CreditAccount.HoldExpired,
        CreditAccount.HoldPlaced,
    ]
    assert books.account.holds[first.hold_id].status is HoldStatus.EXPIRED
    assert (books.account.available_cents, books.account.held_cents) == (2800, 5000)


def test_at_most_max_pending_holds_may_be_pending(books: Books):
    receipts = [books.run(place(CID, TEACHER, f"h{n}", 1)) for n in range(MAX_PENDING_HOLDS)]
    books.refused(place(CID, TEACHER, "one-too-many", 1), TooManyPendingHolds)
    books.run(release(CID, TEACHER, "r0", receipts[0].hold_id))
    books.run(place(CID, TEACHER, "one-more", 1))
    assert books.account.pending_count() == MAX_PENDING_HOLDS


# Refunds ---------------------------------------------------------------------------------


def test_refunds_add_up_to_at_most_what_was_captured(books: Books):
    hold_id = books.run(place(CID, TEACHER, "h1", 3000)).hold_id
    books.run(capture(CID, TEACHER, "c1", hold_id, 1200))
    books.run(refund(CID, TEACHER, "f1", hold_id, 500))
    assert (books.account.available_cents, books.account.captured_cents) == (7100, 700)
    error = books.refused(refund(CID, TEACHER, "f2", hold_id, 701), RefundExceedsCaptured)
    assert error.details == {"refundable_cents": 700}
    books.run(refund(CID, TEACHER, "f2", hold_id, 700))
    books.refused(refund(CID, TEACHER, "f3", hold_id, 1), RefundExceedsCaptured)
    assert (books.account.available_cents, books.account.captured_cents) == (7800, 0)


@pytest.mark.parametrize("end", ["pending", "released", "expired"])
def test_a_hold_that_was_not_captured_cannot_be_refunded(books: Books, end):
    hold_id = books.run(place(CID, TEACHER, "h1", 1000, ttl_s=60)).hold_id
    if end == "released":
        books.run(release(CID, TEACHER, "r1", hold_id))
    if end == "expired":
        books.run(ExpireHolds(campaign_id=CID, teacher_id=TEACHER, by="sweeper", now=AFTER))
    books.refused(refund(CID, TEACHER, "f1", hold_id, 100), HoldNotCaptured)


# Top-ups and the year end ----------------------------------------------------------------


def test_a_top_up_adds_credit_funded_by_the_authority(books: Books):
    receipt = books.run(top_up(CID, TEACHER, "t1", 2200))
    assert receipt.topup_id == derived_id(books.account.id, "top_up", "t1")
    assert books.account.available_cents == FACE_VALUE_CENTS + 2200
    assert books.account.topped_up_cents == 2200
    assert books.account.funding == {"etat": 5460, "region-idf": 2340, "commune-75056": 2200}


def test_a_top_up_of_nothing_or_after_the_end_is_refused(books: Books):
    books.refused(top_up(CID, TEACHER, "t1", 2200, now=END), OutsideValidity)
    books.refused(top_up(CID, TEACHER, "t2", 0), InvalidAmount)


def test_every_level_of_the_school_s_territory_may_top_up(books: Books):
    for n, authority in enumerate(("commune-75056", "departement-75", "region-11")):
        books.run(top_up(CID, TEACHER, f"t{n}", 100, authority=authority))
    assert books.account.topped_up_cents == 300


def test_an_authority_outside_the_teacher_s_territory_is_refused(books: Books):
    for authority in ("commune-69123", "departement-974", "region-84"):
        refusal = books.refused(
            top_up(CID, TEACHER, "t1", 2200, authority=authority), OutsideTerritory
        )
        assert refusal.details["territory"] == authority.replace("-", ":")
    assert books.account.topped_up_cents == 0


def test_an_account_granted_without_territories_can_be_topped_up_by_no_authority(books: Books):
    account = grant_account(books.campaign, "teacher-elsewhere", "g#0", "operator", START)
    account.collect_events()
    with pytest.raises(OutsideTerritory):
        top_up(CID, "teacher-elsewhere", "t1", 2200).apply_to(account)
    assert account.topped_up_cents == 0 and account.pending_events == []


def test_a_top_up_whose_kind_is_not_the_authority_s_level_or_that_names_no_territory_is_refused():
    with pytest.raises(InvalidInput, match="is a commune, not a region"):
        replace(top_up(CID, TEACHER, "t1", 2200), kind=TopUpKind.REGION)
    with pytest.raises(InvalidIdentifier):
        top_up(CID, TEACHER, "t1", 2200, authority="mairie-de-paris")


def test_year_end_expiry_is_refused_while_the_campaign_runs(books: Books):
    expire = ExpireRemainder(campaign_id=CID, teacher_id=TEACHER, by="operator", now=END - SECOND)
    books.refused(expire, OutsideValidity)


def test_year_end_expiry_returns_the_remainder_to_funders_pro_rata(books: Books):
    books.run(top_up(CID, TEACHER, "t1", 2200))  # funding: 5460 + 2340 + 2200 = 10000
    hold_id = books.run(place(CID, TEACHER, "h1", 5000)).hold_id
    books.run(capture(CID, TEACHER, "c1", hold_id, 5000))
    books.run(place(CID, TEACHER, "h2", 1000))  # still pending at the end
    receipt = books.run(ExpireRemainder(campaign_id=CID, teacher_id=TEACHER, by="op", now=AFTER))
    held, expired = books.log[-2:]
    assert isinstance(held, CreditAccount.HoldExpired) and held.amount_cents == 1000
    assert isinstance(expired, CreditAccount.RemainderExpired)
    assert expired.returned == (("commune-75056", 1100), ("etat", 2730), ("region-idf", 1170))
    assert receipt.returned_cents == 5000
    account = books.account
    assert (account.available_cents, account.held_cents, account.returned_cents) == (0, 0, 5000)
    assert account.is_expired


def test_an_expired_account_takes_no_new_holds_or_top_ups(books: Books):
    expire = ExpireRemainder(campaign_id=CID, teacher_id=TEACHER, by="operator", now=AFTER)
    first = books.run(expire)
    books.refused(place(CID, TEACHER, "h1", 100, now=AFTER), CreditAccountExpired)
    books.refused(top_up(CID, TEACHER, "t1", 100, now=AFTER), CreditAccountExpired)
    before = snapshot(books.account)
    again = books.run(replace(expire, now=AFTER + SECOND))
    assert again.returned_cents == first.returned_cents and again.already_expired
    assert not first.already_expired
    assert snapshot(books.account) == before


def test_a_refund_after_year_end_expiry_goes_back_to_the_funders(books: Books):
    hold_id = books.run(place(CID, TEACHER, "h1", 5000)).hold_id
    books.run(capture(CID, TEACHER, "c1", hold_id, 5000))
    books.run(ExpireRemainder(campaign_id=CID, teacher_id=TEACHER, by="operator", now=AFTER))
    books.run(refund(CID, TEACHER, "f1", hold_id, 1000, now=AFTER))
    refunded = books.log[-1]
    assert isinstance(refunded, CreditAccount.Refunded)
    assert refunded.returned == (("etat", 700), ("region-idf", 300))
    assert (books.account.available_cents, books.account.captured_cents) == (0, 4000)
    assert books.account.returned_cents == 2800 + 1000  # the remainder, then the refund


# Idempotency -----------------------------------------------------------------------------


def purchase(account: CreditAccount) -> list[KeyedCommand]:
    h1 = derived_id(account.id, "place_hold", "h1")
    h2 = derived_id(account.id, "place_hold", "h2")
    return [
        top_up(CID, TEACHER, "t1", 2200),
        place(CID, TEACHER, "h1", 3000),
        capture(CID, TEACHER, "c1", h1, 2000),
        refund(CID, TEACHER, "f1", h1, 500),
        place(CID, TEACHER, "h2", 400),
        release(CID, TEACHER, "r2", h2),
    ]


def test_a_retry_with_the_same_key_records_nothing_and_answers_as_the_first_time(
    books: Books,
):
    commands = purchase(books.account)
    first = [books.run(command) for command in commands]
    before = snapshot(books.account)
    # A retry may come later and from another worker: `by` and `now` are not the request.
    again = [replace(c, by="retrier", now=DURING + 60 * SECOND) for c in commands]
    assert [command.apply_to(books.account) for command in again] == first
    assert snapshot(books.account) == before
    assert books.account.pending_events == []


def test_a_key_reused_with_another_request_is_refused(books: Books):
    for command in purchase(books.account):
        books.run(command)
    h1 = derived_id(books.account.id, "place_hold", "h1")
    h2 = derived_id(books.account.id, "place_hold", "h2")
    reused = [
        top_up(CID, TEACHER, "t1", 2300),
        top_up(CID, TEACHER, "t1", 2200, authority="region-11"),
        place(CID, TEACHER, "h1", 3001),
        replace(place(CID, TEACHER, "h1", 3000), ttl_s=60),
        replace(place(CID, TEACHER, "h1", 3000), vendor_id="vendor-2"),
        capture(CID, TEACHER, "c1", h1, 1999),
        refund(CID, TEACHER, "f1", h1, 400),
        release(CID, TEACHER, "r2", h1),
    ]
    for command in reused:
        books.refused(command, IdempotencyKeyReused)
    assert books.account.holds[h2].status is HoldStatus.RELEASED


# The books -------------------------------------------------------------------------------


def test_a_year_of_events_shows_where_every_cent_went():
    books = open_books()
    hold_a = books.run(place(CID, TEACHER, "a", 6000)).hold_id
    hold_b = derived_id(books.account.id, "place_hold", "b")
    for command in [
        top_up(CID, TEACHER, "t1", 2200),  # funding: 5460 + 2340 + 2200 = 10000
        capture(CID, TEACHER, "ca", hold_a, 5000),  # 1000 comes back
        place(CID, TEACHER, "b", 1000),
        release(CID, TEACHER, "rb", hold_b),
        place(CID, TEACHER, "c", 500, ttl_s=60),
        place(CID, TEACHER, "d", 200, now=DURING + 120 * SECOND),  # "c" expires first
        refund(CID, TEACHER, "fa", hold_a, 1000),
    ]:
        books.run(command)
    books.close_campaign(now=AFTER)
    books.run(ExpireRemainder(campaign_id=CID, teacher_id=TEACHER, by="operator", now=AFTER))
    books.run(refund(CID, TEACHER, "fa-2", hold_a, 2000, now=AFTER))  # after the expiry

    credit_events = {
        t for t in MONEY_EVENT_TYPES if t.__qualname__.startswith(("Campaign.", "CreditAccount."))
    }
    assert {type(e) for e in books.log if postings(e)} == credit_events
    for event in books.log:
        moves = postings(event)
        assert all(p.amount_cents > 0 and p.source != p.destination for p in moves)
        assert sum(fold([event]).values()) == 0  # what sources lose, destinations gain
    balances = fold(books.log)
    assert balances[funder("etat")] == -546000 + (546000 - 5460) + 3276 + 1092
    assert balances[funder("region-idf")] == -234000 + (234000 - 2340) + 1404 + 468
    assert balances[funder("commune-75056")] == -2200 + 1320 + 440
    assert balances[campaign_budget(CID)] == 0
    assert books.account.captured_cents == 2000
    books.assert_consistent()


def test_opening_a_campaign_moves_each_funders_contribution_to_its_budget(books: Books):
    (opened,) = [e for e in books.log if isinstance(e, Campaign.Opened)]
    assert fold([opened]) == {
        funder("etat"): -546000,
        funder("region-idf"): -234000,
        campaign_budget(CID): 780000,
    }


def test_events_that_move_no_money_post_nothing(books: Books):
    (granted,) = [e for e in books.log if isinstance(e, Campaign.CreditsGranted)]
    assert postings(granted) == ()


operation = st.one_of(
    st.tuples(st.just("place"), st.integers(1, 4000), st.integers(1, 7200)),
    st.tuples(st.just("place"), st.integers(1, 4000), st.integers(1, 7200)),
    st.tuples(st.just("capture"), st.integers(0, 3), st.integers(1, 110)),  # percent
    st.tuples(st.just("capture"), st.integers(0, 3), st.integers(1, 110)),
    st.tuples(st.just("release"), st.integers(0, 3)),
    st.tuples(st.just("refund"), st.integers(0, 3), st.integers(1, 110)),
    st.tuples(st.just("refund"), st.integers(0, 3), st.integers(1, 110)),
    st.tuples(st.just("top_up"), st.integers(1, 5000)),
    st.tuples(st.just("wait"), st.integers(1, 4 * 3600)),
    st.tuples(st.just("retry"), st.integers(0, 40)),
)


@given(
    during=st.lists(operation, min_size=3, max_size=30),
    after=st.lists(operation, max_size=8),
)
def test_any_sequence_of_commands_keeps_the_books_balanced(during, after):
    """Commands in the campaign, then the year-end expiry, then more (mostly refused)."""
    books = open_books()
    holds: list[UUID] = []
    sent: list[AccountCommand] = []
    now = DURING
    for n, (kind, *args) in enumerate([*during, ("year_end",), *after]):
        if kind == "wait":
            now += args[0] * SECOND
            continue
        if kind == "year_end":
            now = max(now, AFTER)
        command = build(kind, args, f"k{n}", now, books.account, holds, sent)
        before = snapshot(books.account)
        try:
            receipt = books.run(command)
        except DomainError:
            assert snapshot(books.account) == before
        else:
            if isinstance(receipt, HoldReceipt):
                holds.append(receipt.hold_id)
        sent.append(command)
        books.assert_consistent()
    assert books.account.is_expired and books.account.available_cents == 0


def build(kind, args, key, now, account, holds, sent) -> AccountCommand:
    """The command an operation stands for; amounts on a hold are a percentage of it."""
    hold_id, share = NEVER_PLACED, 100  # one of the latest holds, or one never placed
    if kind in ("capture", "release", "refund") and holds and args[0] < 3:
        hold_id = holds[-1 - args[0] % len(holds)]
        hold = account.holds[hold_id]
        whole = hold.amount_cents if kind == "capture" else hold.captured_cents
        share = max(1, whole * args[-1] // 100)
    if kind == "place":
        return place(CID, TEACHER, key, args[0], now=now, ttl_s=args[1])
    if kind == "capture":
        return capture(CID, TEACHER, key, hold_id, share, now=now)
    if kind == "release":
        return release(CID, TEACHER, key, hold_id, now=now)
    if kind == "refund":
        return refund(CID, TEACHER, key, hold_id, share, now=now)
    if kind == "top_up":
        return top_up(CID, TEACHER, key, args[0], now=now)
    if kind == "retry" and sent:
        return sent[args[0] % len(sent)]
    return ExpireRemainder(campaign_id=CID, teacher_id=TEACHER, by="operator", now=now)
