"""Territories of the device-bank pilot, and the programme budget each one spends.

The pilot runs in territories chosen by a call for interest: five metropolises, at least
one of them overseas (Outre-mer). Territories are data, not code: the operator registers
each one (a short code, a name, its kind, its programme budget in cents and the funder
who provides that budget), and every device belongs to one of them.

**The budget pays refurbishments.** Each refurbishment's cost, and each later repair's, is
*charged* to the programme budget of the device's territory, for the refurbisher that did
the work. A charge beyond what remains is refused: the territory's budget is a hard cap.
The remaining amount lives on the territory aggregate, saved in the same transaction as
the device's event, so two concurrent refurbishments read the same version and the store
refuses the second: it retries on fresh state and is refused if the budget is spent.

**The programme pays up to 60 € per equipped pupil** (`MAX_CHARGE_PER_DEVICE_CENTS`): a
device's refurbishment and repairs together are charged at most that much, whatever the
territory has left. The cap is per device, so a device given back and reallocated to a
second pupil does not open a second 60 €; a refurbisher whose work costs more bears the
rest outside the programme, and the charge beyond the cap is refused, never truncated.

The books (`ledger.accounts`) post the registration from the funder to the territory's
budget, and each charge from that budget to the refurbisher's payable account: a
territory's budget account shows what it has left, its payables what it spent and to whom.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from ledger.device_records import check_choice, check_text
from ledger.errors import IdempotencyKeyReused, InvalidAmount, TerritoryBudgetExceeded
from ledger.ids import TIRELIRE_NAMESPACE, check_opaque_id, request_digest
from ledger.money import MAX_AMOUNT_CENTS

MAX_CHARGE_PER_DEVICE_CENTS = 6000  # 60 € per equipped pupil, the pilot's equipment share
MAX_NAME_LENGTH = 200


class TerritoryKind(Enum):
    METROPOLIS = "metropolis"  # in mainland France
    OVERSEAS = "overseas"  # Outre-mer: Guadeloupe, Guyane, La Réunion, Martinique, Mayotte…


def territory_id(code: str) -> UUID:
    return uuid5(TIRELIRE_NAMESPACE, f"territory:{check_opaque_id(code, 'territory code')}")


class Territory(Aggregate):
    """A territory of the pilot and its programme budget. The id is `territory_id(code)`."""

    class Event(Aggregate.Event):
        pass

    class Registered(Aggregate.Created):
        code: str
        name: str
        kind: TerritoryKind
        budget_cents: int
        funder_id: str
        request_digest: str
        registered_by: str
        registered_at: datetime

        def apply(self, territory: Territory) -> None:
            territory.code = self.code
            territory.name = self.name
            territory.kind = self.kind
            territory.budget_cents = self.budget_cents
            territory.funder_id = self.funder_id
            territory.request_digest = self.request_digest
            territory.spent_cents = 0

    class Charged(Event):
        device_id: UUID
        refurbisher_id: UUID
        amount_cents: int
        charged_by: str
        charged_at: datetime

        def apply(self, territory: Territory) -> None:
            territory.spent_cents += self.amount_cents

    @classmethod
    def register(
        cls,
        *,
        code: str,
        name: str,
        kind: TerritoryKind | str,
        budget_cents: int,
        funder_id: str,
        by: str,
        now: datetime,
    ) -> Territory:
        kind = check_choice(TerritoryKind, kind, "territory kind")
        name = check_text(name, "name", MAX_NAME_LENGTH)
        check_opaque_id(funder_id, "funder id")
        if type(budget_cents) is not int or not 0 < budget_cents <= MAX_AMOUNT_CENTS:
            raise InvalidAmount("a programme budget is a positive number of cents", field="budget")
        return cls._create(
            cls.Registered,
            id=territory_id(code),
            timestamp=now,
            code=code,
            name=name,
            kind=kind,
            budget_cents=budget_cents,
            funder_id=funder_id,
            request_digest=request_digest(
                "register_territory", code, name, kind.value, budget_cents, funder_id
            ),
            registered_by=by,
            registered_at=now,
        )

    def check_same_request(self, digest: str) -> None:
        if digest != self.request_digest:
            raise IdempotencyKeyReused(
                f"territory {self.code!r} is registered with other details", code=self.code
            )

    @property
    def remaining_cents(self) -> int:
        return self.budget_cents - self.spent_cents

    def check_charge(self, amount_cents: int) -> None:
        if amount_cents > self.remaining_cents:
            raise TerritoryBudgetExceeded(
                f"{amount_cents} cents asked, {self.remaining_cents} left in {self.name}'s "
                "programme budget",
                asked_cents=amount_cents,
                remaining_cents=self.remaining_cents,
            )

    def charge(
        self, *, device_id: UUID, refurbisher_id: UUID, amount_cents: int, by: str, now: datetime
    ) -> None:
        """Charge a device's refurbishment or repair to the budget (nothing for 0 cents)."""
        assert amount_cents >= 0, "the device checks its cost"
        self.check_charge(amount_cents)
        if amount_cents:
            self.trigger_event(
                self.Charged,
                timestamp=now,
                device_id=device_id,
                refurbisher_id=refurbisher_id,
                amount_cents=amount_cents,
                charged_by=by,
                charged_at=now,
            )
