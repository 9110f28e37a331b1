"""Local authorities and the territories they serve.

A local authority (collectivité territoriale) is a commune, a département or a région, and
it may top up the credit of the teachers of its own territory only. A territory is written
`kind:code` with the official code of the place:

- a commune by its INSEE code, five characters (`commune:75056` is Paris, `commune:2A004`
  Ajaccio, `commune:97411` Saint-Denis de La Réunion);
- a département by its number (`departement:75`, `departement:2A`, `departement:974`);
- a région by its INSEE code (`region:11` is Île-de-France, `region:04` La Réunion).

An authority acts under the id `kind-code` (`commune-75056`), which the operator writes in
its token: the id names the territory, so a top-up is checked against the teacher's account
with no other lookup. A teacher's account records, when it is granted, the territories of
the teacher's school (its commune, département and région) as the operator's grant file
lists them; an account granted without territories can be topped up by no authority.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ledger.errors import InvalidIdentifier
from ledger.holds import TopUpKind

MAX_TERRITORIES_PER_TEACHER = 8  # a school lies in one commune, département and région

# The régions since 2016, by INSEE code: five overseas (01-06), thirteen in Europe.
# fmt: off
REGION_CODES = frozenset({
    "01", "02", "03", "04", "06",  # Guadeloupe, Martinique, Guyane, La Réunion, Mayotte
    "11", "24", "27", "28", "32", "44", "52", "53", "75", "76", "84", "93", "94",
})
# fmt: on
_DEPARTEMENT = r"(?:0[1-9]|1\d|2[1-9AB]|[3-8]\d|9[0-5]|97[1-6])"
_CODES = {
    TopUpKind.COMMUNE: re.compile(r"(?:\d{2}|2[AB])\d{3}"),
    TopUpKind.DEPARTEMENT: re.compile(_DEPARTEMENT),
    TopUpKind.REGION: re.compile(r"\d{2}"),
}


@dataclass(frozen=True, slots=True)
class Territory:
    """The territory of one local authority: its level and its official code."""

    kind: TopUpKind
    code: str

    @property
    def name(self) -> str:
        """How accounts record it: `commune:75056`."""
        return f"{self.kind.value}:{self.code}"

    @property
    def authority_id(self) -> str:
        """The id its authority acts under: `commune-75056`."""
        return f"{self.kind.value}-{self.code}"


def territory(kind_name: str, code: str) -> Territory:
    """The territory of a level and a code, both checked."""
    kind = next((k for k in _CODES if k.value == kind_name), None)
    if kind is None:
        levels = ", ".join(k.value for k in _CODES)
        raise InvalidIdentifier(
            f"{kind_name!r} is not a level of local authority ({levels})", field="territory"
        )
    if not _CODES[kind].fullmatch(code) or (kind is TopUpKind.REGION and code not in REGION_CODES):
        raise InvalidIdentifier(f"{code!r} is not the code of a {kind.value}", field="territory")
    return Territory(kind, code)


def parse_territory(name: str) -> Territory:
    """`commune:75056` → the territory; anything else is refused."""
    kind_name, sep, code = name.partition(":")
    if not sep:
        raise InvalidIdentifier(
            f"{name!r} is not a territory: write level:code, e.g. commune:75056",
            field="territory",
        )
    return territory(kind_name, code)


def authority_territory(authority_id: str) -> Territory:
    """The territory an authority's id names: `departement-974` → departement:974."""
    kind_name, sep, code = authority_id.partition("-")
    if not sep:
        raise InvalidIdentifier(
            f"{authority_id!r} names no territory: an authority acts as level-code, "
            "e.g. commune-75056",
            field="authority_id",
        )
    return territory(kind_name, code)


def checked_territories(names: Iterable[str]) -> tuple[str, ...]:
    """A teacher's territories, checked, without repeats, in a stable order."""
    unique = sorted({parse_territory(name).name for name in names})
    if len(unique) > MAX_TERRITORIES_PER_TEACHER:
        raise InvalidIdentifier(
            f"at most {MAX_TERRITORIES_PER_TEACHER} territories per teacher", field="territory"
        )
    return tuple(unique)
