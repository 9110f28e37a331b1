"""Households' fingerprints: stable however the identifiers are typed, different under
another key, and a key that is read, made once beside SQLite, or refused."""

from __future__ import annotations

import stat

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import InvalidHouseholdKey, InvalidInput
from ledger.households import (
    HouseholdIdentity,
    HouseholdKey,
    check_fingerprint,
    load_household_key,
    normalise,
    read_household_key,
)
from ledger.settings import Settings

KEY = HouseholdKey(bytes(range(32)))
OTHER_KEY = HouseholdKey(bytes(range(1, 33)))
HELENE = HouseholdIdentity("Hélène Dupré-Léger", "3, rue de l'Église 75002 Paris")


def test_normalising_strips_accents_folds_case_and_collapses_punctuation():
    assert normalise("  Mme  HÉLÈNE d'Arc-Dupré ") == "mme helene d arc dupre"
    assert normalise("Straße\tŒuvre…") == "strasse œuvre"
    assert normalise("ﬁ ① Ｐａｒｉｓ") == "fi 1 paris"  # compatibility forms (NFKD)


@pytest.mark.parametrize(
    "name, address",
    [
        ("helene dupre leger", "3 rue de l eglise 75002 paris"),
        ("HÉLÈNE   DUPRÉ LÉGER", "3 RUE DE L'ÉGLISE, 75002 PARIS"),
        (" Helene\tDupre--Leger. ", "3 rue de l’Eglise - 75002 - Paris"),
    ],
)
def test_a_fingerprint_is_stable_under_accents_case_spaces_and_punctuation(name, address):
    assert KEY.fingerprint(HouseholdIdentity(name, address)) == KEY.fingerprint(HELENE)


def test_a_fingerprint_differs_with_another_key_or_another_household():
    fingerprint = KEY.fingerprint(HELENE)
    assert check_fingerprint(fingerprint) == fingerprint
    assert OTHER_KEY.fingerprint(HELENE) != fingerprint
    moved = HouseholdIdentity(HELENE.name, "5 rue de l'Église 75002 Paris")
    assert KEY.fingerprint(moved) != fingerprint
    # The fields are kept apart: words moved from one to the other change the fingerprint.
    assert KEY.fingerprint(HouseholdIdentity("a b", "c")) != KEY.fingerprint(
        HouseholdIdentity("a", "b c")
    )


# What French names and addresses are typed with: Latin letters with their accents, digits,
# punctuation and spaces (the Turkish dotless ı alone has no case that folds back to it).
TYPED = st.characters(max_codepoint=0x24F, exclude_characters="ı", exclude_categories=["Cs"])


@given(name=st.text(TYPED, min_size=1, max_size=40), address=st.text(TYPED, max_size=40))
def test_normalising_twice_changes_nothing_and_case_never_matters(name, address):
    assert normalise(normalise(name)) == normalise(name)
    identity = HouseholdIdentity(name, address)
    try:
        fingerprint = KEY.fingerprint(identity)
    except InvalidInput:  # nothing left once normalised: refused either way
        with pytest.raises(InvalidInput):
            KEY.fingerprint(HouseholdIdentity(name.upper(), address.upper()))
        return
    shouted = HouseholdIdentity(f"  {name.upper()} ", f"{address.upper()},")
    assert KEY.fingerprint(shouted) == fingerprint


@pytest.mark.parametrize("name, address", [("", "Paris"), ("—", "Paris"), ("A", "x" * 501)])
def test_identifiers_that_are_empty_once_normalised_or_too_long_are_refused(name, address):
    with pytest.raises(InvalidInput):
        KEY.fingerprint(HouseholdIdentity(name, address))


def test_neither_the_key_nor_the_identifiers_show_in_a_repr():
    assert "Hélène" not in repr(HELENE) and "Église" not in repr(HELENE)
    assert bytes(range(32)).hex() not in repr(KEY) and "\\x00" not in repr(KEY)


@pytest.mark.parametrize("secret", [b"short", b"x" * 33, "x" * 32])
def test_a_key_is_32_bytes(secret):
    with pytest.raises(InvalidHouseholdKey):
        HouseholdKey(secret)


@pytest.mark.parametrize("fingerprint", ["ab" * 31, "AB" * 32, "zz" * 32, 5])
def test_a_fingerprint_is_64_lower_case_hex_characters(fingerprint):
    with pytest.raises(InvalidInput):
        check_fingerprint(fingerprint)


# The key's file ---------------------------------------------------------------------------


def test_the_sqlite_default_makes_a_key_once_beside_the_database(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path}/t.db")
    assert settings.household_key_path == tmp_path / "t.db.household-key"
    first = load_household_key(settings)
    assert stat.S_IMODE(settings.household_key_path.stat().st_mode) == 0o600
    assert load_household_key(settings) == first
    assert read_household_key(settings.household_key_path) == first


def test_a_configured_key_file_is_read_from_the_environment(tmp_path):
    path = tmp_path / "household.key"
    path.write_text(bytes(range(32)).hex() + "\n")
    settings = Settings.from_env(
        {"TIRELIRE_DATABASE_URL": "memory://", "TIRELIRE_HOUSEHOLD_KEY_FILE": str(path)}
    )
    assert load_household_key(settings) == KEY


def test_a_missing_configured_key_or_postgresql_without_one_is_refused(tmp_path):
    configured = Settings(
        database_url=f"sqlite:///{tmp_path}/t.db", household_key_file=str(tmp_path / "none")
    )
    with pytest.raises(InvalidHouseholdKey):
        load_household_key(configured)
    with pytest.raises(InvalidHouseholdKey):
        load_household_key(Settings(database_url="postgresql://db/tirelire"))
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("content", [b"not hex", b"ab" * 16, b"\xff" * 64, b"0" * 2000])
def test_a_key_file_that_holds_no_key_is_refused(tmp_path, content):
    path = tmp_path / "household.key"
    path.write_bytes(content)
    with pytest.raises(InvalidHouseholdKey):
        read_household_key(path)


def test_the_in_memory_store_gets_a_key_for_the_process():
    settings = Settings(database_url="memory://")
    assert settings.household_key_path is None
    assert load_household_key(settings) == load_household_key(Settings(database_url="memory://"))
