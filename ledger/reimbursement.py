"""Reimbursement rules: how much of a redemption the operator pays back to the vendor.

A teacher spends credit at a vendor; the vendor then claims the money from the operator.
The operator does not always pay back the whole amount: the programme may reimburse small
vendors in full and take a share from the largest, so that the public money favours the
many small French EdTechs the policy wants listed. A **reimbursement rule** says how much,
and is in force for a period (`valid_from` inclusive, `valid_until` exclusive): the rule
that applies to a redemption is the one in force when it was captured.

A rule is a list of **tiers**, each a pair (threshold in cents, rate in basis points). The
threshold is measured on the vendor's *yearly total*: the sum of the captured amounts it
has already claimed that year (the base, not what was paid out). A tier's rate applies
from its threshold up to the next one; the first tier starts at 0. 100 % is
`((0, 10_000),)`; "100 % up to 50 000 €, then 90 %" is `((0, 10_000), (5_000_000, 9_000))`.

`reimbursed_cents` splits an amount across the tiers it straddles, given the vendor's total
before it, with integer arithmetic only. **Rounding is down, per tier**: each tier's part
pays `part * rate // 10_000` cents, so a line is never paid more than its rate allows and
loses at most one cent per tier it touches. Hence the reimbursed amount never exceeds the
amount, never decreases when the amount grows, and equals it at 100 %.

A `RuleBook` is the tuple of rules over time. Rules never overlap (checked when the book
is built), so at any moment at most one rule is in force; gaps are allowed, and a
redemption captured in a gap cannot be claimed until a rule covers it.

The vendor's yearly total is a `VendorYear` tally, one aggregate per vendor and calendar
year (UTC), saved with every claim that changes it (`ledger.claims`), so two concurrent
claims never price their lines from the same total. `price_lines` fills the tiers with a
claim's redemptions in capture order.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from ledger.errors import (
    InvalidClaim,
    InvalidReimbursementRule,
    NoReimbursementRule,
    OverlappingRules,
)
from ledger.ids import TIRELIRE_NAMESPACE, check_opaque_id
from ledger.money import MAX_AMOUNT_CENTS

FULL_RATE_BP = 10_000  # 100 %, in basis points
MAX_CLAIM_LINES = 500  # redemptions in one claim
MAX_TIERS = 8
MAX_RULES = 100

Tiers = tuple[tuple[int, int], ...]  # (threshold in cents of the yearly total, rate in bp)
Line = tuple[UUID, UUID, int, int, str]  # account, hold, captured, reimbursed cents, rule


@dataclass(frozen=True, slots=True)
class ReimbursementRule:
    """Tiers of reimbursement in force from `valid_from` (inclusive) to `valid_until`."""

    rule_id: str
    valid_from: datetime
    valid_until: datetime
    tiers: Tiers

    def __post_init__(self) -> None:
        check_opaque_id(self.rule_id, "rule id")
        for moment in (self.valid_from, self.valid_until):
            if not isinstance(moment, datetime) or moment.tzinfo is None:
                raise InvalidReimbursementRule("a rule's period is timezone-aware date-times")
        if self.valid_from >= self.valid_until:
            raise InvalidReimbursementRule("a rule's period ends after it starts")
        object.__setattr__(self, "tiers", check_tiers(self.tiers))

    def is_in_force(self, moment: datetime) -> bool:
        return self.valid_from <= moment < self.valid_until


def check_tiers(tiers: Tiers) -> Tiers:
    """Tiers as a tuple of pairs: first at 0, thresholds rising, rates from 0 to 100 %."""
    try:
        tiers = tuple((threshold, rate) for threshold, rate in tiers)
    except (TypeError, ValueError):
        raise InvalidReimbursementRule("tiers are (threshold cents, rate bp) pairs") from None
    if not 1 <= len(tiers) <= MAX_TIERS:
        raise InvalidReimbursementRule(f"a rule has 1 to {MAX_TIERS} tiers")
    if tiers[0][0] != 0:
        raise InvalidReimbursementRule("the first tier starts at 0 cents")
    for threshold, rate in tiers:
        if type(threshold) is not int or not 0 <= threshold <= MAX_AMOUNT_CENTS:
            raise InvalidReimbursementRule(f"threshold {threshold!r} is not whole cents")
        if type(rate) is not int or not 0 <= rate <= FULL_RATE_BP:
            raise InvalidReimbursementRule(f"rate {rate!r} is not 0 to {FULL_RATE_BP} bp")
    thresholds = [threshold for threshold, _ in tiers]
    if any(a >= b for a, b in itertools.pairwise(thresholds)):
        raise InvalidReimbursementRule("tier thresholds rise strictly")
    return tiers


def reimbursed_cents(
    rule: ReimbursementRule, amount_cents: int, vendor_year_total_before_cents: int
) -> int:
    """What the operator pays back for `amount_cents`, the vendor having claimed
    `vendor_year_total_before_cents` already this year.

    The amount occupies [before, before + amount) of the vendor's yearly total; each tier
    pays its rate on the part of that span between its threshold and the next, rounded
    down per tier (`part * rate // 10_000`).
    """
    assert type(amount_cents) is int and amount_cents >= 0, amount_cents
    assert type(vendor_year_total_before_cents) is int, vendor_year_total_before_cents
    assert vendor_year_total_before_cents >= 0, vendor_year_total_before_cents
    start = vendor_year_total_before_cents
    end = start + amount_cents
    uppers = [threshold for threshold, _ in rule.tiers[1:]] + [end]
    total = 0
    for (threshold, rate), upper in zip(rule.tiers, uppers, strict=True):
        part = max(0, min(end, upper) - max(start, threshold))
        total += part * rate // FULL_RATE_BP
    return total


@dataclass(frozen=True, slots=True)
class RuleBook:
    """Every reimbursement rule over time; no two in force at the same moment."""

    rules: tuple[ReimbursementRule, ...]

    def __post_init__(self) -> None:
        rules = tuple(sorted(self.rules, key=lambda rule: rule.valid_from))
        assert all(isinstance(rule, ReimbursementRule) for rule in rules), "rules are rules"
        if len(rules) > MAX_RULES:
            raise InvalidReimbursementRule(f"a rule book holds at most {MAX_RULES} rules")
        if len({rule.rule_id for rule in rules}) != len(rules):
            raise InvalidReimbursementRule("each rule id appears once")
        for earlier, later in itertools.pairwise(rules):
            if later.valid_from < earlier.valid_until:
                raise OverlappingRules(
                    f"rules {earlier.rule_id!r} and {later.rule_id!r} overlap",
                    rule_ids=(earlier.rule_id, later.rule_id),
                )
        object.__setattr__(self, "rules", rules)

    def rule_at(self, moment: datetime) -> ReimbursementRule:
        """The rule in force at a moment; refused when none is."""
        for rule in self.rules:
            if rule.is_in_force(moment):
                return rule
        raise NoReimbursementRule(f"no reimbursement rule is in force at {moment.isoformat()}")


def default_rule_book() -> RuleBook:
    """The programme's rule unless told otherwise: each vendor's first 500 000 € of a year
    are reimbursed in full, what it sells beyond at 90 %."""
    return RuleBook(
        (
            ReimbursementRule(
                "programme-2024",
                datetime(2024, 1, 1, tzinfo=UTC),
                datetime(2100, 1, 1, tzinfo=UTC),
                ((0, FULL_RATE_BP), (50_000_000, 9_000)),
            ),
        )
    )


@dataclass(frozen=True, slots=True)
class Redemption:
    """A captured hold, as the vendor claims it."""

    account_id: UUID
    hold_id: UUID
    vendor_id: str
    captured_cents: int
    captured_at: datetime


def check_redemptions(
    vendor_id: str, redemptions: tuple[Redemption, ...], now: datetime
) -> tuple[Redemption, ...]:
    """The redemptions of one claim, checked, in capture order (the order tiers fill in)."""
    check_opaque_id(vendor_id, "vendor id")
    redemptions = tuple(redemptions)
    if not 1 <= len(redemptions) <= MAX_CLAIM_LINES:
        raise InvalidClaim(f"a claim has 1 to {MAX_CLAIM_LINES} redemptions")
    for r in redemptions:
        assert isinstance(r, Redemption), "redemptions are Redemptions"
        if r.vendor_id != vendor_id:
            raise InvalidClaim(f"hold {r.hold_id} was redeemed at another vendor")
        if type(r.captured_cents) is not int or r.captured_cents <= 0:
            raise InvalidClaim(f"hold {r.hold_id} has no positive captured amount")
        if r.captured_at.tzinfo is None or r.captured_at > now:
            raise InvalidClaim(f"hold {r.hold_id} has no past, timezone-aware capture time")
    if len({r.hold_id for r in redemptions}) != len(redemptions):
        raise InvalidClaim("a redemption appears once in a claim")
    return tuple(sorted(redemptions, key=lambda r: (r.captured_at, r.hold_id)))


def vendor_year_id(vendor_id: str, year: int) -> UUID:
    return uuid5(TIRELIRE_NAMESPACE, f"vendor-year:{vendor_id}:{year}")


def reimbursement_year(moment: datetime) -> int:
    return moment.astimezone(UTC).year


def price_lines(
    redemptions: tuple[Redemption, ...], rule_book: RuleBook, year_total_before_cents: int
) -> tuple[Line, ...]:
    """Each redemption with what it is paid back, the tiers filling in the given order."""
    lines: list[Line] = []
    total = year_total_before_cents
    for r in redemptions:
        rule = rule_book.rule_at(r.captured_at)
        paid = reimbursed_cents(rule, r.captured_cents, total)
        lines.append((r.account_id, r.hold_id, r.captured_cents, paid, rule.rule_id))
        total += r.captured_cents
    return tuple(lines)


class VendorYear(Aggregate):
    """A vendor's yearly total of claimed amounts, that tiers are measured on."""

    class Event(Aggregate.Event):
        pass

    class Opened(Aggregate.Created):
        vendor_id: str
        year: int

        def apply(self, tally: VendorYear) -> None:
            tally.vendor_id = self.vendor_id
            tally.year = self.year
            tally.total_cents = 0

    class Counted(Event):
        claim_id: UUID
        amount_cents: int  # negative when lines are uncounted
        counted_at: datetime

        def apply(self, tally: VendorYear) -> None:
            tally.total_cents += self.amount_cents

    @classmethod
    def open(cls, *, vendor_id: str, year: int, now: datetime) -> VendorYear:
        return cls._create(
            cls.Opened,
            id=vendor_year_id(vendor_id, year),
            timestamp=now,
            vendor_id=vendor_id,
            year=year,
        )

    def count(self, *, claim_id: UUID, amount_cents: int, now: datetime) -> None:
        assert self.total_cents + amount_cents >= 0, "a total never goes below zero"
        if amount_cents:
            self.trigger_event(
                self.Counted,
                timestamp=now,
                claim_id=claim_id,
                amount_cents=amount_cents,
                counted_at=now,
            )
