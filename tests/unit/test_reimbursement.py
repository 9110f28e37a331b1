"""Reimbursement rules: exact tiered amounts, rules in force over time, the yearly tally."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import InvalidReimbursementRule, NoReimbursementRule, OverlappingRules
from ledger.reimbursement import (
    FULL_RATE_BP,
    Redemption,
    ReimbursementRule,
    RuleBook,
    VendorYear,
    price_lines,
    reimbursed_cents,
    vendor_year_id,
)

Y2027 = datetime(2027, 1, 1, tzinfo=UTC)
Y2028 = datetime(2028, 1, 1, tzinfo=UTC)
Y2029 = datetime(2029, 1, 1, tzinfo=UTC)
FULL = ReimbursementRule("full-2027", Y2027, Y2028, ((0, FULL_RATE_BP),))
# 100 % up to 50 000 €, then 90 %.
DEGRESSIVE = ReimbursementRule("degressive-2028", Y2028, Y2029, ((0, 10_000), (5_000_000, 9_000)))

amounts = st.integers(min_value=0, max_value=10**10)
totals = st.integers(min_value=0, max_value=10**10)
rates = st.integers(0, FULL_RATE_BP)
tiers = st.tuples(
    rates, st.lists(st.tuples(st.integers(1, 10**9), rates), max_size=5, unique_by=lambda t: t[0])
).map(lambda drawn: ((0, drawn[0]), *sorted(drawn[1])))


def rule_with(tiers_: tuple[tuple[int, int], ...]) -> ReimbursementRule:
    return ReimbursementRule("any", Y2027, Y2028, tiers_)


def test_a_full_rule_pays_back_the_whole_amount():
    assert reimbursed_cents(FULL, 12_345, 99_999_999) == 12_345


def test_an_amount_below_the_threshold_is_paid_in_full():
    assert reimbursed_cents(DEGRESSIVE, 100_000, 1_000_000) == 100_000


def test_an_amount_above_the_threshold_is_paid_at_the_lower_rate():
    assert reimbursed_cents(DEGRESSIVE, 100_000, 5_000_000) == 90_000


def test_an_amount_straddling_a_threshold_is_split_across_the_tiers():
    # 1 000 € below the threshold at 100 %, 1 000 € above it at 90 %.
    assert reimbursed_cents(DEGRESSIVE, 200_000, 4_900_000) == 100_000 + 90_000


def test_each_tier_rounds_down_on_its_own_part():
    # 15 cents at 90 % is 13.5: 13. And 1 cent below plus 1 cent above: 1 + 0.
    assert reimbursed_cents(DEGRESSIVE, 15, 5_000_000) == 13
    assert reimbursed_cents(DEGRESSIVE, 2, 4_999_999) == 1


@given(tiers, amounts, totals)
def test_the_reimbursed_amount_never_exceeds_the_amount(tiers_, amount, before):
    assert 0 <= reimbursed_cents(rule_with(tiers_), amount, before) <= amount


@given(tiers, amounts, amounts, totals)
def test_the_reimbursed_amount_grows_with_the_amount(tiers_, a, b, before):
    rule = rule_with(tiers_)
    smaller, larger = sorted((a, b))
    assert reimbursed_cents(rule, smaller, before) <= reimbursed_cents(rule, larger, before)


@given(amounts, totals)
def test_at_full_rate_the_reimbursed_amount_equals_the_amount(amount, before):
    assert reimbursed_cents(FULL, amount, before) == amount


@pytest.mark.parametrize(
    "bad_tiers",
    [(), ((1, 10_000),), ((0, 10_001),), ((0, 10_000), (0, 9_000)), ((0, 9.5),), ((0,),)],
    ids=["none", "not-from-zero", "above-100", "not-rising", "float-rate", "not-a-pair"],
)
def test_a_rule_with_bad_tiers_is_refused(bad_tiers):
    with pytest.raises(InvalidReimbursementRule):
        rule_with(bad_tiers)


def test_a_rule_whose_period_does_not_end_after_it_starts_is_refused():
    with pytest.raises(InvalidReimbursementRule):
        ReimbursementRule("r", Y2028, Y2027, ((0, 10_000),))


def test_a_rule_book_gives_the_rule_in_force_at_a_moment():
    book = RuleBook((DEGRESSIVE, FULL))
    assert book.rule_at(Y2027) is FULL
    assert book.rule_at(Y2028 - timedelta(microseconds=1)) is FULL
    assert book.rule_at(Y2028) is DEGRESSIVE


def test_a_moment_outside_every_rule_is_refused():
    with pytest.raises(NoReimbursementRule):
        RuleBook((FULL,)).rule_at(Y2029)


def test_overlapping_rules_are_refused():
    overlapping = ReimbursementRule("late-2027", Y2027 + timedelta(days=200), Y2029, FULL.tiers)
    with pytest.raises(OverlappingRules):
        RuleBook((FULL, overlapping))


def test_redemptions_fill_the_tiers_in_the_order_given():
    hold = UUID(int=1)
    first = Redemption(UUID(int=9), hold, "v", 4_000_000, Y2028)
    second = Redemption(UUID(int=9), UUID(int=2), "v", 2_000_000, Y2028)
    lines = price_lines((first, second), RuleBook((DEGRESSIVE,)), 0)
    assert [line[3] for line in lines] == [4_000_000, 1_000_000 + 900_000]
    assert {line[4] for line in lines} == {"degressive-2028"}


def test_a_vendor_year_tally_counts_and_uncounts():
    tally = VendorYear.open(vendor_id="v", year=2028, now=Y2028)
    tally.count(claim_id=UUID(int=1), amount_cents=500, now=Y2028)
    tally.count(claim_id=UUID(int=1), amount_cents=-200, now=Y2028)
    assert tally.id == vendor_year_id("v", 2028)
    assert tally.total_cents == 300
    assert len(tally.collect_events()) == 3
