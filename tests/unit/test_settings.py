"""Settings from the environment: defaults, and a clear refusal of a bad value."""

from __future__ import annotations

import pytest

from ledger.errors import InvalidIban, InvalidInput
from ledger.settings import DEFAULT_DEBTOR_IBAN, Settings


def test_the_defaults_need_nothing_set():
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite:///tirelire.db"
    assert settings.debtor_iban == DEFAULT_DEBTOR_IBAN
    assert str(settings.signing_key_path) == "tirelire.db.signing-key.pem"


def test_the_programme_s_account_comes_from_the_environment_and_is_checked():
    env = {
        "TIRELIRE_DEBTOR_NAME": "Caisse des écoles",
        "TIRELIRE_DEBTOR_IBAN": "DE89370400440532013000",
    }
    settings = Settings.from_env(env)
    assert (settings.debtor_name, settings.debtor_iban) == (
        "Caisse des écoles",
        env["TIRELIRE_DEBTOR_IBAN"],
    )
    with pytest.raises(InvalidIban):
        Settings.from_env({"TIRELIRE_DEBTOR_IBAN": "FR7630004000010001234560168"})


@pytest.mark.parametrize(
    "name, value",
    [
        ("TIRELIRE_MAX_BODY_BYTES", "10"),
        ("TIRELIRE_MAX_PAGE_SIZE", "0"),
        ("TIRELIRE_RATE_PER_MINUTE", "0"),
        ("TIRELIRE_GRANT_CHUNK_SIZE", "many"),
    ],
)
def test_a_bad_value_is_refused_with_its_name(name, value):
    with pytest.raises(InvalidInput):
        Settings.from_env({name: value})
