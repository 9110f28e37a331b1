"""Who a device-bank token names: its subject is the party, spelt as the domain spells it.

The device banks' parties are plain strings whose kind comes first (`ledger.parties`); a
token of a device-bank role carries that very string as its subject, in its one compact
spelling, so nothing is translated between the token and the events:

| role                                       | subject                               |
|--------------------------------------------|---------------------------------------|
| donor                                      | `company:{SIRET}` or `individual:{ref}` |
| collector, refurbisher, education_service | `organisation:{SIRET}`                |
| school                                     | `school:{UAI}`                        |
| telecom_operator (the internet fund)       | `telecom:{SIREN}`                     |
| company (co-financing)                     | `company:{SIRET}`                     |

`tirelire token issue --role refurbisher --subject organisation:55210055400013` makes one;
a subject of the wrong kind, or not compact (`organisation:552 100 554 00013`), is refused
when the token is issued, and again at the edge. The token says who calls; the domain
then checks what that party may do: an organisation acts in a role only while the
operator's approval for it is in force (409 `organisation_not_approved`).
"""

from __future__ import annotations

from api.spec import Caller, Role
from ledger.errors import Forbidden, InvalidIdentifier, InvalidInput
from ledger.identifiers import check_siren
from ledger.parties import (
    COMPANY,
    INDIVIDUAL,
    ORGANISATION,
    SCHOOL,
    check_party,
    company,
    party_kind,
    party_ref,
)

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


# The internet fund's callers -------------------------------------------------------------
# A telecom operator's token names it by its SIREN (`telecom:{SIREN}`), a co-financing
# company's by its SIRET as a donor company's does (`company:{SIRET}`), compact.

TELECOM = "telecom"
FUND_SUBJECTS: dict[Role, str] = {
    Role.TELECOM_OPERATOR: f"{TELECOM}:{{SIREN}}",
    Role.COMPANY: "company:{SIRET}",
}


def fund_subject(role: Role, subject: str) -> str:
    """The subject of an internet-fund role, checked; InvalidInput for any other."""
    kind, _, ref = subject.partition(":")
    try:
        if role is Role.TELECOM_OPERATOR and kind == TELECOM:
            expected = f"{TELECOM}:{check_siren(ref)}"
        elif role is Role.COMPANY and kind == COMPANY:
            expected = company(ref)
        else:
            expected = ""
    except InvalidIdentifier:
        expected = ""
    if expected != subject:
        raise InvalidInput(
            f"a {role.value}'s subject is {FUND_SUBJECTS[role]}, compact (no spaces or dots)",
            field="subject",
        )
    return subject


def caller_siren(caller: Caller) -> str:
    """The SIREN of the telecom operator calling; Forbidden for a token that names none."""
    if caller.role is not Role.TELECOM_OPERATOR:
        raise Forbidden(f"a {caller.role.value} is no telecom operator")
    try:
        return party_ref(fund_subject(caller.role, caller.subject))
    except InvalidInput as refused:
        raise Forbidden(refused.message) from None


def caller_funder(caller: Caller) -> str:
    """The co-financing funder a local authority or a company calls as: the company's
    party (`company:{SIRET}`), the authority's role and id (`authority:{id}`)."""
    if caller.role is Role.COMPANY:
        try:
            return fund_subject(caller.role, caller.subject)
        except InvalidInput as refused:
            raise Forbidden(refused.message) from None
    if caller.role is Role.AUTHORITY:
        return caller.name
    raise Forbidden(f"a {caller.role.value} pledges no co-financing of its own")
