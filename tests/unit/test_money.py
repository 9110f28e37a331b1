"""Money: integer cents, exact arithmetic, fair splits, and amounts as people type them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import InvalidAmount
from ledger.money import MAX_AMOUNT_CENTS, MAX_TEXT_LENGTH, Money

NNBSP = "\u202f"  # narrow no-break space, between thousands
NBSP = "\u00a0"  # no-break space, before the euro sign

amounts = st.integers(min_value=-MAX_AMOUNT_CENTS, max_value=MAX_AMOUNT_CENTS).map(Money)
# Up to 16 weights, zeros allowed, at least one positive (built so, rather than filtered).
weights = st.builds(
    lambda others, positive, at: [*others[:at], positive, *others[at:]],
    st.lists(st.integers(min_value=0, max_value=10**6), max_size=15),
    st.integers(min_value=1, max_value=10**6),
    st.integers(min_value=0, max_value=15),
)


# Arithmetic and comparison ---------------------------------------------------------------


def test_adding_and_subtracting_money_is_exact_in_cents():
    assert Money(1250) + Money(75) == Money(1325)
    assert Money(1250) - Money(2000) == Money(-750)
    assert -Money(300) == Money(-300)
    assert Money.euros(12, 50) == Money(1250)
    assert Money.zero() == Money(0)


def test_money_multiplies_by_whole_numbers_only():
    assert Money(125) * 3 == Money(375)
    assert 3 * Money(125) == Money(375)
    for factor in (1.5, True, Money(2)):
        with pytest.raises(TypeError):
            Money(125) * factor


def test_money_does_not_mix_with_bare_numbers():
    with pytest.raises(TypeError):
        Money(100) + 1
    with pytest.raises(TypeError):
        Money(100) - 1
    assert Money(100) != 100


def test_money_compares_by_amount():
    assert Money(-1) < Money(0) < Money(1)
    assert max(Money(5), Money(50), Money(15)) == Money(50)
    assert sorted([Money(3), Money(-2), Money(1)]) == [Money(-2), Money(1), Money(3)]
    assert not Money.zero()
    assert Money(1).is_positive and not Money(0).is_positive and not Money(-1).is_positive
    assert {Money(7), Money(7)} == {Money(7)}


@pytest.mark.parametrize("cents", [12.5, 12.0, True, "1250", None])
def test_money_is_refused_anything_but_an_integer_number_of_cents(cents):
    with pytest.raises(InvalidAmount):
        Money(cents)


def test_money_beyond_the_limit_is_refused_even_as_a_sum():
    assert Money(-MAX_AMOUNT_CENTS).cents == -MAX_AMOUNT_CENTS
    with pytest.raises(InvalidAmount):
        Money(MAX_AMOUNT_CENTS + 1)
    with pytest.raises(InvalidAmount):
        Money(MAX_AMOUNT_CENTS) + Money(1)


# Allocation ------------------------------------------------------------------------------


def test_allocating_gives_the_leftover_cents_to_the_largest_remainders():
    assert Money(100).allocate([1, 1, 1]) == [Money(34), Money(33), Money(33)]
    assert Money(7800).allocate((7, 3)) == [Money(5460), Money(2340)]
    assert Money(5).allocate([1, 0, 4]) == [Money(1), Money(0), Money(4)]
    assert Money(10).allocate([1, 2, 3]) == [Money(2), Money(3), Money(5)]


def test_ties_on_the_remainder_go_to_the_earlier_weight():
    assert Money(1).allocate([1, 1]) == [Money(1), Money(0)]
    assert Money(2).allocate([1, 1, 1]) == [Money(1), Money(1), Money(0)]


def test_allocating_a_negative_amount_mirrors_the_positive_split():
    assert Money(-100).allocate([1, 1, 1]) == [Money(-34), Money(-33), Money(-33)]


@given(total=amounts, weights=weights)
def test_allocated_parts_sum_to_the_whole_each_within_a_cent_of_its_share(total, weights):
    parts = total.allocate(weights)
    weight_sum = sum(weights)
    assert sum((p.cents for p in parts), 0) == total.cents
    assert parts == total.allocate(weights)  # deterministic: a replay gives the same parts
    for part, weight in zip(parts, weights, strict=True):
        # |part - total * weight / weight_sum| < 1 cent, in integers.
        assert abs(part.cents * weight_sum - total.cents * weight) < weight_sum
        assert part.cents * total.cents >= 0  # no part has the opposite sign of the whole


# Parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("12,50 €", 1250),
        ("12.50", 1250),
        ("1 200", 120000),
        ("1.200,50", 120050),
        ("1,200.50", 120050),
        ("-3", -300),
        ("78 €", 7800),
        (f"1{NNBSP}200,00{NBSP}€", 120000),
        ("0,5", 50),
        ("€12", 1200),
        ("12 EUR", 1200),
        ("12 euros", 1200),
        ("+5", 500),
        ("  12,50  ", 1250),
        ("1.200.000", 120000000),
        ("1 234 567,89", 123456789),
    ],
)
def test_amounts_are_read_as_people_type_them(text, cents):
    assert Money.parse(text) == Money(cents)


@pytest.mark.parametrize(
    "text",
    [
        "1.200",  # 1 200 € or 1,20 €: ambiguous
        "12,345",  # ambiguous the same way
        "abc",
        "1 20",  # misplaced thousands separator
        "12.",
        "",
        "   ",
        "12,505",  # more than two decimals
        "1 200,505",
        "1,2.3",
        "1.200,5,0",
        ",50",
        "€",
        "--3",
        "10 000 000 000 000,01",  # one cent over the limit
        "9" * (MAX_TEXT_LENGTH + 1),
    ],
)
def test_ambiguous_or_malformed_amounts_are_refused(text):
    with pytest.raises(InvalidAmount):
        Money.parse(text)


def test_only_text_is_parsed_never_a_float():
    with pytest.raises(InvalidAmount):
        Money.parse(12.5)


# Formatting ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (0, f"0,00{NBSP}€"),
        (5, f"0,05{NBSP}€"),
        (-5, f"-0,05{NBSP}€"),
        (123456, f"1{NNBSP}234,56{NBSP}€"),
        (120000, f"1{NNBSP}200,00{NBSP}€"),
        (100000000, f"1{NNBSP}000{NNBSP}000,00{NBSP}€"),
    ],
)
def test_money_is_written_the_french_way(cents, text):
    assert Money(cents).format() == text
    assert str(Money(cents)) == text


@given(amounts)
def test_reading_what_was_written_gives_back_the_same_amount(money):
    assert Money.parse(money.format()) == money
