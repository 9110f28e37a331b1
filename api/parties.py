"""Who a device-bank token names: its subject is the party, spelt as the domain spells it.

The device banks' parties are plain strings whose kind comes first (`ledger.parties`); a
token of a device-bank role carries that very string as its subject, in its one compact
spelling, so nothing is translated between the token and the events:

| role                                       | subject                               |
|--------------------------------------------|---------------------------------------|
| donor                                      | `company:{SIRET}` or `individual:{ref}` |
| collector, refurbisher, education_service | `organisation:{SIRET}`                |
| school                                     | `school:{UAI}`                        |

`tirelire token issue --role refurbisher --subject organisation:55210055400013` makes one;
a subject of the wrong kind, or not compact (`organisation:552 100 554 00013`), is refused
when the token is issued, and again at the edge. The token says who calls; the domain
then checks what that party may do: an organisation acts in a role only while the
operator's approval for it is in force (409 `organisation_not_approved`).
"""

from __future__ import annotations

from api.spec import Caller, Role
from ledger.errors import Forbidden, InvalidIdentifier, InvalidInput
from ledger.parties import COMPANY, INDIVIDUAL, ORGANISATION, SCHOOL, check_party, party_kind

PARTY_KINDS: dict[Role, tuple[str, ...]] = {
    Role.DONOR: (COMPANY, INDIVIDUAL),
    Role.COLLECTOR: (ORGANISATION,),
    Role.REFURBISHER: (ORGANISATION,),
    Role.EDUCATION_SERVICE: (ORGANISATION,),
    Role.SCHOOL: (SCHOOL,),
}
PARTY_ROLES = frozenset(PARTY_KINDS)
_FORMS = {
    COMPANY: "company:{SIRET}",
    INDIVIDUAL: "individual:{ref}",
    ORGANISATION: "organisation:{SIRET}",
    SCHOOL: "school:{UAI}",
}


def subject_party(role: Role, subject: str) -> str:
    """The party a subject names in a device-bank role; InvalidInput for any other."""
    kinds = PARTY_KINDS[role]
    try:
        party = check_party(subject)
    except InvalidIdentifier:
        party = ""
    if party != subject or party_kind(party) not in kinds:
        forms = " or ".join(_FORMS[kind] for kind in kinds)
        raise InvalidInput(
            f"a {role.value}'s subject is {forms}, compact (no spaces or dots)",
            field="subject",
        )
    return party


def caller_party(caller: Caller) -> str:
    """The party the caller acts as; Forbidden for a token that names none."""
    if caller.role not in PARTY_KINDS:
        raise Forbidden(f"a {caller.role.value} is no party of the device banks")
    try:
        return subject_party(caller.role, caller.subject)
    except InvalidInput as refused:
        raise Forbidden(refused.message) from None
