"""Organisations of the device banks, and the operator's approvals of them for a role.

The chain from donor to pupil runs through three kinds of organisation: the collectors
(éco-organismes and recycling companies) that collect donated equipment, the refurbishers
(social-reintegration associations, *agréées*) that wipe, refurbish or scrap it and deliver
it to schools, and the education services (rectorats, académies) that identify the pupils
who receive it. Each is a legal entity known by its SIRET: its id derives from it.

The operator **approves** an organisation for a role, and may **withdraw** that approval
(with a reason); both are events, so who could act in which role at any moment is on the
record. An organisation may hold several roles (an association that both collects and
refurbishes). Approving a role in force, or withdrawing one already withdrawn, is a retry
and records nothing. Withdrawing does not take back the devices the organisation holds:
it may still hand them over, but may no longer receive devices or act in that role.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from ledger.device_records import check_choice, check_text
from ledger.errors import IdempotencyKeyReused, InvalidInput, OrganisationNotApproved
from ledger.identifiers import check_siret
from ledger.ids import TIRELIRE_NAMESPACE, request_digest
from ledger.parties import APPROVED_ROLES, Actor, PartyRole, organisation

MAX_NAME_LENGTH = 200
MAX_REASON_LENGTH = 500


def organisation_id(siret: str) -> UUID:
    """The id of the organisation of a SIRET: one establishment, one organisation."""
    return uuid5(TIRELIRE_NAMESPACE, f"organisation:{check_siret(siret)}")


class Organisation(Aggregate):
    """A collector, refurbisher or education service. The id is `organisation_id(siret)`."""

    class Event(Aggregate.Event):
        pass

    class Registered(Aggregate.Created):
        siret: str
        name: str
        request_digest: str
        registered_by: str
        registered_at: datetime

        def apply(self, org: Organisation) -> None:
            org.siret = self.siret
            org.name = self.name
            org.request_digest = self.request_digest
            org.approved = {}  # role: in force since
            org.ever_approved = set()

    class RoleApproved(Event):
        role: PartyRole
        approved_by: str
        approved_at: datetime

        def apply(self, org: Organisation) -> None:
            org.approved[self.role] = self.approved_at
            org.ever_approved.add(self.role)

    class ApprovalWithdrawn(Event):
        role: PartyRole
        reason: str
        withdrawn_by: str
        withdrawn_at: datetime

        def apply(self, org: Organisation) -> None:
            del org.approved[self.role]

    @classmethod
    def register(cls, *, siret: str, name: str, by: str, now: datetime) -> Organisation:
        siret = check_siret(siret)
        name = check_text(name, "name", MAX_NAME_LENGTH)
        return cls._create(
            cls.Registered,
            id=organisation_id(siret),
            timestamp=now,
            siret=siret,
            name=name,
            request_digest=registration_digest(siret, name),
            registered_by=by,
            registered_at=now,
        )

    def check_same_request(self, digest: str) -> None:
        if digest != self.request_digest:
            raise IdempotencyKeyReused(
                f"SIRET {self.siret} is registered under another name", siret=self.siret
            )

    def approve(self, *, role: PartyRole | str, by: str, now: datetime) -> None:
        """Approve the organisation for a role; a role already in force records nothing."""
        role = check_approvable(role)
        if role not in self.approved:
            self.trigger_event(
                self.RoleApproved, timestamp=now, role=role, approved_by=by, approved_at=now
            )

    def withdraw(self, *, role: PartyRole | str, reason: str, by: str, now: datetime) -> None:
        """Withdraw an approval; one already withdrawn records nothing, one never given is
        refused."""
        role = check_approvable(role)
        reason = check_text(reason, "reason", MAX_REASON_LENGTH)
        if role in self.approved:
            self.trigger_event(
                self.ApprovalWithdrawn,
                timestamp=now,
                role=role,
                reason=reason,
                withdrawn_by=by,
                withdrawn_at=now,
            )
        elif role not in self.ever_approved:
            raise OrganisationNotApproved(
                f"{self.name} was never approved as {role.value}", role=role.value
            )

    def actor(self) -> Actor:
        """The organisation as it may act now: in the roles approved and not withdrawn."""
        return Actor(organisation(self.siret), frozenset(self.approved))

    @property
    def roles(self) -> tuple[PartyRole, ...]:
        return tuple(r for r in APPROVED_ROLES if r in self.approved)


def registration_digest(siret: str, name: str) -> str:
    return request_digest("register_organisation", siret, name)


def check_approvable(role: PartyRole | str) -> PartyRole:
    role = check_choice(PartyRole, role, "role")
    if role not in APPROVED_ROLES:
        raise InvalidInput(
            f"the operator approves collectors, refurbishers and education services, not a "
            f"{role.value}",
            field="role",
        )
    return role
