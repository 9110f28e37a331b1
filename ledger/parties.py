"""Parties of the device banks: who gives, holds or receives a device, and in which role.

A **party** is named by a plain string whose kind comes first, so that events hold it as
it is:

| party                        | who                                             | approval |
|------------------------------|-------------------------------------------------|----------|
| `company:{SIRET}`            | a company that donates                          | none     |
| `individual:{donor ref}`     | a person who donates (an opaque ref, no name)   | none     |
| `organisation:{SIRET}`       | a collector, refurbisher or education service   | operator |
| `school:{UAI}`               | the school of the pupil who receives the device | none     |

Donors need no approval, and a school is known by its UAI in the national directory. An
**organisation** acts in a role only while the operator's approval for that role is in
force (`ledger.organisations`): a collector cannot certify a wipe, a donor cannot allocate.
An `Actor` is a party with the roles it may act in at that moment; a device's commands
take actors and check their roles, so the rule lives in the domain, not at the API's edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ledger.errors import InvalidIdentifier, OrganisationNotApproved
from ledger.identifiers import check_siret, check_uai
from ledger.ids import check_opaque_id

COMPANY = "company"
INDIVIDUAL = "individual"
ORGANISATION = "organisation"
SCHOOL = "school"


class PartyRole(Enum):
    """The role a party plays in the chain; the middle three need the operator's approval."""

    DONOR = "donor"
    COLLECTOR = "collector"  # an éco-organisme or recycling company
    REFURBISHER = "refurbisher"  # an approved social-reintegration association
    EDUCATION_SERVICE = "education_service"  # rectorat, académie: identifies the pupils
    SCHOOL = "school"


APPROVED_ROLES = (PartyRole.COLLECTOR, PartyRole.REFURBISHER, PartyRole.EDUCATION_SERVICE)


def company(siret: str) -> str:
    return f"{COMPANY}:{check_siret(siret)}"


def individual(donor_ref: str) -> str:
    return f"{INDIVIDUAL}:{check_opaque_id(donor_ref, 'donor reference')}"


def organisation(siret: str) -> str:
    return f"{ORGANISATION}:{check_siret(siret)}"


def school(uai: str) -> str:
    return f"{SCHOOL}:{check_uai(uai)}"


_PARTY_KINDS = {
    COMPANY: company,
    INDIVIDUAL: individual,
    ORGANISATION: organisation,
    SCHOOL: school,
}


def check_party(text: str) -> str:
    """The normalised party of what was typed (`organisation:732 829 320 00074` → compact)."""
    kind, _, ref = text.partition(":") if isinstance(text, str) else ("", "", "")
    make = _PARTY_KINDS.get(kind)
    if make is None:
        raise InvalidIdentifier(
            "a party is company:{SIRET}, individual:{ref}, organisation:{SIRET} or school:{UAI}",
            field="party",
        )
    return make(ref)


def check_donor(text: str) -> str:
    donor = check_party(text)
    if party_kind(donor) not in (COMPANY, INDIVIDUAL):
        raise InvalidIdentifier(
            "a donor is a company:{SIRET} or an individual:{ref}", field="donor"
        )
    return donor


def party_kind(party: str) -> str:
    return party.split(":", 1)[0]


def party_ref(party: str) -> str:
    return party.split(":", 1)[1]


@dataclass(frozen=True, slots=True)
class Actor:
    """A party and the roles it may act in now (an organisation: its approvals in force)."""

    party: str
    roles: frozenset[PartyRole]

    @classmethod
    def donor(cls, party: str) -> Actor:
        return cls(check_donor(party), frozenset({PartyRole.DONOR}))

    @classmethod
    def school(cls, uai: str) -> Actor:
        return cls(school(uai), frozenset({PartyRole.SCHOOL}))

    def check_acts_as(self, role: PartyRole) -> None:
        if role not in self.roles:
            raise OrganisationNotApproved(
                f"{self.party} is not approved as {role.value}",
                party=self.party,
                role=role.value,
            )
