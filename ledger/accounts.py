"""Double entry: the chart of accounts and the postings of every money event.

Every event that moves money maps to postings. A posting moves an amount of cents from one
named account to another: the first loses it, the second gains it. Because each posting takes
from one account exactly what it gives to the other, the sum of all balances, the trial
balance, is zero after every event. Funders' accounts run negative: their balance is minus
what they have put in and not had back.

Account names carry their kind first and their owner after it:

| kind                | name                              | holds                          |
|---------------------|-----------------------------------|--------------------------------|
| `funder`            | `funder:{funder id}`              | minus what the funder provided |
| `campaign_budget`   | `campaign_budget:{campaign id}`   | budget not yet granted         |
| `teacher_available` | `teacher_available:{account id}`  | credit the teacher may spend   |
| `teacher_held`      | `teacher_held:{account id}`       | credit set aside by holds      |
| `vendor_payable`    | `vendor_payable:{vendor id}`      | owed to a vendor for captures  |
| `withheld`          | `withheld:{vendor id}`            | captured, not reimbursed (tier)|
| `bank`              | `bank:{vendor id}`                | paid out to the vendor's bank  |

A captured hold moves credit to the vendor's payable account; when the operator approves a
claim, the part a degressive reimbursement rule does not pay moves to `withheld`; when the
bank confirms a payment batch, what was paid moves to `bank`. A vendor paid in full for its
claimed captures has a payable balance of zero. A refund after approval leaves the payable
account below zero by what the vendor owes back (a debit note, `ledger.debit_notes`) until a
later batch deducts it.

The device banks have accounts of their own (`DEVICE_BANK_ACCOUNT_KINDS`):

| kind                  | name                                    | holds                          |
|-----------------------|-----------------------------------------|--------------------------------|
| `territory_budget`    | `territory_budget:{territory id}`       | programme budget not yet spent |
| `refurbisher_payable` | `refurbisher_payable:{organisation id}` | owed to a refurbisher for work |

Registering a territory moves its budget from its funder; each refurbishment or repair
charged to it (`Territory.Charged`) moves its cost to the refurbisher's payable account.
The device's own events (`Device.Refurbished`, `Device.Repaired`) carry the same cost for
the record and post nothing: the charge, saved with them, is the one movement.

The internet fund has accounts of its own (`FUND_ACCOUNT_KINDS`):

| kind                | name                                  | holds                          |
|---------------------|---------------------------------------|--------------------------------|
| `telecom_operator`  | `telecom_operator:{SIREN}`            | minus the levies assessed      |
| `levy_receivable`   | `levy_receivable:{levy id}`           | a levy not yet paid            |
| `internet_fund`     | `internet_fund:{fund id}`             | levies paid in, less subsidies |
| `internet_provider` | `internet_provider:{SIREN}`           | subsidies paid to a provider   |
| `household`         | `household:{fingerprint}`             | subsidies paid to a household  |
| `cofinancing`       | `cofinancing:{co-financing id}`       | paid in, not spent or returned |
| `cofinancing_spent` | `cofinancing_spent:{co-financing id}` | spent on devices and subsidies |

A declaration (`OperatorLevy.Declared`) moves its levy from the operator to the levy's
receivable account, a correction moves the difference (back, when the levy goes down), and a
payment moves from the receivable into the fund: a levy's receivable shows what remains due
(below zero when a correction left it overpaid). A subsidy (`HouseholdSubsidy.Paid`) moves
from the fund to its payee. The fund's own events (`Fund.LevyPaidIn`, `Fund.SubsidyPaidOut`)
carry the same amounts for its balance and post nothing. A co-financing payment moves from
its funder (`funder:{id}`) to the territory's co-financing account, a spend from there to its
spent account, and the returns at the end back to each funder; a pledge posts nothing.

This mapping is a pure function of the event: projections fold it, tests fold it, and an
auditor replaying the log gets the same books.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from uuid import UUID

from ledger.campaigns import Campaign
from ledger.claims import Claim
from ledger.cofinancing import CoFinancing
from ledger.credits import CreditAccount
from ledger.debit_notes import VendorDebits
from ledger.levies import OperatorLevy
from ledger.payments import PaymentBatch
from ledger.subsidies import FUND_ID, HouseholdSubsidy, SubsidyPayee
from ledger.territories import Territory

ACCOUNT_KINDS = (
    "funder",
    "campaign_budget",
    "teacher_available",
    "teacher_held",
    "vendor_payable",
    "withheld",
    "bank",
)
# Kept apart from ACCOUNT_KINDS, whose order the audit API's examples pair with figures.
DEVICE_BANK_ACCOUNT_KINDS = ("territory_budget", "refurbisher_payable")
FUND_ACCOUNT_KINDS = (
    "telecom_operator",
    "levy_receivable",
    "internet_fund",
    "internet_provider",
    "household",
    "cofinancing",
    "cofinancing_spent",
)


@dataclass(frozen=True, slots=True)
class Posting:
    source: str
    destination: str
    amount_cents: int


def funder(funder_id: str) -> str:
    return f"funder:{funder_id}"


def campaign_budget(campaign_id: UUID) -> str:
    return f"campaign_budget:{campaign_id}"


def teacher_available(account_id: UUID) -> str:
    return f"teacher_available:{account_id}"


def teacher_held(account_id: UUID) -> str:
    return f"teacher_held:{account_id}"


def vendor_payable(vendor_id: str) -> str:
    return f"vendor_payable:{vendor_id}"


def withheld(vendor_id: str) -> str:
    return f"withheld:{vendor_id}"


def bank(vendor_id: str) -> str:
    return f"bank:{vendor_id}"


def territory_budget(territory_id: UUID) -> str:
    return f"territory_budget:{territory_id}"


def refurbisher_payable(organisation_id: UUID) -> str:
    return f"refurbisher_payable:{organisation_id}"


def telecom_operator(siren: str) -> str:
    return f"telecom_operator:{siren}"


def levy_receivable(levy_id: UUID) -> str:
    return f"levy_receivable:{levy_id}"


def internet_fund(fund_id: UUID = FUND_ID) -> str:
    return f"internet_fund:{fund_id}"


def internet_provider(siren: str) -> str:
    return f"internet_provider:{siren}"


def household(fingerprint: str) -> str:
    return f"household:{fingerprint}"


def cofinancing(cofinancing_id: UUID) -> str:
    return f"cofinancing:{cofinancing_id}"


def cofinancing_spent(cofinancing_id: UUID) -> str:
    return f"cofinancing_spent:{cofinancing_id}"


def account_kind(account: str) -> str:
    return account.split(":", 1)[0]


def postings(event: object) -> tuple[Posting, ...]:
    """The postings of one event; () for events that move no money."""
    handler = _HANDLERS.get(type(event))
    return tuple(p for p in handler(event) if p.amount_cents) if handler else ()


def fold(events: Iterable[object]) -> dict[str, int]:
    """Balances of every account after the given events, from zero."""
    balances: dict[str, int] = {}
    for event in events:
        apply_postings(balances, postings(event))
    return balances


def apply_postings(balances: dict[str, int], moves: Iterable[Posting]) -> None:
    for p in moves:
        balances[p.source] = balances.get(p.source, 0) - p.amount_cents
        balances[p.destination] = balances.get(p.destination, 0) + p.amount_cents


def _opened(e: Campaign.Opened) -> Iterator[Posting]:
    for funder_id, cents in e.contributions:
        yield Posting(funder(funder_id), campaign_budget(e.originator_id), cents)


def _closed(e: Campaign.Closed) -> Iterator[Posting]:
    for funder_id, cents in e.returned:
        yield Posting(campaign_budget(e.originator_id), funder(funder_id), cents)


def _granted(e: CreditAccount.Granted) -> Iterator[Posting]:
    yield Posting(
        campaign_budget(e.campaign_id), teacher_available(e.originator_id), e.amount_cents
    )


def _topped_up(e: CreditAccount.ToppedUp) -> Iterator[Posting]:
    yield Posting(funder(e.authority_id), teacher_available(e.originator_id), e.amount_cents)


def _hold_placed(e: CreditAccount.HoldPlaced) -> Iterator[Posting]:
    yield Posting(teacher_available(e.originator_id), teacher_held(e.originator_id), e.amount_cents)


def _hold_captured(e: CreditAccount.HoldCaptured) -> Iterator[Posting]:
    held = teacher_held(e.originator_id)
    yield Posting(held, vendor_payable(e.vendor_id), e.amount_cents)
    yield Posting(held, teacher_available(e.originator_id), e.released_cents)


def _hold_returned(e: CreditAccount.HoldReleased | CreditAccount.HoldExpired) -> Iterator[Posting]:
    yield Posting(teacher_held(e.originator_id), teacher_available(e.originator_id), e.amount_cents)


def _refunded(e: CreditAccount.Refunded) -> Iterator[Posting]:
    payable = vendor_payable(e.vendor_id)
    returned = sum(c for _, c in e.returned)
    yield Posting(payable, teacher_available(e.originator_id), e.amount_cents - returned)
    for funder_id, cents in e.returned:
        yield Posting(payable, funder(funder_id), cents)


def _remainder_expired(e: CreditAccount.RemainderExpired) -> Iterator[Posting]:
    for funder_id, cents in e.returned:
        yield Posting(teacher_available(e.originator_id), funder(funder_id), cents)


def _claim_approved(e: Claim.Approved) -> Iterator[Posting]:
    yield Posting(vendor_payable(e.vendor_id), withheld(e.vendor_id), e.withheld_cents)


def _debit_note_raised(e: VendorDebits.NoteRaised) -> Iterator[Posting]:
    # The refund took the whole amount from the payable account; the vendor owes back only
    # the reimbursed share, and the withheld share is withheld no more.
    yield Posting(withheld(e.vendor_id), vendor_payable(e.vendor_id), e.released_cents)


def _batch_paid(e: PaymentBatch.MarkedPaid) -> Iterator[Posting]:
    for vendor_id, cents in e.paid:
        yield Posting(vendor_payable(vendor_id), bank(vendor_id), cents)


# Device banks --------------------------------------------------------------------------


def _territory_registered(e: Territory.Registered) -> Iterator[Posting]:
    yield Posting(funder(e.funder_id), territory_budget(e.originator_id), e.budget_cents)


def _territory_charged(e: Territory.Charged) -> Iterator[Posting]:
    budget = territory_budget(e.originator_id)
    yield Posting(budget, refurbisher_payable(e.refurbisher_id), e.amount_cents)


# The internet fund ---------------------------------------------------------------------


def _levy_declared(e: OperatorLevy.Declared) -> Iterator[Posting]:
    yield Posting(telecom_operator(e.siren), levy_receivable(e.originator_id), e.levy_cents)


def _levy_corrected(e: OperatorLevy.Corrected) -> Iterator[Posting]:
    # A levy that goes down moves back to its operator: postings move positive amounts.
    operator, receivable = telecom_operator(e.siren), levy_receivable(e.originator_id)
    if e.levy_delta_cents >= 0:
        yield Posting(operator, receivable, e.levy_delta_cents)
    else:
        yield Posting(receivable, operator, -e.levy_delta_cents)


def _levy_paid(e: OperatorLevy.PaymentReceived) -> Iterator[Posting]:
    yield Posting(levy_receivable(e.originator_id), internet_fund(), e.amount_cents)


def _subsidy_paid(e: HouseholdSubsidy.Paid) -> Iterator[Posting]:
    if e.payee is SubsidyPayee.PROVIDER:
        yield Posting(internet_fund(), internet_provider(e.provider_siren), e.amount_cents)
    else:
        yield Posting(internet_fund(), household(e.household), e.amount_cents)


def _cofinancing_paid(e: CoFinancing.PaymentReceived) -> Iterator[Posting]:
    yield Posting(funder(e.funder_id), cofinancing(e.originator_id), e.amount_cents)


def _cofinancing_spent(e: CoFinancing.Spent) -> Iterator[Posting]:
    yield Posting(cofinancing(e.originator_id), cofinancing_spent(e.originator_id), e.amount_cents)


def _cofinancing_closed(e: CoFinancing.Closed) -> Iterator[Posting]:
    for funder_id, cents in e.returned:
        yield Posting(cofinancing(e.originator_id), funder(funder_id), cents)


_HANDLERS = {
    Campaign.Opened: _opened,
    Campaign.Closed: _closed,
    CreditAccount.Granted: _granted,
    CreditAccount.ToppedUp: _topped_up,
    CreditAccount.HoldPlaced: _hold_placed,
    CreditAccount.HoldCaptured: _hold_captured,
    CreditAccount.HoldReleased: _hold_returned,
    CreditAccount.HoldExpired: _hold_returned,
    CreditAccount.Refunded: _refunded,
    CreditAccount.RemainderExpired: _remainder_expired,
    Claim.Approved: _claim_approved,
    PaymentBatch.MarkedPaid: _batch_paid,
    VendorDebits.NoteRaised: _debit_note_raised,
    Territory.Registered: _territory_registered,
    Territory.Charged: _territory_charged,
    OperatorLevy.Declared: _levy_declared,
    OperatorLevy.Corrected: _levy_corrected,
    OperatorLevy.PaymentReceived: _levy_paid,
    HouseholdSubsidy.Paid: _subsidy_paid,
    CoFinancing.PaymentReceived: _cofinancing_paid,
    CoFinancing.Spent: _cofinancing_spent,
    CoFinancing.Closed: _cofinancing_closed,
}

# The topics a balances projection must read: every event that can move money.
MONEY_EVENT_TYPES = tuple(_HANDLERS)
