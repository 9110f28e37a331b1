"""Local authorities' territories: the codes people type, refused when they name no place."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.authorities import (
    MAX_TERRITORIES_PER_TEACHER,
    REGION_CODES,
    authority_territory,
    checked_territories,
    parse_territory,
)
from ledger.errors import InvalidIdentifier
from ledger.holds import TopUpKind


@pytest.mark.parametrize(
    "name",
    [
        "commune:75056",
        "commune:2A004",
        "commune:97411",
        "departement:01",
        "departement:2B",
        "departement:95",
        "departement:976",
        "region:11",
        "region:04",
    ],
)
def test_the_codes_of_real_places_are_accepted(name: str):
    assert parse_territory(name).name == name


@pytest.mark.parametrize(
    "name",
    [
        "commune:7505",  # four digits
        "commune:750560",
        "commune:2C004",
        "departement:20",  # Corsica has been 2A and 2B since 1976
        "departement:00",
        "departement:96",
        "departement:977",
        "region:99",
        "region:1",
        "canton:75",
        "commune",
        "",
        "Commune:75056",
    ],
)
def test_a_territory_that_names_no_place_is_refused(name: str):
    with pytest.raises(InvalidIdentifier):
        parse_territory(name)


def test_an_authority_acts_under_the_id_that_names_its_territory():
    territory = authority_territory("departement-974")
    assert (territory.kind, territory.code) == (TopUpKind.DEPARTEMENT, "974")
    assert territory.name == "departement:974" and territory.authority_id == "departement-974"
    for bad in ("commune-demo", "mairie-75056", "75056", "other-epci"):
        with pytest.raises(InvalidIdentifier):
            authority_territory(bad)


@given(st.sampled_from(sorted(REGION_CODES)))
def test_every_region_round_trips_between_its_authority_id_and_its_name(code: str):
    territory = authority_territory(f"region-{code}")
    assert parse_territory(territory.name) == territory


def test_a_teacher_s_territories_are_kept_once_each_in_a_stable_order():
    assert checked_territories(["region:11", "commune:75056", "region:11"]) == (
        "commune:75056",
        "region:11",
    )
    too_many = [f"commune:750{n:02d}" for n in range(MAX_TERRITORIES_PER_TEACHER + 1)]
    with pytest.raises(InvalidIdentifier, match="at most"):
        checked_territories(too_many)
