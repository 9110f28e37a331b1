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

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
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


# The account names. An id may be given as its text: the name is the same.


def funder(funder_id: str) -> str:
    return f"funder:{funder_id}"


def campaign_budget(campaign_id: UUID | str) -> str:
    return f"campaign_budget:{campaign_id}"


def teacher_available(account_id: UUID | str) -> str:
    return f"teacher_available:{account_id}"


def teacher_held(account_id: UUID | str) -> str:
    return f"teacher_held:{account_id}"


def vendor_payable(vendor_id: str) -> str:
    return f"vendor_payable:{vendor_id}"


def withheld(vendor_id: str) -> str:
    return f"withheld:{vendor_id}"


def bank(vendor_id: str) -> str:
    return f"bank:{vendor_id}"


def territory_budget(territory_id: UUID | str) -> str:
    return f"territory_budget:{territory_id}"


def refurbisher_payable(organisation_id: UUID | str) -> str:
    return f"refurbisher_payable:{organisation_id}"


def telecom_operator(siren: str) -> str:
    return f"telecom_operator:{siren}"


def levy_receivable(levy_id: UUID | str) -> str:
    return f"levy_receivable:{levy_id}"


def internet_fund(fund_id: UUID | str = FUND_ID) -> str:
    return f"internet_fund:{fund_id}"


def internet_provider(siren: str) -> str:
    return f"internet_provider:{siren}"


def household(fingerprint: str) -> str:
    return f"household:{fingerprint}"


def cofinancing(cofinancing_id: UUID | str) -> str:
    return f"cofinancing:{cofinancing_id}"


def cofinancing_spent(cofinancing_id: UUID | str) -> str:
    return f"cofinancing_spent:{cofinancing_id}"


def account_kind(account: str) -> str:
    return account.split(":", 1)[0]


def uuid_text(raw: bytes) -> str:
    """str(UUID(bytes=raw)), without the UUID."""
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_UUID_TEXT: dict[bytes | UUID, str] = {}  # campaign and organisation ids recur: their text


def _text(value: bytes | UUID) -> str:
    """The text of a UUID field: a `UUID`, or its 16 bytes as the lean audit pass
    (`ledger.audit_replay`) decodes it."""
    text = _UUID_TEXT.get(value)
    if text is None:
        if len(_UUID_TEXT) > 10_000:
            _UUID_TEXT.clear()
        text = uuid_text(value) if isinstance(value, bytes) else str(value)
        _UUID_TEXT[value] = text
    return text


# The postings ---------------------------------------------------------------------------

# A move of `cents` from a source account to a destination, into a sink: the balances
# (`_to_balances`) or a list of postings (`_to_postings`). A move of zero does nothing.
Move = Callable[[Any, str, str, int], None]
# A handler gets the event, its originator id as text, the move and its sink.
Handler = Callable[[Any, str, Move, Any], None]


def _to_balances(balances: dict[str, int], source: str, destination: str, cents: int) -> None:
    if cents:
        balances[source] = balances.get(source, 0) - cents
        balances[destination] = balances.get(destination, 0) + cents


def _to_postings(moves: list[Posting], source: str, destination: str, cents: int) -> None:
    if cents:
        moves.append(Posting(source, destination, cents))


def postings(event: object) -> tuple[Posting, ...]:
    """The postings of one event; () for events that move no money."""
    handler = _HANDLERS.get(type(event))
    if handler is None:
        return ()
    moves: list[Posting] = []
    handler(event, str(event.originator_id), _to_postings, moves)
    return tuple(moves)


def post(event: object, balances: dict[str, int], originator_text: str | None = None) -> None:
    """Apply the postings of one event straight to the balances, as `apply_postings` of
    its `postings`. The event's UUID fields may be `UUID`s or their 16 bytes; its originator
    id is read from the event unless given as text."""
    handler = _HANDLERS.get(type(event))
    if handler is not None:
        if originator_text is None:
            originator_text = str(event.originator_id)
        handler(event, originator_text, _to_balances, balances)


def posting_rule(event_type: type) -> Handler | None:
    """The chart's rule for one type of event, None if it moves no money: what `post` calls,
    as `rule(event, originator id as text, move_to_balances, balances)`. For a pass over
    many events that looks the rule up once per type (`ledger.audit_replay`)."""
    return _HANDLERS.get(event_type)


move_to_balances: Move = _to_balances


def fold(events: Iterable[object]) -> dict[str, int]:
    """Balances of every account after the given events, from zero."""
    balances: dict[str, int] = {}
    for event in events:
        post(event, balances)
    return balances


def apply_postings(balances: dict[str, int], moves: Iterable[Posting]) -> None:
    for p in moves:
        balances[p.source] = balances.get(p.source, 0) - p.amount_cents
        balances[p.destination] = balances.get(p.destination, 0) + p.amount_cents


# Each handler below: the event `e`, its originator id as text `o`, `move` and its sink `b`.


def _opened(e: Campaign.Opened, o: str, move: Move, b: Any) -> None:
    for funder_id, cents in e.contributions:
        move(b, funder(funder_id), campaign_budget(o), cents)


def _closed(e: Campaign.Closed, o: str, move: Move, b: Any) -> None:
    for funder_id, cents in e.returned:
        move(b, campaign_budget(o), funder(funder_id), cents)


def _granted(e: CreditAccount.Granted, o: str, move: Move, b: Any) -> None:
    move(b, campaign_budget(_text(e.campaign_id)), teacher_available(o), e.amount_cents)


def _topped_up(e: CreditAccount.ToppedUp, o: str, move: Move, b: Any) -> None:
    move(b, funder(e.authority_id), teacher_available(o), e.amount_cents)


def _hold_placed(e: CreditAccount.HoldPlaced, o: str, move: Move, b: Any) -> None:
    move(b, teacher_available(o), teacher_held(o), e.amount_cents)


def _hold_captured(e: CreditAccount.HoldCaptured, o: str, move: Move, b: Any) -> None:
    held = teacher_held(o)
    move(b, held, vendor_payable(e.vendor_id), e.amount_cents)
    move(b, held, teacher_available(o), e.released_cents)


def _hold_returned(
    e: CreditAccount.HoldReleased | CreditAccount.HoldExpired, o: str, move: Move, b: Any
) -> None:
    move(b, teacher_held(o), teacher_available(o), e.amount_cents)


def _refunded(e: CreditAccount.Refunded, o: str, move: Move, b: Any) -> None:
    payable = vendor_payable(e.vendor_id)
    returned = sum(c for _, c in e.returned)
    move(b, payable, teacher_available(o), e.amount_cents - returned)
    for funder_id, cents in e.returned:
        move(b, payable, funder(funder_id), cents)


def _remainder_expired(e: CreditAccount.RemainderExpired, o: str, move: Move, b: Any) -> None:
    for funder_id, cents in e.returned:
        move(b, teacher_available(o), funder(funder_id), cents)


def _claim_approved(e: Claim.Approved, o: str, move: Move, b: Any) -> None:
    move(b, vendor_payable(e.vendor_id), withheld(e.vendor_id), e.withheld_cents)


def _debit_note_raised(e: VendorDebits.NoteRaised, o: str, move: Move, b: Any) -> None:
    # The refund took the whole amount from the payable account; the vendor owes back only
    # the reimbursed share, and the withheld share is withheld no more.
    move(b, withheld(e.vendor_id), vendor_payable(e.vendor_id), e.released_cents)


def _batch_paid(e: PaymentBatch.MarkedPaid, o: str, move: Move, b: Any) -> None:
    for vendor_id, cents in e.paid:
        move(b, vendor_payable(vendor_id), bank(vendor_id), cents)


# Device banks --------------------------------------------------------------------------


def _territory_registered(e: Territory.Registered, o: str, move: Move, b: Any) -> None:
    move(b, funder(e.funder_id), territory_budget(o), e.budget_cents)


def _territory_charged(e: Territory.Charged, o: str, move: Move, b: Any) -> None:
    move(b, territory_budget(o), refurbisher_payable(_text(e.refurbisher_id)), e.amount_cents)


# The internet fund ---------------------------------------------------------------------


def _levy_declared(e: OperatorLevy.Declared, o: str, move: Move, b: Any) -> None:
    move(b, telecom_operator(e.siren), levy_receivable(o), e.levy_cents)


def _levy_corrected(e: OperatorLevy.Corrected, o: str, move: Move, b: Any) -> None:
    # A levy that goes down moves back to its operator: postings move positive amounts.
    operator, receivable = telecom_operator(e.siren), levy_receivable(o)
    if e.levy_delta_cents >= 0:
        move(b, operator, receivable, e.levy_delta_cents)
    else:
        move(b, receivable, operator, -e.levy_delta_cents)


_FUND = internet_fund()


def _levy_paid(e: OperatorLevy.PaymentReceived, o: str, move: Move, b: Any) -> None:
    move(b, levy_receivable(o), _FUND, e.amount_cents)


def _subsidy_paid(e: HouseholdSubsidy.Paid, o: str, move: Move, b: Any) -> None:
    if e.payee is SubsidyPayee.PROVIDER:
        move(b, _FUND, internet_provider(e.provider_siren), e.amount_cents)
    else:
        move(b, _FUND, household(e.household), e.amount_cents)


def _cofinancing_paid(e: CoFinancing.PaymentReceived, o: str, move: Move, b: Any) -> None:
    move(b, funder(e.funder_id), cofinancing(o), e.amount_cents)


def _cofinancing_spent(e: CoFinancing.Spent, o: str, move: Move, b: Any) -> None:
    move(b, cofinancing(o), cofinancing_spent(o), e.amount_cents)


def _cofinancing_closed(e: CoFinancing.Closed, o: str, move: Move, b: Any) -> None:
    for funder_id, cents in e.returned:
        move(b, cofinancing(o), funder(funder_id), cents)


_HANDLERS: dict[type, Handler] = {
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
