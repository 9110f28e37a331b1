"""Co-financing: the paper's rule for scaling up the device banks, territory by territory.

To scale up, each euro spent in a territory comes one part from the operator (Banque des
Territoires), one from local authorities and one from companies: the three **funder
kinds**, in that stated order. The operator **opens** a territory's co-financing (a
territory of the device banks, `ledger.territories`, by its code) with the **ratio** of
the three kinds: 1:1:1 by default, or another ratio of small whole numbers.

Funders **pledge** (a promise, no money moves) and then **pay** what they pledged, each
under a key of their own; a funder is of one kind. Money is **matched** when every kind has
paid its part: the matched amount is the largest total T whose share for each kind (T × its
weight ÷ the sum of weights) that kind has paid. With 1:1:1, three times the smallest paid
tranche. The territory **spends** on devices or subsidies only up to the matched amount;
a spend beyond it is refused and records nothing.

**Lineage**: each spend records which funders' cents it spent, pairs (funder, cents) that
sum to the spend, by a proportional rule (`ledger.matching`): between the kinds by the
ratio, within a kind by what each funder paid and has not yet seen spent. No kind and no
funder is ever spent beyond what it paid.

At the programme's end the operator **closes** the territory's co-financing: what was paid
and not spent returns to the funders pro rata (largest remainder, `ledger.money`). Since
every spend recorded its lineage, each funder's share of the unspent money is exactly what
of its own payments was not spent, and the returns add up to the unspent amount.

The books (`ledger.accounts`) post a payment from the funder (`funder:{id}`) to the
territory's co-financing account, a spend from it to its spent account, and each return
back to its funder. A pledge moves no money and posts nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from ledger.device_records import check_choice
from ledger.errors import (
    CoFinancingClosed,
    IdempotencyKeyReused,
    InvalidFunders,
    InvalidInput,
    MatchedAmountExceeded,
    PaymentExceedsPledge,
)
from ledger.fund_records import check_amount
from ledger.ids import TIRELIRE_NAMESPACE, check_key, check_opaque_id, request_digest
from ledger.matching import (
    DEFAULT_RATIO,
    KINDS,
    FunderKind,
    Ratio,
    check_ratio,
    split_by_kind,
    split_in_kind,
)
from ledger.matching import matched_cents as matched_total
from ledger.money import Amounts, pro_rata
from ledger.territories import Territory

MAX_FUNDERS = 200  # funders of one territory
MAX_ENTRIES = 10_000  # pledges, payments and spends of one territory


class SpendPurpose(Enum):
    DEVICES = "devices"
    SUBSIDIES = "subsidies"


def cofinancing_id(territory_code: str) -> UUID:
    code = check_opaque_id(territory_code, "territory code")
    return uuid5(TIRELIRE_NAMESPACE, f"cofinancing:{code}")


@dataclass(frozen=True, slots=True)
class FunderFigures:
    funder_id: str
    kind: FunderKind
    pledged_cents: int
    paid_cents: int
    spent_cents: int  # the funder's cents in the spends' lineage
    returned_cents: int


@dataclass(frozen=True, slots=True)
class KindFigures:
    kind: FunderKind
    weight: int
    pledged_cents: int
    paid_cents: int
    spent_cents: int


@dataclass(frozen=True, slots=True)
class CoFinancingReport:
    """Pledged, paid, matched, spent and returned in one territory, per kind and funder."""

    territory_code: str
    ratio: Ratio
    is_closed: bool
    pledged_cents: int
    paid_cents: int
    matched_cents: int
    spent_cents: int
    returned_cents: int
    kinds: tuple[KindFigures, ...]
    funders: tuple[FunderFigures, ...]

    @property
    def available_cents(self) -> int:
        """What may still be spent: matched and not spent (nothing once closed)."""
        return 0 if self.is_closed else self.matched_cents - self.spent_cents


class CoFinancing(Aggregate):
    """A territory's co-financing. The id is `cofinancing_id(territory code)`."""

    class Event(Aggregate.Event):
        pass

    class Opened(Aggregate.Created):
        territory_code: str
        territory_id: UUID
        ratio: Ratio
        request_digest: str
        opened_by: str
        opened_at: datetime

        def apply(self, cofinancing: CoFinancing) -> None:
            c = cofinancing
            c.territory_code, c.territory_id = self.territory_code, self.territory_id
            c.ratio, c.request_digest = self.ratio, self.request_digest
            c.kind_of = {}  # funder id: its kind
            c.pledged, c.paid, c.spent, c.returned = {}, {}, {}, {}  # funder id: cents
            c.keys = {}  # "pledge:{key}", "payment:{key}", "spend:{key}": request digest
            c.attributions = {}  # spend key: its lineage
            c.is_closed = False

    class Pledged(Event):
        key: str
        funder_id: str
        funder_kind: FunderKind
        amount_cents: int
        pledged_by: str
        pledged_at: datetime

        def apply(self, c: CoFinancing) -> None:
            c.kind_of[self.funder_id] = self.funder_kind
            c.pledged[self.funder_id] = c.pledged.get(self.funder_id, 0) + self.amount_cents
            c.keys[f"pledge:{self.key}"] = pledge_digest(
                self.funder_id, self.funder_kind, self.amount_cents
            )

    class PaymentReceived(Event):
        key: str
        funder_id: str
        amount_cents: int
        received_by: str
        received_at: datetime

        def apply(self, c: CoFinancing) -> None:
            c.paid[self.funder_id] = c.paid.get(self.funder_id, 0) + self.amount_cents
            c.keys[f"payment:{self.key}"] = payment_digest(self.funder_id, self.amount_cents)

    class Spent(Event):
        key: str
        purpose: SpendPurpose
        reference: str  # what was bought: a device id, a subsidy id, an invoice
        amount_cents: int
        attribution: Amounts  # (funder id, cents) summing to the amount: the lineage
        spent_by: str
        spent_at: datetime

        def apply(self, c: CoFinancing) -> None:
            for funder_id, cents in self.attribution:
                c.spent[funder_id] = c.spent.get(funder_id, 0) + cents
            c.keys[f"spend:{self.key}"] = spend_digest(
                self.purpose, self.reference, self.amount_cents
            )
            c.attributions[self.key] = self.attribution

    class Closed(Event):
        returned: Amounts  # (funder id, cents): each funder's unspent payments
        closed_by: str
        closed_at: datetime

        def apply(self, c: CoFinancing) -> None:
            c.returned = dict(self.returned)
            c.is_closed = True

    @classmethod
    def open(
        cls, *, territory: Territory, ratio: Sequence[int] = DEFAULT_RATIO, by: str, now: datetime
    ) -> CoFinancing:
        ratio = check_ratio(ratio)
        return cls._create(
            cls.Opened,
            id=cofinancing_id(territory.code),
            timestamp=now,
            territory_code=territory.code,
            territory_id=territory.id,
            ratio=ratio,
            request_digest=request_digest("open_cofinancing", territory.code, ratio),
            opened_by=by,
            opened_at=now,
        )

    def check_same_request(self, digest: str) -> None:
        if digest != self.request_digest:
            raise IdempotencyKeyReused(
                f"the co-financing of {self.territory_code} is open with another ratio",
                territory=self.territory_code,
            )

    # Commands ----------------------------------------------------------------------------

    def pledge(
        self,
        *,
        key: str,
        funder_id: str,
        funder_kind: FunderKind | str,
        amount_cents: int,
        by: str,
        now: datetime,
    ) -> None:
        """A funder's promise to pay; its first pledge says its kind."""
        key, funder_id = check_key(key, "pledge key"), check_opaque_id(funder_id, "funder id")
        kind = check_choice(FunderKind, funder_kind, "funder kind")
        check_amount(amount_cents, "pledge")
        if self._answered(f"pledge:{key}", pledge_digest(funder_id, kind, amount_cents)):
            return
        self._check_open()
        known = self.kind_of.get(funder_id)
        if known is not None and known is not kind:
            raise InvalidFunders(
                f"funder {funder_id} pledged as {known.value}, not {kind.value}", field="kind"
            )
        if known is None and len(self.kind_of) >= MAX_FUNDERS:
            raise InvalidFunders(f"a territory has at most {MAX_FUNDERS} funders")
        self.trigger_event(
            self.Pledged,
            timestamp=now,
            key=key,
            funder_id=funder_id,
            funder_kind=kind,
            amount_cents=amount_cents,
            pledged_by=by,
            pledged_at=now,
        )

    def receive_payment(
        self, *, key: str, funder_id: str, amount_cents: int, by: str, now: datetime
    ) -> None:
        """A funder pays part or all of what it pledged."""
        key, funder_id = check_key(key, "payment key"), check_opaque_id(funder_id, "funder id")
        check_amount(amount_cents, "payment")
        if self._answered(f"payment:{key}", payment_digest(funder_id, amount_cents)):
            return
        self._check_open()
        due = self.pledged.get(funder_id, 0) - self.paid.get(funder_id, 0)
        if amount_cents > due:
            raise PaymentExceedsPledge(
                f"{amount_cents} cents paid, {due} pledged by {funder_id} and not yet paid",
                asked_cents=amount_cents,
                pledged_unpaid_cents=due,
            )
        self.trigger_event(
            self.PaymentReceived,
            timestamp=now,
            key=key,
            funder_id=funder_id,
            amount_cents=amount_cents,
            received_by=by,
            received_at=now,
        )

    def spend(
        self,
        *,
        key: str,
        amount_cents: int,
        purpose: SpendPurpose | str,
        reference: str,
        by: str,
        now: datetime,
    ) -> Amounts:
        """Spend matched money on devices or subsidies; answers the spend's lineage."""
        key = check_key(key, "spend key")
        check_amount(amount_cents, "spend")
        purpose = check_choice(SpendPurpose, purpose, "purpose")
        reference = check_opaque_id(reference, "spend reference")
        if self._answered(f"spend:{key}", spend_digest(purpose, reference, amount_cents)):
            return self.attributions[key]
        self._check_open()
        if amount_cents > self.available_cents:
            raise MatchedAmountExceeded(
                f"{amount_cents} cents asked, {self.available_cents} matched and not spent in "
                f"{self.territory_code}",
                asked_cents=amount_cents,
                available_cents=self.available_cents,
            )
        attribution = self.attribute(amount_cents)
        self.trigger_event(
            self.Spent,
            timestamp=now,
            key=key,
            purpose=purpose,
            reference=reference,
            amount_cents=amount_cents,
            attribution=attribution,
            spent_by=by,
            spent_at=now,
        )
        return attribution

    def close(self, *, by: str, now: datetime) -> Amounts:
        """End the programme here: each funder gets back its payments not spent."""
        if not self.is_closed:
            unspent = {f: self.paid[f] - self.spent.get(f, 0) for f in self.paid}
            returned = pro_rata(unspent, sum(unspent.values()))
            self.trigger_event(
                self.Closed, timestamp=now, returned=returned, closed_by=by, closed_at=now
            )
        return tuple(sorted(self.returned.items()))

    # Queries -----------------------------------------------------------------------------

    def by_kind(self, cents: Mapping[str, int]) -> list[int]:
        return [sum(c for f, c in cents.items() if self.kind_of[f] is k) for k in KINDS]

    @property
    def matched_cents(self) -> int:
        return matched_total(self.by_kind(self.paid), self.ratio)

    @property
    def spent_cents(self) -> int:
        return sum(self.spent.values())

    @property
    def available_cents(self) -> int:
        return 0 if self.is_closed else self.matched_cents - self.spent_cents

    def attribute(self, amount_cents: int) -> Amounts:
        """The lineage of a spend of this amount, were it made now."""
        assert amount_cents <= self.available_cents, "spends stay within the matched amount"
        parts = split_by_kind(amount_cents, self.by_kind(self.spent), self.ratio)
        lineage: list[tuple[str, int]] = []
        for kind, part in zip(KINDS, parts, strict=True):
            unspent = {
                f: paid - self.spent.get(f, 0)
                for f, paid in self.paid.items()
                if self.kind_of[f] is kind
            }
            lineage.extend(split_in_kind(part, unspent))
        return tuple(lineage)

    def report(self) -> CoFinancingReport:
        funders = tuple(
            FunderFigures(
                f,
                self.kind_of[f],
                self.pledged.get(f, 0),
                self.paid.get(f, 0),
                self.spent.get(f, 0),
                self.returned.get(f, 0),
            )
            for f in sorted(self.kind_of)
        )
        pledged, paid = self.by_kind(self.pledged), self.by_kind(self.paid)
        spent = self.by_kind(self.spent)
        kinds = tuple(
            KindFigures(k, w, p, q, s)
            for k, w, p, q, s in zip(KINDS, self.ratio, pledged, paid, spent, strict=True)
        )
        return CoFinancingReport(
            self.territory_code,
            self.ratio,
            self.is_closed,
            sum(pledged),
            sum(paid),
            self.matched_cents,
            sum(spent),
            sum(self.returned.values()),
            kinds,
            funders,
        )

    # Guards ------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.is_closed:
            raise CoFinancingClosed(
                f"the co-financing of {self.territory_code} is closed",
                territory=self.territory_code,
            )
        if len(self.keys) >= MAX_ENTRIES:
            raise InvalidInput(f"a territory's co-financing records at most {MAX_ENTRIES} entries")

    def _answered(self, key: str, digest: str) -> bool:
        """True for a retry of a recorded command; a key reused otherwise is refused."""
        recorded = self.keys.get(key)
        if recorded is not None and recorded != digest:
            kind, client_key = key.split(":", 1)
            raise IdempotencyKeyReused(
                f"{kind} key {client_key!r} was used with other details", key=client_key
            )
        return recorded is not None


def pledge_digest(funder_id: str, kind: FunderKind, amount_cents: int) -> str:
    return request_digest("cofinancing_pledge", funder_id, kind.value, amount_cents)


def payment_digest(funder_id: str, amount_cents: int) -> str:
    return request_digest("cofinancing_payment", funder_id, amount_cents)


def spend_digest(purpose: SpendPurpose, reference: str, amount_cents: int) -> str:
    return request_digest("cofinancing_spend", purpose.value, reference, amount_cents)
