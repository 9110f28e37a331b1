"""Values of the internet fund and their checks: periods, amounts, dates and rates.

A **period** of the fund is a year (`2027`), a half (`2027-S1`), a quarter (`2027-T3`) or a
month (`2027-09`): levies are declared and households subsidised per period.

A **rate** is the regulator's contribution rate: an exact fraction of revenue, never a
float, kept in lowest terms so that one rate has one form. A levy is revenue × rate
rounded to the cent **half up** (`Rate.levy_cents`): to the nearest cent, a half cent up to
the next (revenues are never negative), computed with integers alone as `(2·r·n + d) //
(2·d)` for r cents at the rate n/d.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from math import gcd

from ledger.errors import InvalidAmount, InvalidInput, InvalidPeriod, InvalidRate
from ledger.money import MAX_AMOUNT_CENTS

MAX_RATE_DENOMINATOR = 10**12  # a rate as fine as a millionth of a millionth
_PERIOD = re.compile(r"^20[0-9]{2}(?:-(?:S[12]|T[1-4]|0[1-9]|1[0-2]))?$")


def check_period(period: str) -> str:
    """A period of the fund: `2027`, `2027-S1`, `2027-T3` or `2027-09`."""
    if not isinstance(period, str) or not _PERIOD.match(period):
        raise InvalidPeriod(
            "a period is a year (2027), a half (2027-S1), a quarter (2027-T3) or a month (2027-09)",
            field="period",
        )
    return period


def check_amount(amount_cents: int, what: str, *, zero_allowed: bool = False) -> int:
    low = 0 if zero_allowed else 1
    if type(amount_cents) is not int or not low <= amount_cents <= MAX_AMOUNT_CENTS:
        kind = "0 or more" if zero_allowed else "more than 0"
        raise InvalidAmount(f"a {what} is a number of cents, {kind}", field=what)
    return amount_cents


def check_date(value: date, what: str) -> date:
    if type(value) is not date:
        raise InvalidInput(f"a {what} is a calendar date", field=what)
    return value


@dataclass(frozen=True, slots=True)
class Rate:
    """A contribution rate: the exact fraction numerator/denominator of revenue, 0 < rate
    ≤ 1, kept in lowest terms so that one rate has one form."""

    numerator: int
    denominator: int

    def __post_init__(self) -> None:
        if type(self.numerator) is not int or type(self.denominator) is not int:
            raise InvalidRate("a rate is a fraction of whole numbers", field="rate")
        if not 0 < self.numerator <= self.denominator <= MAX_RATE_DENOMINATOR:
            raise InvalidRate(
                f"a rate is more than 0 and at most 1, its denominator at most "
                f"{MAX_RATE_DENOMINATOR}",
                field="rate",
            )
        if gcd(self.numerator, self.denominator) != 1:
            raise InvalidRate("a rate is kept in lowest terms: use Rate.of", field="rate")

    @classmethod
    def of(cls, numerator: int, denominator: int) -> Rate:
        """The rate numerator/denominator, in lowest terms (35/10000 is 7/2000)."""
        if type(numerator) is not int or type(denominator) is not int or denominator <= 0:
            raise InvalidRate("a rate is a fraction of whole numbers", field="rate")
        common = gcd(numerator, denominator) or 1
        return cls(numerator // common, denominator // common)

    def levy_cents(self, revenue_cents: int) -> int:
        """revenue × rate, to the nearest cent, a half cent rounded up."""
        assert revenue_cents >= 0, "revenues are checked"
        return (2 * revenue_cents * self.numerator + self.denominator) // (2 * self.denominator)
