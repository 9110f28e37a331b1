"""Co-financing without I/O: pledges and payments per funder, the matched amount, spends
within it with their lineage, returns at the end, and every refusal recording nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import accounts
from ledger.cofinancing import CoFinancing, SpendPurpose, cofinancing_id
from ledger.errors import (
    CoFinancingClosed,
    IdempotencyKeyReused,
    InvalidAmount,
    InvalidFunders,
    InvalidInput,
    MatchedAmountExceeded,
    PaymentExceedsPledge,
)
from ledger.matching import KINDS, FunderKind, matched_cents, split_by_kind
from ledger.territories import Territory

NOW = datetime(2028, 1, 10, tzinfo=UTC)
FUNDERS = {"bdt": "operator", "metropole-lyon": "local_authority", "orange": "company"}


def opened(ratio: tuple[int, int, int] = (1, 1, 1)) -> CoFinancing:
    territory = Territory.register(
        code="lyon",
        name="Métropole de Lyon",
        kind="metropolis",
        budget_cents=100_000,
        funder_id="bdt",
        by="operator",
        now=NOW,
    )
    cofinancing = CoFinancing.open(territory=territory, ratio=ratio, by="operator", now=NOW)
    cofinancing.collect_events()
    return cofinancing


def pay(c: CoFinancing, funder: str, cents: int, kind: str | None = None) -> None:
    kind = kind or FUNDERS[funder]
    n = len(c.keys)
    c.pledge(key=f"p{n}", funder_id=funder, funder_kind=kind, amount_cents=cents, by="f", now=NOW)
    c.receive_payment(key=f"r{n}", funder_id=funder, amount_cents=cents, by="f", now=NOW)


def funded(operator: int, authority: int, company: int, **ratio) -> CoFinancing:
    c = opened(**ratio)
    for funder, cents in zip(FUNDERS, (operator, authority, company), strict=True):
        pay(c, funder, cents)
    c.collect_events()
    return c


def spend(c: CoFinancing, cents: int, key: str = "s1") -> tuple[tuple[str, int], ...]:
    return c.spend(
        key=key, amount_cents=cents, purpose="devices", reference="inv-1", by="op", now=NOW
    )


def state(c: CoFinancing) -> tuple:
    return (c.version, c.report(), dict(c.keys), c.is_closed)


def assert_refused(c: CoFinancing, error: type[Exception], action) -> None:
    before = state(c)
    with pytest.raises(error):
        action()
    assert c.collect_events() == [] and state(c) == before


# Matching ---------------------------------------------------------------------------------


def test_the_matched_amount_is_three_times_the_smallest_kind_s_payments():
    c = funded(1000, 400, 700)
    assert c.matched_cents == 1200 and c.available_cents == 1200
    assert c.id == cofinancing_id("lyon")


def test_with_another_ratio_each_kind_must_have_paid_its_share():
    assert matched_cents([1000, 400, 700], (2, 1, 1)) == min(2000, 1600, 2800)
    c = funded(1000, 400, 700, ratio=(2, 1, 1))
    assert c.matched_cents == 1600


def test_a_kind_that_paid_nothing_leaves_nothing_matched():
    c = opened()
    pay(c, "bdt", 1000)
    pay(c, "metropole-lyon", 1000)
    c.collect_events()
    assert c.matched_cents == 0
    assert_refused(c, MatchedAmountExceeded, lambda: spend(c, 1))


@pytest.mark.parametrize("ratio", [(1, 1), (0, 1, 1), (1, 1, 101), (1.0, 1, 1)])
def test_a_ratio_is_three_whole_weights(ratio):
    with pytest.raises(InvalidFunders):
        opened(ratio)


# Pledges and payments -----------------------------------------------------------------------


def test_a_funder_pays_what_it_pledged_and_no_more():
    c = opened()
    c.pledge(key="p1", funder_id="bdt", funder_kind="operator", amount_cents=500, by="f", now=NOW)
    c.receive_payment(key="r1", funder_id="bdt", amount_cents=300, by="f", now=NOW)
    c.collect_events()
    assert_refused(
        c,
        PaymentExceedsPledge,
        lambda: c.receive_payment(key="r2", funder_id="bdt", amount_cents=201, by="f", now=NOW),
    )
    assert_refused(
        c,
        PaymentExceedsPledge,
        lambda: c.receive_payment(key="r3", funder_id="orange", amount_cents=1, by="f", now=NOW),
    )


def test_a_funder_is_of_one_kind():
    c = funded(100, 100, 100)
    assert_refused(
        c,
        InvalidFunders,
        lambda: c.pledge(
            key="p9", funder_id="bdt", funder_kind="company", amount_cents=1, by="f", now=NOW
        ),
    )


@pytest.mark.parametrize(
    "terms, error",
    [
        ({"amount_cents": 0}, InvalidAmount),
        ({"funder_kind": "state"}, InvalidInput),
        ({"funder_id": "Région Auvergne"}, InvalidInput),
        ({"key": "a key"}, InvalidInput),
    ],
)
def test_a_bad_pledge_is_refused(terms, error):
    c = opened()
    fields = {"key": "p1", "funder_id": "bdt", "funder_kind": "operator", "amount_cents": 5}
    assert_refused(c, error, lambda: c.pledge(**{**fields, **terms}, by="f", now=NOW))


def test_a_retried_entry_records_nothing_and_a_key_reused_is_refused():
    c = opened()
    c.pledge(key="p1", funder_id="bdt", funder_kind="operator", amount_cents=500, by="f", now=NOW)
    c.collect_events()
    c.pledge(key="p1", funder_id="bdt", funder_kind="operator", amount_cents=500, by="f", now=NOW)
    assert c.collect_events() == []
    assert_refused(
        c,
        IdempotencyKeyReused,
        lambda: c.pledge(
            key="p1", funder_id="bdt", funder_kind="operator", amount_cents=501, by="f", now=NOW
        ),
    )


# Spends and their lineage -------------------------------------------------------------------


def test_a_spend_within_the_matched_amount_records_its_lineage():
    c = funded(1000, 100, 100)
    assert spend(c, 300) == (("bdt", 100), ("metropole-lyon", 100), ("orange", 100))
    assert (c.spent_cents, c.available_cents) == (300, 0)
    event = c.collect_events()[0]
    assert (event.purpose, event.reference) == (SpendPurpose.DEVICES, "inv-1")


def test_a_spend_beyond_the_matched_amount_is_refused_and_changes_nothing():
    c = funded(1000, 100, 100)
    spend(c, 200)
    c.collect_events()
    assert_refused(c, MatchedAmountExceeded, lambda: spend(c, 101, key="s2"))


def test_a_spend_retried_answers_its_lineage_again_and_its_key_is_not_reused():
    c = funded(500, 500, 500)
    first = spend(c, 100)
    c.collect_events()
    assert spend(c, 100) == first and c.collect_events() == []
    assert_refused(c, IdempotencyKeyReused, lambda: spend(c, 101))


def test_within_a_kind_a_spend_draws_on_each_funder_by_what_it_has_left():
    c = opened()
    pay(c, "bdt", 300)
    pay(c, "metropole-lyon", 200)
    pay(c, "grand-lyon", 100, kind="local_authority")
    pay(c, "orange", 300)
    assert spend(c, 300) == (
        ("bdt", 100),
        ("grand-lyon", 33),
        ("metropole-lyon", 67),
        ("orange", 100),
    )


def test_one_cent_spends_rotate_between_the_kinds_and_never_overdraw_one():
    c = funded(2, 2, 2)
    lineage = [spend(c, 1, key=f"s{n}") for n in range(6)]
    assert [funder for ((funder, _),) in lineage] == [
        "bdt",
        "metropole-lyon",
        "orange",
        "bdt",
        "metropole-lyon",
        "orange",
    ]


# Closing ----------------------------------------------------------------------------------


def test_closing_returns_each_funder_what_of_its_payments_was_not_spent():
    c = funded(1000, 400, 700)
    spend(c, 900)
    assert c.close(by="operator", now=NOW) == (
        ("bdt", 700),
        ("metropole-lyon", 100),
        ("orange", 400),
    )
    report = c.report()
    assert (report.paid_cents, report.spent_cents, report.returned_cents) == (2100, 900, 1200)
    assert report.available_cents == 0


def test_once_closed_nothing_moves_and_closing_again_answers_the_same():
    c = funded(100, 100, 100)
    returned = c.close(by="operator", now=NOW)
    c.collect_events()
    assert c.close(by="operator", now=NOW) == returned and c.collect_events() == []
    assert_refused(c, CoFinancingClosed, lambda: spend(c, 1))
    assert_refused(c, CoFinancingClosed, lambda: pay(c, "bdt", 1))


def test_the_report_gives_pledged_paid_matched_spent_per_kind_and_funder():
    c = opened()
    c.pledge(key="p", funder_id="bdt", funder_kind="operator", amount_cents=900, by="f", now=NOW)
    pay(c, "bdt", 300)
    pay(c, "metropole-lyon", 200)
    pay(c, "orange", 250)
    spend(c, 600)
    report = c.report()
    assert (report.pledged_cents, report.paid_cents, report.matched_cents) == (1650, 750, 600)
    assert [(k.kind, k.paid_cents, k.spent_cents) for k in report.kinds] == [
        (FunderKind.OPERATOR, 300, 200),
        (FunderKind.LOCAL_AUTHORITY, 200, 200),
        (FunderKind.COMPANY, 250, 200),
    ]
    bdt = report.funders[0]
    assert (bdt.funder_id, bdt.pledged_cents, bdt.paid_cents, bdt.spent_cents) == (
        "bdt",
        1200,
        300,
        200,
    )


def test_payments_spends_and_returns_post_and_the_pledges_do_not():
    c = opened()
    pay(c, "bdt", 300)
    pay(c, "metropole-lyon", 200)
    pay(c, "orange", 250)
    spend(c, 600)
    c.close(by="operator", now=NOW)
    balances = accounts.fold(c.collect_events())
    assert sum(balances.values()) == 0
    assert balances == {
        accounts.funder("bdt"): -200,
        accounts.funder("metropole-lyon"): -200,
        accounts.funder("orange"): -200,
        accounts.cofinancing(c.id): 0,
        accounts.cofinancing_spent(c.id): 600,
    }


# Properties -------------------------------------------------------------------------------

weights = st.integers(1, 5)
ratios = st.tuples(weights, weights, weights)
funders = st.sampled_from(["bdt", "cdc", "region", "commune", "orange", "sncf"])
KIND_OF = {"bdt": "operator", "cdc": "operator", "region": "local_authority"}
KIND_OF |= {"commune": "local_authority", "orange": "company", "sncf": "company"}
moves = st.lists(
    st.one_of(
        st.tuples(st.just("pay"), funders, st.integers(1, 5000)),
        st.tuples(st.just("spend"), st.just(""), st.integers(1, 5000)),
    ),
    max_size=30,
)


@given(ratio=ratios, moves=moves)
def test_spends_stay_matched_their_lineage_sums_and_returns_give_back_the_rest(ratio, moves):
    c = opened(ratio)
    for n, (move, funder, cents) in enumerate(moves):
        if move == "pay":
            pay(c, funder, cents, KIND_OF[funder])
            continue
        cents = min(cents, c.available_cents)
        if cents:
            lineage = spend(c, cents, key=f"s{n}")
            assert sum(c for _, c in lineage) == cents and all(c > 0 for _, c in lineage)
        assert c.spent_cents <= c.matched_cents
        assert all(c.spent.get(f, 0) <= paid for f, paid in c.paid.items())
        # Each kind's share of all spending stays within a cent of the ratio.
        total, weight = c.spent_cents, sum(ratio)
        for spent, w in zip(c.by_kind(c.spent), ratio, strict=True):
            assert abs(spent * weight - total * w) < weight
    unspent = sum(c.paid.values()) - c.spent_cents
    returned = c.close(by="operator", now=NOW)
    assert sum(cents for _, cents in returned) == unspent
    left = {f: paid - c.spent.get(f, 0) for f, paid in c.paid.items()}
    assert dict(returned) == {f: cents for f, cents in left.items() if cents}
    assert sum(accounts.fold(c.collect_events()).values()) == 0


@given(
    ratio=ratios,
    spends=st.lists(st.integers(1, 10**6), max_size=20),
)
def test_a_kind_is_never_spent_beyond_its_share_rounded_up(ratio, spends):
    spent = [0, 0, 0]
    weight = sum(ratio)
    for amount in spends:
        parts = split_by_kind(amount, spent, ratio)
        assert sum(parts) == amount and min(parts) >= 0
        spent = [s + p for s, p in zip(spent, parts, strict=True)]
        total = sum(spent)
        for s, w in zip(spent, ratio, strict=True):
            assert total * w - weight < s * weight < total * w + weight
    assert len(KINDS) == 3
