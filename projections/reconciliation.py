"""The reconciliation: the journal against the aggregates, and against the bank.

Three records of the same money are kept apart on purpose, and a report shows they agree:

- the **journal**: the balances read model, the fold of every money event's postings
  (`ledger.accounts`), summed per kind of account;
- the **aggregates**: what each aggregate holds of its own money, by its own rules. The
  aggregates are rebuilt as the applications' repositories would load them at the
  report's position: each aggregate's events up to that position, applied by its own
  `apply` methods (`AggregateFold`, folded in the same pass as the read models). No
  posting is involved: a wrong posting rule, or a read-model row altered, shows here;
- the **bank**: money that entered or left the programme's bank accounts, as the records
  facing the bank state it: the SEPA transfers of the payment batches marked paid, the
  levy payments received (each with the bank's reference), the subsidies paid.

Each line names what it compares, the journal's cents, the other side's, the difference
(journal minus other) and whether they agree. On a clean log every difference is 0.

Every aggregate of the families below is read: none is sampled. Credit accounts are by
far the most numerous (one per teacher and campaign): past `MAX_CREDIT_ACCOUNTS` they are
not folded, their two lines are left out and the report's notes say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEvent
from eventsourcing.utils import get_topic
from sqlalchemy import Connection

from ledger.campaigns import Campaign
from ledger.cofinancing import CoFinancing
from ledger.credits import CreditAccount
from ledger.levies import OperatorLevy
from ledger.payments import BatchStatus, PaymentBatch
from ledger.subsidies import Fund, HouseholdSubsidy
from ledger.territories import Territory

MAX_CREDIT_ACCOUNTS = 200_000  # folded in memory: beyond this, their lines are left out
AGGREGATE_TYPES = (
    Campaign,
    CreditAccount,
    Territory,
    CoFinancing,
    OperatorLevy,
    Fund,
    HouseholdSubsidy,
    PaymentBatch,
)
AGGREGATES, BANK, ZERO = "aggregates", "bank", "zero"


def event_topics(aggregate_type: type) -> tuple[str, ...]:
    """The topics of the events an aggregate type declares."""
    return tuple(
        get_topic(value)
        for value in vars(aggregate_type).values()
        if isinstance(value, type) and issubclass(value, DomainEvent)
    )


class AggregateFold:
    """The aggregates of `AGGREGATE_TYPES` as of the replay's position, kept in memory.

    It has the shape of a projection (`name`, `topics`, `apply`) so that `replay` feeds
    it in the same pass as the read models; it owns no table."""

    name = "report_aggregates"
    tables = ()

    def __init__(self, max_credit_accounts: int = MAX_CREDIT_ACCOUNTS) -> None:
        self.topics = tuple(t for kind in AGGREGATE_TYPES for t in event_topics(kind))
        self.aggregates: dict[UUID, Any] = {}
        self.max_credit_accounts = max_credit_accounts
        self.credit_accounts = 0
        self.credit_accounts_skipped = False

    def apply(self, conn: Connection, events: Sequence[Any]) -> None:
        for event in events:
            known = self.aggregates.get(event.originator_id)
            if known is None and isinstance(event, CreditAccount.Granted):
                if self.credit_accounts >= self.max_credit_accounts:
                    self.credit_accounts_skipped = True
                if self.credit_accounts_skipped:
                    continue
                self.credit_accounts += 1
            elif known is None and isinstance(event, CreditAccount.Event):
                continue  # an account left out above
            self.aggregates[event.originator_id] = event.mutate(known)

    def of(self, kind: type) -> list[Any]:
        return [a for a in self.aggregates.values() if isinstance(a, kind)]


@dataclass(frozen=True, slots=True)
class Line:
    name: str
    against: str  # "aggregates", "bank" or "zero"
    journal_cents: int
    other_cents: int

    @property
    def difference_cents(self) -> int:
        return self.journal_cents - self.other_cents

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "against": self.against,
            "journal_cents": self.journal_cents,
            "other_cents": self.other_cents,
            "difference_cents": self.difference_cents,
            "ok": self.difference_cents == 0,
        }


def reconcile(journal: dict[str, int], fold: AggregateFold) -> list[Line]:
    """Every line, the journal given as total cents per kind of account."""
    return [*aggregate_lines(journal, fold), *bank_lines(journal, fold)]


def aggregate_lines(journal: dict[str, int], fold: AggregateFold) -> list[Line]:
    kind = journal.get
    cofinancings = fold.of(CoFinancing)
    lines = [
        Line("trial balance", ZERO, sum(journal.values()), 0),
        Line(
            "campaign budgets",
            AGGREGATES,
            kind("campaign_budget", 0),
            sum(c.remaining_cents for c in fold.of(Campaign)),
        ),
    ]
    if not fold.credit_accounts_skipped:
        accounts = fold.of(CreditAccount)
        lines += [
            Line(
                "teachers' available credit",
                AGGREGATES,
                kind("teacher_available", 0),
                sum(a.available_cents for a in accounts),
            ),
            Line(
                "teachers' held credit",
                AGGREGATES,
                kind("teacher_held", 0),
                sum(a.held_cents for a in accounts),
            ),
        ]
    return [
        *lines,
        Line(
            "territory budgets",
            AGGREGATES,
            kind("territory_budget", 0),
            sum(t.remaining_cents for t in fold.of(Territory)),
        ),
        Line(
            "internet fund",
            AGGREGATES,
            kind("internet_fund", 0),
            sum(f.balance_cents for f in fold.of(Fund)),
        ),
        Line(
            "levies receivable",
            AGGREGATES,
            kind("levy_receivable", 0),
            sum(levy.outstanding_cents for levy in fold.of(OperatorLevy)),
        ),
        Line(
            "co-financing not spent",
            AGGREGATES,
            kind("cofinancing", 0),
            sum(unspent_cents(c) for c in cofinancings),
        ),
        Line(
            "co-financing spent",
            AGGREGATES,
            kind("cofinancing_spent", 0),
            sum(c.spent_cents for c in cofinancings),
        ),
    ]


def unspent_cents(c: CoFinancing) -> int:
    """Paid in, less spent, less returned to the funders."""
    return sum(c.paid.values()) - c.spent_cents - sum(c.returned.values())


def bank_lines(journal: dict[str, int], fold: AggregateFold) -> list[Line]:
    kind = journal.get
    levies_paid_in = -kind("telecom_operator", 0) - kind("levy_receivable", 0)
    return [
        Line("vendor transfers", BANK, kind("bank", 0), transfers_cents(fold)[0]),
        Line(
            "levies paid in",
            BANK,
            levies_paid_in,
            sum(levy.paid_cents for levy in fold.of(OperatorLevy)),
        ),
        Line(
            "subsidies paid out",
            BANK,
            kind("internet_provider", 0) + kind("household", 0),
            sum(s.amount_cents for s in fold.of(HouseholdSubsidy)),
        ),
    ]


def transfers_cents(fold: AggregateFold) -> tuple[int, int]:
    """What the transfers of the batches marked paid sent, and how much of it bank
    statements have shown (matched by end-to-end id)."""
    paid = confirmed = 0
    for batch in fold.of(PaymentBatch):
        if batch.status is not BatchStatus.PAID:
            continue
        amounts = {t.end_to_end_id: t.amount_cents for t in batch.transfers()}
        paid += sum(amounts.values())
        shown = {e2e for r in batch.reconciliations.values() for e2e, _, _ in r.matched}
        confirmed += sum(amounts[e2e] for e2e in shown if e2e in amounts)
    return paid, confirmed


def bank_figures(fold: AggregateFold) -> dict[str, int]:
    """The payment batches as the bank sees them: sent, and confirmed by statements."""
    batches = fold.of(PaymentBatch)
    paid, confirmed = transfers_cents(fold)
    readings = [r for b in batches for r in b.reconciliations.values()]
    return {
        "payment_batches": len(batches),
        "payment_batches_paid": sum(1 for b in batches if b.status is BatchStatus.PAID),
        "transfers_paid_cents": paid,
        "transfers_confirmed_cents": confirmed,
        "statements_read": len(readings),
        "statement_lines_unmatched": sum(len(r.unmatched) for r in readings),
        "transfers_missing_on_statements": sum(len(r.missing) for r in readings),
    }


def territory_names(fold: AggregateFold) -> dict[str, tuple[str, str]]:
    """Each territory's id (text) → (code, name), as registered."""
    return {str(t.id): (t.code, t.name) for t in fold.of(Territory)}
