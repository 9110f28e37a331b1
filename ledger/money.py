"""Money: an exact number of euro cents.

Every amount in Tirelire is an integer number of cents held in a small frozen value type.
There is no float anywhere near money: parsing reads the digits of what people type, and
splitting an amount between funders uses the largest-remainder method so the parts always
add up to the whole.

People type amounts the French way ("12,50 €", "1 200", "1.200,50") or the English way
("12.50", "1,200.50"). `Money.parse` accepts both and refuses anything ambiguous or with
more than two decimals rather than guess or round.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ledger.errors import InvalidAmount

# A limit on every amount: ten thousand billion euros, far beyond any budget of the programme.
MAX_AMOUNT_CENTS = 10**15
MAX_TEXT_LENGTH = 40

# French typography: a narrow no-break space between thousands, a no-break space before "€".
THOUSANDS_SEPARATOR = "\u202f"
CURRENCY_SEPARATOR = "\u00a0"

# Amounts per funder, as events hold them: ((funder id, cents), ...).
Amounts = tuple[tuple[str, int], ...]

_SPACES = re.compile(r"[\s\u00a0\u202f\u2009']+")
_CURRENCY = re.compile(r"^(?:€|EUR)\s*|\s*(?:€|EUR|euros?)$", re.IGNORECASE)
_NUMBER = re.compile(r"^[0-9][0-9.,]*$")


@dataclass(frozen=True, order=True, slots=True)
class Money:
    """An amount of euros held as integer cents. Negative amounts are allowed in arithmetic."""

    cents: int

    def __post_init__(self) -> None:
        if type(self.cents) is not int:
            raise InvalidAmount(f"money must be an integer number of cents, not {self.cents!r}")
        if abs(self.cents) > MAX_AMOUNT_CENTS:
            raise InvalidAmount(f"amount beyond the limit of {MAX_AMOUNT_CENTS} cents")

    @classmethod
    def zero(cls) -> Money:
        return cls(0)

    @classmethod
    def euros(cls, euros: int, cents: int = 0) -> Money:
        return cls(euros * 100 + cents)

    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        return Money(self.cents + other.cents)

    def __sub__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        return Money(self.cents - other.cents)

    def __neg__(self) -> Money:
        return Money(-self.cents)

    def __mul__(self, factor: int) -> Money:
        if type(factor) is not int:
            return NotImplemented
        return Money(self.cents * factor)

    __rmul__ = __mul__

    def __bool__(self) -> bool:
        return self.cents != 0

    @property
    def is_positive(self) -> bool:
        return self.cents > 0

    def allocate(self, weights: list[int] | tuple[int, ...]) -> list[Money]:
        """Split into parts proportional to integer weights; the parts sum to exactly self."""
        return [Money(c) for c in allocate_cents(self.cents, weights)]

    @classmethod
    def parse(cls, text: str) -> Money:
        """Read an amount as a person types it; refuse what is ambiguous."""
        return cls(parse_cents(text))

    def format(self) -> str:
        """French style: '1 234,50 €' with a narrow no-break space between thousands."""
        sign = "-" if self.cents < 0 else ""
        euros, cents = divmod(abs(self.cents), 100)
        grouped = f"{euros:,}".replace(",", THOUSANDS_SEPARATOR)
        return f"{sign}{grouped},{cents:02d}{CURRENCY_SEPARATOR}€"

    def __str__(self) -> str:
        return self.format()


def allocate_cents(total_cents: int, weights: list[int] | tuple[int, ...]) -> list[int]:
    """Largest-remainder split of `total_cents` by non-negative integer weights.

    Ties on the remainder go to the earlier weight, so the split is deterministic: replaying
    the same command gives the same parts.
    """
    assert weights, "allocate needs at least one weight"
    assert all(w >= 0 for w in weights), "weights are non-negative"
    weight_sum = sum(weights)
    assert weight_sum > 0, "weights must not all be zero"
    sign = -1 if total_cents < 0 else 1
    magnitude = abs(total_cents)
    parts = [magnitude * w // weight_sum for w in weights]
    remainders = [magnitude * w % weight_sum for w in weights]
    short = magnitude - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:short]:
        parts[i] += 1
    return [sign * p for p in parts]


def parse_cents(text: str) -> int:
    """Parse '12,50 €', '12.50', '1 200', '1.200,50', '-3' into cents; refuse the ambiguous."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidAmount("an amount is required")
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidAmount("amount text is too long")
    raw = _CURRENCY.sub("", text.strip()).strip()
    sign = 1
    if raw[:1] in ("+", "-"):
        sign = -1 if raw[0] == "-" else 1
        raw = raw[1:].strip()
    raw = _SPACES.sub(" ", raw)
    if not raw or not _NUMBER.match(raw.replace(" ", "")):
        raise InvalidAmount(f"not an amount: {text!r}")
    whole, frac = _split_decimal(raw, text)
    groups = re.split(r"[ .,]", whole)
    if len(groups) > 1 and not _groups_of_three(groups):
        raise InvalidAmount(f"misplaced thousands separator in {text!r}")
    cents = int("".join(groups)) * 100 + int(frac.ljust(2, "0"))
    if cents > MAX_AMOUNT_CENTS:
        raise InvalidAmount(f"amount beyond the limit of {MAX_AMOUNT_CENTS} cents")
    return sign * cents


def _split_decimal(raw: str, text: str) -> tuple[str, str]:
    """Find the decimal separator, if any, and split the number there.

    With both '.' and ',' the last one is the decimal separator. One separator that repeats
    groups thousands. One separator used once is decimal when 1 or 2 digits follow it; with
    3 digits after it ("1.200") the amount is ambiguous and refused rather than guessed.
    """
    marks = [c for c in raw if c in ".,"]
    if not marks:
        return raw, ""
    last = max(raw.rfind("."), raw.rfind(","))
    if len(set(marks)) == 1 and len(marks) > 1:
        return raw, ""
    whole, frac = raw[:last], raw[last + 1 :]
    if raw[last] in whole:
        raise InvalidAmount(f"not an amount: {text!r}")
    if not frac.isdigit():
        raise InvalidAmount(f"not an amount: {text!r}")
    if len(frac) == 3 and len(marks) == 1 and " " not in whole:
        raise InvalidAmount(f"ambiguous amount {text!r}: write '1 200' or '1,20'")
    if len(frac) > 2:
        raise InvalidAmount(f"more than two decimals in {text!r}")
    return whole, frac


def _groups_of_three(groups: list[str]) -> bool:
    """'1 234 567' is grouped right: a head of 1 to 3 digits, then groups of exactly 3."""
    head, tail = groups[0], groups[1:]
    return 1 <= len(head) <= 3 and all(len(g) == 3 for g in tail)


def pro_rata(contributions: dict[str, int], amount_cents: int) -> Amounts:
    """Split an amount between contributors by what each put in (names in sorted order).

    Used when unspent credit goes back to its funders: each gets back in proportion to its
    contribution, and the parts add up to the amount exactly.
    """
    names = sorted(contributions)
    weights = [contributions[n] for n in names]
    if amount_cents == 0 or not any(weights):
        return ()
    parts = allocate_cents(amount_cents, weights)
    return tuple((n, c) for n, c in zip(names, parts, strict=True) if c)
