"""The device-bank programme: the operator registers the pilot's territories with their
budgets and approves the organisations that collect, refurbish and allocate devices (the
rules live in `ledger.territories` and `ledger.organisations`).

`DeviceProgramme` is the base of the `DeviceBank` application (`ledger.device_bank`),
apart so each reads whole: the bank's commands read the territories and the approvals
this half records.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from ledger.application import LedgerApplication
from ledger.errors import OrganisationNotFound, TerritoryNotFound
from ledger.organisations import Organisation, organisation_id, registration_digest
from ledger.parties import Actor, PartyRole
from ledger.territories import Territory, TerritoryKind


class DeviceProgramme(LedgerApplication):
    """The operator's side of the device banks: territories and approved organisations."""

    def register_territory(
        self,
        *,
        code: str,
        name: str,
        kind: TerritoryKind | str,
        budget_cents: int,
        funder_id: str,
        by: str,
        now: datetime,
    ) -> UUID:
        """Register a pilot territory and its programme budget; a retry answers the same id."""

        def attempt() -> UUID:
            territory = Territory.register(
                code=code,
                name=name,
                kind=kind,
                budget_cents=budget_cents,
                funder_id=funder_id,
                by=by,
                now=now,
            )
            existing = self._find(territory.id)
            if existing is not None:
                existing.check_same_request(territory.request_digest)
            else:
                self.record(territory)
            return territory.id

        return self.retrying(attempt, "the territory")

    def approve_organisation(
        self, *, siret: str, name: str, role: PartyRole | str, by: str, now: datetime
    ) -> UUID:
        """Approve an organisation for a role, registering it the first time."""
        checked = Organisation.register(siret=siret, name=name, by=by, now=now)

        def attempt() -> UUID:
            org = self._find(checked.id)
            if org is None:
                org = Organisation.register(siret=siret, name=name, by=by, now=now)
            else:
                org.check_same_request(registration_digest(checked.siret, checked.name))
            org.approve(role=role, by=by, now=now)
            self.record(org)
            return org.id

        return self.retrying(attempt, "the organisation")

    def withdraw_approval(
        self, *, siret: str, role: PartyRole | str, reason: str, by: str, now: datetime
    ) -> None:
        """Withdraw an organisation's approval for a role; it may no longer act in it."""

        def attempt() -> None:
            org = self.get_organisation(organisation_id(siret))
            org.withdraw(role=role, reason=reason, by=by, now=now)
            self.record(org)

        self.retrying(attempt, "the organisation")

    def get_organisation(self, organisation_id: UUID) -> Organisation:
        return self._get(organisation_id, Organisation, OrganisationNotFound, "organisation")

    def get_territory(self, territory_id: UUID) -> Territory:
        return self._get(territory_id, Territory, TerritoryNotFound, "territory")

    def _organisation(self, siret: str) -> Actor:
        """An organisation as it may act now: in the roles approved and not withdrawn."""
        return self.get_organisation(organisation_id(siret)).actor()
