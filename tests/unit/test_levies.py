"""Levies without I/O: the regulator's rate, operators' declarations, corrections by their
difference, payments matched to levies, late and overdue, and every refusal recording
nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from math import floor

import pytest
from eventsourcing.domain import Aggregate
from hypothesis import given
from hypothesis import strategies as st

from ledger import accounts
from ledger.cofinancing import CoFinancing
from ledger.errors import (
    IdempotencyKeyReused,
    InvalidAmount,
    InvalidInput,
    InvalidPeriod,
    InvalidRate,
    InvalidSiren,
    LevyAlreadyDeclared,
    PaymentExceedsLevy,
    RateAlreadyDecided,
)
from ledger.fund_records import MAX_RATE_DENOMINATOR, Rate, check_period
from ledger.levies import LevyPeriod, OperatorLevy, levy_id, levy_period_id
from ledger.money import MAX_AMOUNT_CENTS
from ledger.subsidies import FUND_ID, Fund, HouseholdSubsidy

NOW = datetime(2027, 3, 1, tzinfo=UTC)
DUE = date(2027, 6, 30)
SIREN, OTHER_SIREN = "732829320", "552100554"
RATE = Rate.of(35, 10_000)  # 0.35 % of revenue


def decided(rate: Rate = RATE, period: str = "2027") -> LevyPeriod:
    roll = LevyPeriod.decide(
        period=period,
        rate=rate,
        reference="Décision ARCEP n° 2027-0456",
        decided_on=date(2027, 2, 15),
        due_on=DUE,
        by="arcep",
        now=NOW,
    )
    roll.collect_events()
    return roll


def declared(revenue_cents: int = 1_000_000_00, rate: Rate = RATE) -> OperatorLevy:
    levy = OperatorLevy.declare(
        siren=SIREN, period=decided(rate), revenue_cents=revenue_cents, by="op", now=NOW
    )
    levy.collect_events()
    return levy


def state(levy: OperatorLevy) -> tuple:
    return (levy.version, levy.revenue_cents, levy.levy_cents, levy.paid_cents, dict(levy.keys))


def exact_levy(revenue_cents: int, rate: Rate) -> int:
    """The exact rational, rounded to the cent half up."""
    return floor(
        Fraction(revenue_cents) * Fraction(rate.numerator, rate.denominator) + Fraction(1, 2)
    )


# Rates and rounding ----------------------------------------------------------------------


def test_a_rate_is_an_exact_fraction_in_lowest_terms():
    assert Rate.of(35, 10_000) == Rate(7, 2000)
    assert Rate.of(1, 1) == Rate(1, 1)


@pytest.mark.parametrize(
    "numerator, denominator",
    [(0, 100), (101, 100), (-1, 100), (1, 0), (1, -3), (1, MAX_RATE_DENOMINATOR + 1), (0.5, 1)],
)
def test_a_rate_outside_zero_to_one_or_not_whole_is_refused(numerator, denominator):
    with pytest.raises(InvalidRate):
        Rate.of(numerator, denominator)


def test_a_rate_not_in_lowest_terms_is_refused_when_built_directly():
    with pytest.raises(InvalidRate):
        Rate(35, 10_000)


@pytest.mark.parametrize(
    "revenue_cents, rate, levy_cents",
    [
        (1, Rate.of(1, 2), 1),  # half a cent rounds up
        (3, Rate.of(1, 2), 2),  # 1.5 → 2
        (1, Rate.of(1, 3), 0),  # a third of a cent rounds down
        (2, Rate.of(1, 3), 1),  # two thirds round up
        (1_000_000_00, Rate.of(35, 10_000), 350_000),
        (123_456_789, Rate.of(7, 2000), 432_099),  # 432 098.76… → 432 099
        (0, Rate.of(1, 7), 0),
    ],
)
def test_a_levy_is_revenue_times_rate_rounded_half_up(revenue_cents, rate, levy_cents):
    assert rate.levy_cents(revenue_cents) == levy_cents


@given(
    revenue_cents=st.integers(0, MAX_AMOUNT_CENTS),
    numerator=st.integers(1, 10**6),
    denominator=st.integers(1, 10**6),
)
def test_the_levy_is_the_exact_rational_rounded_half_up(revenue_cents, numerator, denominator):
    if numerator > denominator:
        numerator, denominator = denominator, numerator
    rate = Rate.of(numerator, denominator)
    assert rate.levy_cents(revenue_cents) == exact_levy(revenue_cents, rate)


@pytest.mark.parametrize("period", ["2027", "2027-S1", "2027-S2", "2027-T4", "2027-01", "2027-12"])
def test_a_period_is_a_year_half_quarter_or_month(period):
    assert check_period(period) == period


@pytest.mark.parametrize("period", ["27", "2027-S3", "2027-T5", "2027-13", "2027-00", "", 2027])
def test_another_period_is_refused(period):
    with pytest.raises(InvalidPeriod):
        check_period(period)


# The regulator's decision ------------------------------------------------------------------


def test_a_rate_decision_records_its_reference_dates_and_rate():
    roll = decided()
    assert roll.id == levy_period_id("2027")
    assert (roll.rate, roll.reference, roll.due_on) == (RATE, "Décision ARCEP n° 2027-0456", DUE)
    assert roll.levies == {}


def test_the_same_decision_again_is_a_retry_and_another_is_refused():
    roll = decided()
    roll.check_same_request(decided().request_digest)
    with pytest.raises(RateAlreadyDecided) as refused:
        roll.check_same_request(decided(Rate.of(4, 1000)).request_digest)
    assert isinstance(refused.value, IdempotencyKeyReused)


@pytest.mark.parametrize(
    "decided_on, due_on",
    [(date(2027, 3, 2), date(2027, 6, 30)), (date(2027, 2, 1), date(2027, 1, 31))],
)
def test_a_decision_taken_later_or_due_before_it_is_taken_is_refused(decided_on, due_on):
    with pytest.raises(InvalidInput):
        LevyPeriod.decide(
            period="2027",
            rate=RATE,
            reference="ARCEP",
            decided_on=decided_on,
            due_on=due_on,
            by="arcep",
            now=NOW,
        )


def test_an_operator_is_listed_once_on_the_roll():
    roll = decided()
    roll.list_operator(siren=SIREN, levy_id=levy_id(SIREN, "2027"), by="op", now=NOW)
    roll.list_operator(siren=SIREN, levy_id=levy_id(SIREN, "2027"), by="op", now=NOW)
    assert len(roll.collect_events()) == 1
    assert roll.levies == {SIREN: levy_id(SIREN, "2027")}


# Declarations and corrections --------------------------------------------------------------


def test_a_declaration_computes_the_levy_at_the_period_s_rate():
    levy = declared(1_000_000_00)
    assert levy.id == levy_id(SIREN, "2027")
    assert (levy.levy_cents, levy.outstanding_cents, levy.due_on) == (350_000, 350_000, DUE)


def test_a_second_declaration_with_another_revenue_is_refused():
    levy = declared(1_000_000_00)
    again = OperatorLevy.declare(
        siren=SIREN, period=decided(), revenue_cents=2_000_000_00, by="op", now=NOW
    )
    levy.check_same_request(declared(1_000_000_00).request_digest)
    with pytest.raises(LevyAlreadyDeclared):
        levy.check_same_request(again.request_digest)


@pytest.mark.parametrize(
    "siren, revenue, error",
    [("732829321", 100, InvalidSiren), (SIREN, -1, InvalidAmount), (SIREN, 1.5, InvalidAmount)],
)
def test_a_bad_declaration_is_refused(siren, revenue, error):
    with pytest.raises(error):
        OperatorLevy.declare(siren=siren, period=decided(), revenue_cents=revenue, by="o", now=NOW)


def test_a_correction_records_the_difference_and_never_rewrites():
    levy = declared(1_000_000_00)
    levy.correct(key="c1", revenue_cents=800_000_00, reason="audit", by="op", now=NOW)
    (event,) = levy.collect_events()
    assert isinstance(event, OperatorLevy.Corrected)
    assert (event.revenue_delta_cents, event.levy_delta_cents) == (-200_000_00, -70_000)
    assert (levy.revenue_cents, levy.levy_cents) == (800_000_00, 280_000)


def test_a_correction_retried_records_nothing_and_its_key_is_not_reused():
    levy = declared()
    levy.correct(key="c1", revenue_cents=5, reason="audit", by="op", now=NOW)
    levy.collect_events()
    before = state(levy)
    levy.correct(key="c1", revenue_cents=5, reason="audit", by="op", now=NOW)
    with pytest.raises(IdempotencyKeyReused):
        levy.correct(key="c1", revenue_cents=6, reason="audit", by="op", now=NOW)
    assert levy.collect_events() == [] and state(levy) == before


@pytest.mark.parametrize(
    "revenue, reason, error",
    [(1_000_000_00, "audit", InvalidInput), (-5, "audit", InvalidAmount), (5, " ", InvalidInput)],
)
def test_a_correction_that_changes_nothing_or_is_bad_is_refused(revenue, reason, error):
    levy = declared(1_000_000_00)
    before = state(levy)
    with pytest.raises(error):
        levy.correct(key="c1", revenue_cents=revenue, reason=reason, by="op", now=NOW)
    assert levy.collect_events() == [] and state(levy) == before


@given(
    revenues=st.lists(st.integers(0, 10**13), min_size=1, max_size=8),
    numerator=st.integers(1, 10_000),
)
def test_a_correction_chain_s_levy_is_the_levy_of_the_final_revenue(revenues, numerator):
    rate = Rate.of(numerator, 10_000)
    levy = declared(revenues[0], rate)
    events = []
    for n, revenue in enumerate(revenues[1:]):
        if revenue != levy.revenue_cents:
            levy.correct(key=f"c{n}", revenue_cents=revenue, reason="r", by="op", now=NOW)
            events.extend(levy.collect_events())
    assert levy.revenue_cents == revenues[-1]
    assert levy.levy_cents == exact_levy(levy.revenue_cents, rate)
    assert levy.levy_cents == rate.levy_cents(revenues[0]) + sum(e.levy_delta_cents for e in events)


# Payments, late and overdue ----------------------------------------------------------------


def test_payments_are_matched_to_the_levy_until_it_is_paid():
    levy = declared(1_000_000_00)
    assert levy.receive_payment(payment_ref="VIR-1", amount_cents=300_000, by="bank", now=NOW)
    assert levy.receive_payment(payment_ref="VIR-2", amount_cents=50_000, by="bank", now=NOW)
    assert (levy.paid_cents, levy.outstanding_cents) == (350_000, 0)


def test_a_payment_beyond_what_remains_due_is_refused_and_changes_nothing():
    levy = declared(1_000_000_00)
    levy.receive_payment(payment_ref="VIR-1", amount_cents=300_000, by="bank", now=NOW)
    levy.collect_events()
    before = state(levy)
    with pytest.raises(PaymentExceedsLevy):
        levy.receive_payment(payment_ref="VIR-2", amount_cents=50_001, by="bank", now=NOW)
    assert levy.collect_events() == [] and state(levy) == before


def test_a_payment_retried_records_nothing_and_its_reference_is_not_reused():
    levy = declared()
    levy.receive_payment(payment_ref="VIR-1", amount_cents=100, by="bank", now=NOW)
    levy.collect_events()
    before = state(levy)
    assert not levy.receive_payment(payment_ref="VIR-1", amount_cents=100, by="b", now=NOW)
    with pytest.raises(IdempotencyKeyReused):
        levy.receive_payment(payment_ref="VIR-1", amount_cents=101, by="bank", now=NOW)
    assert levy.collect_events() == [] and state(levy) == before


@pytest.mark.parametrize("amount", [0, -1, 2.5])
def test_a_payment_of_no_cents_is_refused(amount):
    with pytest.raises(InvalidAmount):
        declared().receive_payment(payment_ref="VIR-1", amount_cents=amount, by="b", now=NOW)


def test_a_correction_downwards_may_leave_the_levy_overpaid():
    levy = declared(1_000_000_00)
    levy.receive_payment(payment_ref="VIR-1", amount_cents=350_000, by="bank", now=NOW)
    levy.correct(key="c1", revenue_cents=900_000_00, reason="audit", by="op", now=NOW)
    assert levy.outstanding_cents == -35_000
    with pytest.raises(PaymentExceedsLevy):
        levy.receive_payment(payment_ref="VIR-2", amount_cents=1, by="bank", now=NOW)


def test_a_levy_is_overdue_after_its_due_date_and_a_payment_after_it_is_late():
    levy = declared(1_000_000_00)
    levy.receive_payment(payment_ref="VIR-1", amount_cents=100_000, by="bank", now=NOW)
    on_due_day = datetime(2027, 6, 30, 23, tzinfo=UTC)
    assert levy.status(on_due_day).overdue_cents == 0
    after = on_due_day + timedelta(days=1)
    assert levy.status(after).overdue_cents == 250_000
    levy.receive_payment(payment_ref="VIR-2", amount_cents=250_000, by="bank", now=after)
    status = levy.status(after)
    assert (status.overdue_cents, status.outstanding_cents) == (0, 0)
    assert [p.payment_ref for p in status.late_payments] == ["VIR-2"]


# The books ----------------------------------------------------------------------------------


def test_a_levy_posts_from_the_operator_to_its_receivable_and_from_there_into_the_fund():
    levy = OperatorLevy.declare(
        siren=SIREN, period=decided(), revenue_cents=1_000_000_00, by="op", now=NOW
    )
    levy.receive_payment(payment_ref="VIR-1", amount_cents=300_000, by="bank", now=NOW)
    levy.correct(key="c1", revenue_cents=800_000_00, reason="audit", by="op", now=NOW)
    events = levy.collect_events()
    balances = accounts.fold(events)
    assert sum(balances.values()) == 0
    assert balances == {
        accounts.telecom_operator(SIREN): -280_000,
        accounts.levy_receivable(levy.id): -20_000,  # overpaid by 200 €
        accounts.internet_fund(FUND_ID): 300_000,
    }


# Events -----------------------------------------------------------------------------------

FUND_AGGREGATES = (LevyPeriod, OperatorLevy, Fund, HouseholdSubsidy, CoFinancing)


def own_fields(event_class: type) -> dict[str, str]:
    """The fields an event class of ours declares (the library re-creates `Created` events
    as subclasses of the class written, so the annotations sit on its bases)."""
    fields: dict[str, str] = {}
    for cls in event_class.__mro__:
        if cls.__module__ == event_class.__module__:
            fields.update(vars(cls).get("__annotations__", {}))
    return fields


FUND_EVENTS = [
    cls
    for aggregate in FUND_AGGREGATES
    for cls in vars(aggregate).values()
    if isinstance(cls, type)
    and issubclass(cls, (Aggregate.Event, Aggregate.Created))
    and own_fields(cls)
]


@pytest.mark.parametrize("event_class", FUND_EVENTS, ids=lambda c: c.__qualname__)
def test_the_fund_s_events_hold_plain_immutable_values_and_say_who_and_when(event_class):
    fields = own_fields(event_class)
    for field, text in fields.items():
        assert "float" not in text, f"{event_class.__qualname__}.{field} is a float"
        assert "list" not in text and "dict" not in text and "set" not in text
    assert any(f.endswith("_by") for f in fields) and any(f.endswith("_at") for f in fields)


def test_every_fund_event_that_moves_money_has_postings_and_no_other():
    moving = {OperatorLevy.Declared, OperatorLevy.Corrected, OperatorLevy.PaymentReceived}
    moving |= {HouseholdSubsidy.Paid, CoFinancing.PaymentReceived, CoFinancing.Spent}
    moving |= {CoFinancing.Closed}
    assert set(FUND_EVENTS) & set(accounts.MONEY_EVENT_TYPES) == moving
