"""Levies: what each telecom operator pays into the universal internet service fund.

For each **period** (a year `2027`, a half `2027-S1`, a quarter `2027-T3` or a month
`2027-09`), the regulator (ARCEP) **decides** the contribution rate: an exact fraction of
revenue (numerator and denominator, never a float), with the reference and date of its
decision and the date by which levies are **due**. That decision is the `LevyPeriod`
aggregate, one per period; a decision is never revised (a retry answers as the first time).

Each telecom operator, known by its SIREN, **declares** its revenue from electronic
communication services for the period. Its **levy** is revenue × rate, rounded to the cent
**half up**: to the nearest cent, and a half cent up to the next one (revenues are never
negative). Computed exactly with integers: `(2·r·n + d) // (2·d)` for revenue r cents and
rate n/d (`ledger.fund_records.Rate`). That is the `OperatorLevy` aggregate, one per
operator and period, whose id derives from both: a second declaration is refused (correct
the first instead).

A declaration is **corrected**, never rewritten: a correction records the difference of
revenue and the difference of levy it makes, so the levy after any chain of corrections is
the levy of the last revenue, and the history shows every step. A correction has the
client's key: retried, it records nothing.

**Payments** received are matched to one levy (by the operator's SIREN and the period) under
the bank's reference of the transfer; a payment beyond what remains due is refused. A
correction downwards may leave a levy **overpaid** (paid beyond the levy): it shows as a
negative amount outstanding. A payment received after the due date is **late**; a levy
with an amount outstanding once its due date has passed is **overdue** (its payment is
missing). Dates compare as the ledger's other dates do: the day of `now`, as given.

Each payment is saved in one transaction with the fund it goes into (`ledger.subsidies`),
whose balance pays the households' subsidies.

The books (`ledger.accounts`) post a declaration from the operator to the levy's
receivable account, a correction by its difference, and each payment from the receivable
into the fund: the receivable account of a levy shows what remains due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from ledger.device_records import check_text
from ledger.errors import (
    IdempotencyKeyReused,
    InvalidInput,
    LevyAlreadyDeclared,
    PaymentExceedsLevy,
    RateAlreadyDecided,
)
from ledger.fund_records import Rate, check_amount, check_date, check_period
from ledger.identifiers import check_siren
from ledger.ids import TIRELIRE_NAMESPACE, check_key, request_digest

MAX_REFERENCE_LENGTH = 100
MAX_REASON_LENGTH = 500
MAX_OPERATORS_PER_PERIOD = 10_000  # declarations under one rate decision
MAX_LEVY_ENTRIES = 200  # corrections and payments of one levy


def levy_period_id(period: str) -> UUID:
    return uuid5(TIRELIRE_NAMESPACE, f"levy_period:{check_period(period)}")


def levy_id(siren: str, period: str) -> UUID:
    return uuid5(TIRELIRE_NAMESPACE, f"operator_levy:{check_siren(siren)}:{check_period(period)}")


class LevyPeriod(Aggregate):
    """A period's contribution rate as the regulator decided it, and the operators who
    declared under it. The id is `levy_period_id(period)`."""

    class Event(Aggregate.Event):
        pass

    class RateDecided(Aggregate.Created):
        period: str
        rate_numerator: int
        rate_denominator: int
        reference: str  # the regulator's decision, e.g. « Décision n° 2027-0456 »
        decided_on: date
        due_on: date  # levies of the period are due by the end of this day
        request_digest: str
        decided_by: str
        decided_at: datetime

        def apply(self, period: LevyPeriod) -> None:
            period.period = self.period
            period.rate = Rate(self.rate_numerator, self.rate_denominator)
            period.reference = self.reference
            period.decided_on = self.decided_on
            period.due_on = self.due_on
            period.request_digest = self.request_digest
            period.levies = {}  # SIREN: levy id, in the order they declared

    class OperatorListed(Event):
        siren: str
        levy_id: UUID
        listed_by: str
        listed_at: datetime

        def apply(self, period: LevyPeriod) -> None:
            period.levies[self.siren] = self.levy_id

    @classmethod
    def decide(
        cls,
        *,
        period: str,
        rate: Rate,
        reference: str,
        decided_on: date,
        due_on: date,
        by: str,
        now: datetime,
    ) -> LevyPeriod:
        period = check_period(period)
        reference = check_text(reference, "reference", MAX_REFERENCE_LENGTH)
        check_date(decided_on, "decision date")
        check_date(due_on, "due date")
        if decided_on > now.date():
            raise InvalidInput("a rate decision is recorded once taken", field="decided_on")
        if due_on < decided_on:
            raise InvalidInput("levies fall due after the rate is decided", field="due_on")
        fields = (period, rate.numerator, rate.denominator, reference, decided_on, due_on)
        return cls._create(
            cls.RateDecided,
            id=levy_period_id(period),
            timestamp=now,
            period=period,
            rate_numerator=rate.numerator,
            rate_denominator=rate.denominator,
            reference=reference,
            decided_on=decided_on,
            due_on=due_on,
            request_digest=request_digest("decide_rate", *fields),
            decided_by=by,
            decided_at=now,
        )

    def check_same_request(self, digest: str) -> None:
        if digest != self.request_digest:
            raise RateAlreadyDecided(
                f"the rate of {self.period} is decided already ({self.reference})",
                period=self.period,
            )

    def list_operator(self, *, siren: str, levy_id: UUID, by: str, now: datetime) -> None:
        """Add an operator's levy to the period's roll (nothing if it is there)."""
        if siren in self.levies:
            return
        if len(self.levies) >= MAX_OPERATORS_PER_PERIOD:
            raise InvalidInput(f"a period lists at most {MAX_OPERATORS_PER_PERIOD} operators")
        self.trigger_event(
            self.OperatorListed,
            timestamp=now,
            siren=siren,
            levy_id=levy_id,
            listed_by=by,
            listed_at=now,
        )


@dataclass(frozen=True, slots=True)
class LevyPayment:
    payment_ref: str
    amount_cents: int
    received_at: datetime


@dataclass(frozen=True, slots=True)
class LevyStatus:
    """Where a levy stands at a moment: what is due, paid, late and overdue."""

    levy_id: UUID
    siren: str
    period: str
    due_on: date
    levy_cents: int
    paid_cents: int
    late_payments: tuple[LevyPayment, ...]  # received after the due date
    overdue_cents: int  # outstanding once the due date has passed: the missing payment

    @property
    def outstanding_cents(self) -> int:
        """What remains due; negative when a correction left the levy overpaid."""
        return self.levy_cents - self.paid_cents


class OperatorLevy(Aggregate):
    """A telecom operator's levy for a period. The id is `levy_id(siren, period)`."""

    class Event(Aggregate.Event):
        pass

    class Declared(Aggregate.Created):
        siren: str
        period: str
        rate_numerator: int
        rate_denominator: int
        due_on: date
        revenue_cents: int
        levy_cents: int
        request_digest: str
        declared_by: str
        declared_at: datetime

        def apply(self, levy: OperatorLevy) -> None:
            levy.siren = self.siren
            levy.period = self.period
            levy.rate = Rate(self.rate_numerator, self.rate_denominator)
            levy.due_on = self.due_on
            levy.revenue_cents = self.revenue_cents
            levy.levy_cents = self.levy_cents
            levy.request_digest = self.request_digest
            levy.paid_cents = 0
            levy.payments = ()
            levy.keys = {}  # "correction:{key}" or "payment:{ref}": request digest

    class Corrected(Event):
        key: str
        siren: str  # the operator's, again: the books post a correction on its own
        revenue_delta_cents: int  # the difference made: never the new figure alone
        levy_delta_cents: int
        reason: str
        request_digest: str
        corrected_by: str
        corrected_at: datetime

        def apply(self, levy: OperatorLevy) -> None:
            levy.revenue_cents += self.revenue_delta_cents
            levy.levy_cents += self.levy_delta_cents
            levy.keys[f"correction:{self.key}"] = self.request_digest

    class PaymentReceived(Event):
        payment_ref: str  # the bank's reference of the transfer
        amount_cents: int
        received_by: str
        received_at: datetime

        def apply(self, levy: OperatorLevy) -> None:
            levy.paid_cents += self.amount_cents
            levy.payments = (
                *levy.payments,
                LevyPayment(self.payment_ref, self.amount_cents, self.received_at),
            )
            levy.keys[f"payment:{self.payment_ref}"] = payment_digest(self.amount_cents)

    @classmethod
    def declare(
        cls, *, siren: str, period: LevyPeriod, revenue_cents: int, by: str, now: datetime
    ) -> OperatorLevy:
        """An operator's declared revenue for the period, and its levy at the period's rate."""
        siren = check_siren(siren)
        check_amount(revenue_cents, "revenue", zero_allowed=True)
        return cls._create(
            cls.Declared,
            id=levy_id(siren, period.period),
            timestamp=now,
            siren=siren,
            period=period.period,
            rate_numerator=period.rate.numerator,
            rate_denominator=period.rate.denominator,
            due_on=period.due_on,
            revenue_cents=revenue_cents,
            levy_cents=period.rate.levy_cents(revenue_cents),
            request_digest=request_digest("declare_revenue", siren, period.period, revenue_cents),
            declared_by=by,
            declared_at=now,
        )

    def check_same_request(self, digest: str) -> None:
        if digest != self.request_digest:
            raise LevyAlreadyDeclared(
                f"SIREN {self.siren} declared another revenue for {self.period}",
                siren=self.siren,
                period=self.period,
            )

    def correct(self, *, key: str, revenue_cents: int, reason: str, by: str, now: datetime) -> None:
        """Correct the declared revenue; the levy moves by the difference it makes."""
        key = check_key(key, "correction key")
        check_amount(revenue_cents, "revenue", zero_allowed=True)
        reason = check_text(reason, "reason", MAX_REASON_LENGTH)
        digest = request_digest("correct_declaration", revenue_cents, reason)
        if self._answered(f"correction:{key}", digest):
            return
        if revenue_cents == self.revenue_cents:
            raise InvalidInput("the corrected revenue is the revenue declared", field="revenue")
        self._check_room()
        self.trigger_event(
            self.Corrected,
            timestamp=now,
            key=key,
            siren=self.siren,
            revenue_delta_cents=revenue_cents - self.revenue_cents,
            levy_delta_cents=self.rate.levy_cents(revenue_cents) - self.levy_cents,
            reason=reason,
            request_digest=digest,
            corrected_by=by,
            corrected_at=now,
        )

    def receive_payment(
        self, *, payment_ref: str, amount_cents: int, by: str, now: datetime
    ) -> bool:
        """Match a payment to the levy; False when it is a retry (recorded already)."""
        payment_ref = check_key(payment_ref, "payment reference")
        check_amount(amount_cents, "payment")
        if self._answered(f"payment:{payment_ref}", payment_digest(amount_cents)):
            return False
        if amount_cents > self.outstanding_cents:
            raise PaymentExceedsLevy(
                f"{amount_cents} cents received, {max(self.outstanding_cents, 0)} due on the "
                f"levy of {self.siren} for {self.period}",
                asked_cents=amount_cents,
                outstanding_cents=self.outstanding_cents,
            )
        self._check_room()
        self.trigger_event(
            self.PaymentReceived,
            timestamp=now,
            payment_ref=payment_ref,
            amount_cents=amount_cents,
            received_by=by,
            received_at=now,
        )
        return True

    @property
    def outstanding_cents(self) -> int:
        return self.levy_cents - self.paid_cents

    def status(self, now: datetime) -> LevyStatus:
        late = tuple(p for p in self.payments if p.received_at.date() > self.due_on)
        overdue = max(self.outstanding_cents, 0) if now.date() > self.due_on else 0
        return LevyStatus(
            self.id,
            self.siren,
            self.period,
            self.due_on,
            self.levy_cents,
            self.paid_cents,
            late,
            overdue,
        )

    def _answered(self, key: str, digest: str) -> bool:
        """True for a retry of a recorded command; a key reused otherwise is refused."""
        recorded = self.keys.get(key)
        if recorded is not None and recorded != digest:
            raise IdempotencyKeyReused(
                f"{key.split(':', 1)[0]} {key.split(':', 1)[1]!r} was recorded with other details",
                key=key,
            )
        return recorded is not None

    def _check_room(self) -> None:
        if len(self.keys) >= MAX_LEVY_ENTRIES:
            raise InvalidInput(f"a levy records at most {MAX_LEVY_ENTRIES} changes")


def payment_digest(amount_cents: int) -> str:
    return request_digest("receive_levy_payment", amount_cents)
