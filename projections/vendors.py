"""Vendor statements: what each vendor sold, claimed and was paid, day by day.

A statement answers a vendor's questions for a period: how many redemptions were captured
at it and for how much, what was refunded, what it claimed, what the operator approved or
rejected, what reached its bank account, and its debit notes. What the programme still
owes it is

    balance owed = captured − refunded − withheld − paid

where *withheld* is what a degressive reimbursement rule does not pay back. A balance below
zero is what the vendor owes: a refund after its claim was approved raises a debit note
(`ledger.debit_notes`), and the next payment batch that deducts it pays that much less.

The projection folds each event into the totals of its vendor and its day (UTC, the days of
the event's own time), one row per (vendor, day) written once per page, so a statement for
any run of days is one indexed sum. Claim amounts are in reimbursed cents: what the vendor
asked for and what it will be paid. Later claim events name only their lines' holds, and a
paid batch only its reference; so the projection keeps, in tables of its own, the amount of
each claim line and each vendor's share of each batch, read from the events that carried
them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date
from typing import Any

from eventsourcing.utils import get_topic
from sqlalchemy import Connection, Engine, func, insert, select, update

from ledger.claims import OVERTURNED, Claim
from ledger.credits import CreditAccount
from ledger.debit_notes import VendorDebits
from ledger.errors import InvalidPeriod
from ledger.payments import PaymentBatch
from projections.schema import (
    vendor_statement_batches,
    vendor_statement_claim_lines,
    vendor_statement_days,
)
from projections.upkeep import add_rows

MAX_VENDORS_LISTED = 10_000
TOTALS = (
    "captured_count",
    "captured_cents",
    "refunded_count",
    "refunded_cents",
    "claims_submitted_count",
    "claims_submitted_cents",
    "claims_approved_cents",
    "claims_rejected_cents",
    "paid_cents",
    "withheld_cents",
    "debit_notes_count",
    "debit_notes_cents",
    "debited_cents",
)

DayTotals = dict[tuple[str, date], Counter[str]]


def day_of(event: Any) -> date:
    # Each event's timestamp is its command's `now` (`captured_at`, `paid_at`, …).
    return event.timestamp.astimezone(UTC).date()


class VendorStatementProjection:
    name = "vendor_statements"
    tables = (vendor_statement_days, vendor_statement_claim_lines, vendor_statement_batches)

    def __init__(self) -> None:
        self.handlers: dict[type, Callable[[Connection, DayTotals, Any], None]] = {
            CreditAccount.HoldCaptured: self.captured,
            CreditAccount.Refunded: self.refunded,
            Claim.Submitted: self.claim_submitted,
            Claim.LineRefunded: self.line_refunded,
            Claim.LinesRejected: self.lines_rejected,
            Claim.DisputeDecided: self.dispute_decided,
            Claim.Approved: self.claim_approved,
            PaymentBatch.Created: self.batch_created,
            PaymentBatch.MarkedPaid: self.batch_paid,
            VendorDebits.NoteRaised: self.debit_note_raised,
        }
        self.topics = tuple(get_topic(event_type) for event_type in self.handlers)

    def apply(self, conn: Connection, events: Sequence[Any]) -> None:
        totals: DayTotals = {}
        for event in events:
            self.handlers[type(event)](conn, totals, event)
        rows = [
            {"vendor_id": vendor, "day": day, **{name: counts[name] for name in TOTALS}}
            for (vendor, day), counts in totals.items()
            if any(counts.values())
        ]
        add_rows(conn, vendor_statement_days, ("vendor_id", "day"), rows)

    @staticmethod
    def add(totals: DayTotals, vendor: str, event: Any, **amounts: int) -> None:
        totals.setdefault((vendor, day_of(event)), Counter()).update(amounts)

    def captured(self, conn: Connection, totals: DayTotals, event: Any) -> None:
        self.add(
            totals, event.vendor_id, event, captured_count=1, captured_cents=event.amount_cents
        )

    def refunded(self, conn: Connection, totals: DayTotals, event: Any) -> None:
        self.add(
            totals, event.vendor_id, event, refunded_count=1, refunded_cents=event.amount_cents
        )

    def claim_submitted(self, conn: Connection, totals: DayTotals, event: Any) -> None:
        lines = [
            {
                "claim_id": str(event.originator_id),
                "hold_id": str(hold_id),
                "vendor_id": event.vendor_id,
                "reimbursed_cents": reimbursed,
            }
            for _, hold_id, _, reimbursed, _ in event.lines
        ]
        conn.execute(insert(vendor_statement_claim_lines), lines)
        claimed = sum(line["reimbursed_cents"] for line in lines)
        self.add(
            totals, event.vendor_id, event, claims_submitted_count=1, claims_submitted_cents=claimed
        )

    def line_refunded(self, conn: Connection, totals: DayTotals, event: Any) -> None:
        # A line under review claims less: so does the claim, and so will a rejection of it.
        table = vendor_statement_claim_lines
        where = (table.c.claim_id == str(event.originator_id)) & (
            table.c.hold_id == str(event.hold_id)
        )
        less = event.reimbursed_less_cents
        conn.execute(
            update(table).where(where).values(reimbursed_cents=table.c.reimbursed_cents - less)
        )
        vendor, _ = self.lines(conn, event.originator_id, [])
        self.add(totals, vendor, event, claims_submitted_cents=-less)

    def debit_note_raised(self, conn: Connection, totals: DayTotals, event: Any) -> None:
        self.add(
            totals,
            event.vendor_id,
            event,
            debit_notes_count=1,
            debit_notes_cents=event.debit_cents,
            withheld_cents=-event.released_cents,
        )

    def lines_rejected(self, conn: Connection, totals: DayTotals, event: Any) -> None:
        holds = [hold_id for hold_id, _, _ in event.rejections]
        vendor, cents = self.lines(conn, event.originator_id, holds)
        self.add(totals, vendor, event, claims_rejected_cents=cents)

    def dispute_decided(self, conn: Connection, totals: DayTotals, event: Any) -> None:
        # An overturned rejection is undone: the line counts as rejected no more.
        if event.decision == OVERTURNED:
            vendor, cents = self.lines(conn, event.originator_id, [event.hold_id])
            self.add(totals, vendor, event, claims_rejected_cents=-cents)

    def claim_approved(self, conn: Connection, totals: DayTotals, event: Any) -> None:
        vendor, _ = self.lines(conn, event.originator_id, [])
        self.add(
            totals,
            vendor,
            event,
            claims_approved_cents=event.payable_cents,
            withheld_cents=event.withheld_cents,
        )

    def batch_created(self, conn: Connection, totals: DayTotals, event: Any) -> None:
        shares: Counter[str] = Counter()
        for _, vendor, cents in event.claims:
            shares[vendor] += cents
        for _, vendor, cents in event.debits:
            shares[vendor] -= cents
            self.add(totals, vendor, event, debited_cents=cents)
        rows = [
            {"batch_id": str(event.originator_id), "vendor_id": vendor, "amount_cents": cents}
            for vendor, cents in shares.items()
        ]
        conn.execute(insert(vendor_statement_batches), rows)

    def batch_paid(self, conn: Connection, totals: DayTotals, event: Any) -> None:
        table = vendor_statement_batches
        query = select(table.c.vendor_id, table.c.amount_cents).where(
            table.c.batch_id == str(event.originator_id)
        )
        for vendor, cents in conn.execute(query):
            self.add(totals, vendor, event, paid_cents=int(cents))

    @staticmethod
    def lines(conn: Connection, claim_id: Any, holds: Sequence[Any]) -> tuple[str, int]:
        """The claim's vendor and the reimbursed cents of the given lines."""
        table = vendor_statement_claim_lines
        query = select(table.c.hold_id, table.c.vendor_id, table.c.reimbursed_cents).where(
            table.c.claim_id == str(claim_id)
        )
        rows = conn.execute(query).all()
        assert rows, f"claim {claim_id} was submitted first"
        wanted = {str(hold_id) for hold_id in holds}
        return rows[0].vendor_id, sum(int(r.reimbursed_cents) for r in rows if r.hold_id in wanted)


@dataclass(frozen=True, slots=True)
class VendorStatement:
    """A vendor's movements over a run of days, both ends included, with its balances."""

    vendor_id: str
    first_day: date
    last_day: date
    opening_balance_cents: int  # owed at the start of `first_day`
    captured_count: int = 0
    captured_cents: int = 0
    refunded_count: int = 0
    refunded_cents: int = 0
    claims_submitted_count: int = 0
    claims_submitted_cents: int = 0
    claims_approved_cents: int = 0
    claims_rejected_cents: int = 0
    paid_cents: int = 0
    withheld_cents: int = 0  # captured, not reimbursed under a degressive rule
    debit_notes_count: int = 0  # refunds after approval: the vendor owes them back
    debit_notes_cents: int = 0
    debited_cents: int = 0  # debit notes deducted from payment batches

    @property
    def owed_in_period_cents(self) -> int:
        return self.captured_cents - self.refunded_cents - self.paid_cents - self.withheld_cents

    @property
    def balance_owed_cents(self) -> int:
        """Owed at the end of `last_day`."""
        return self.opening_balance_cents + self.owed_in_period_cents


assert tuple(f.name for f in fields(VendorStatement))[4:] == TOTALS


class VendorStatements:
    """Queries on the vendor statement read model."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def statement(self, vendor_id: str, first_day: date, last_day: date) -> VendorStatement:
        """The vendor's statement; all zeros for a vendor with no movement yet."""
        found = self._statements(first_day, last_day, vendor_id, limit=1)
        if found:
            return found[0]
        return VendorStatement(vendor_id, first_day, last_day, opening_balance_cents=0)

    def statements(
        self, first_day: date, last_day: date, limit: int = MAX_VENDORS_LISTED
    ) -> list[VendorStatement]:
        """Every vendor with a movement on or before `last_day`, by vendor id."""
        assert 0 < limit <= MAX_VENDORS_LISTED
        return self._statements(first_day, last_day, None, limit)

    def _statements(
        self, first_day: date, last_day: date, vendor_id: str | None, limit: int
    ) -> list[VendorStatement]:
        check_period(first_day, last_day)
        table = vendor_statement_days
        in_period = (table.c.day >= first_day) & (table.c.day <= last_day)
        before = table.c.day < first_day
        owed = (
            table.c.captured_cents
            - table.c.refunded_cents
            - table.c.paid_cents
            - table.c.withheld_cents
        )
        sums = [func.coalesce(func.sum(table.c[name]).filter(in_period), 0) for name in TOTALS]
        opening = func.coalesce(func.sum(owed).filter(before), 0)
        query = (
            select(table.c.vendor_id, opening, *sums)
            .where(table.c.day <= last_day)
            .group_by(table.c.vendor_id)
            .order_by(table.c.vendor_id)
            .limit(limit)
        )
        if vendor_id is not None:
            query = query.where(table.c.vendor_id == vendor_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            VendorStatement(vendor, first_day, last_day, *(int(value) for value in values))
            for vendor, *values in rows
        ]


def check_period(first_day: date, last_day: date) -> None:
    for day in (first_day, last_day):
        if type(day) is not date:
            raise InvalidPeriod("a statement's period is two calendar dates", field="period")
    if first_day > last_day:
        raise InvalidPeriod("a statement's period ends on or after its first day", field="period")
