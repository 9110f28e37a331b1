"""SIREN, SIRET and IBAN: what people type is accepted, a wrong digit is refused with a code."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import luhn

from ledger.errors import InvalidIdentifier
from ledger.identifiers import (
    MAX_TYPED_LENGTH,
    InvalidIban,
    InvalidSiren,
    InvalidSiret,
    check_iban,
    check_siren,
    check_siret,
    mask_iban,
    siren_of,
)

SIREN = "732829320"
SIRET = "73282932000074"
IBAN = "FR7630006000011234567890189"
GERMAN_IBAN = "DE89370400440532013000"


@pytest.mark.parametrize("typed", ["732829320", "732 829 320", " 732.829.320 "])
def test_a_siren_typed_with_spaces_or_dots_answers_its_nine_digits(typed):
    assert check_siren(typed) == SIREN


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("732829321", "checksum"),
        ("73282932", "length"),
        ("7328293200", "length"),
        ("73282932O", "format"),
        ("", "format"),
        ("7" * (MAX_TYPED_LENGTH + 1), "format"),
    ],
)
def test_a_bad_siren_is_refused_with_its_code_and_reason(typed, reason):
    with pytest.raises(InvalidSiren) as refused:
        check_siren(typed)
    assert refused.value.code == "invalid_siren"
    assert refused.value.details == {"field": "SIREN", "reason": reason}


def test_a_value_that_is_not_text_is_refused_as_an_invalid_identifier():
    with pytest.raises(InvalidIdentifier):
        check_siren(732829320)  # type: ignore[arg-type]


def test_a_siret_typed_with_spaces_answers_its_fourteen_digits_and_its_siren():
    assert check_siret("732 829 320 00074") == SIRET
    assert siren_of("732 829 320 00074") == SIREN


@pytest.mark.parametrize("typed", ["73282932000075", "7328293200007", "73282932000074x"])
def test_a_bad_siret_is_refused(typed):
    with pytest.raises(InvalidSiret) as refused:
        check_siret(typed)
    assert refused.value.code == "invalid_siret"


@pytest.mark.parametrize(
    "typed",
    [IBAN, "fr76 3000 6000 0112 3456 7890 189", "FR76-3000-6000-0112-3456-7890-189"],
)
def test_an_iban_typed_in_lower_case_with_separators_answers_its_compact_form(typed):
    assert check_iban(typed) == IBAN


def test_an_iban_of_another_country_is_accepted_with_its_own_length():
    assert check_iban("de89 3704 0044 0532 0130 00") == GERMAN_IBAN


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("FR7630006000011234567890180", "checksum"),  # one digit changed
        ("FR763000600001123456789018", "length"),  # a French IBAN has 27 characters
        ("FR76300060000112345678901890", "length"),
        ("", "format"),
    ],
)
def test_a_bad_iban_is_refused_with_its_code_and_reason(typed, reason):
    with pytest.raises(InvalidIban) as refused:
        check_iban(typed)
    assert (refused.value.code, refused.value.details["reason"]) == ("invalid_iban", reason)


def test_a_masked_iban_shows_its_country_its_check_digits_and_its_last_group_only():
    assert mask_iban("fr76 3000 6000 0112 3456 7890 189") == "FR76 **** **** **** **** **** 189"
    assert mask_iban(GERMAN_IBAN) == "DE89 **** **** **** **** 00"


def test_masking_an_invalid_iban_is_refused():
    with pytest.raises(InvalidIban):
        mask_iban("FR7630006000011234567890180")


nine_digit_bodies = st.text(alphabet="0123456789", min_size=8, max_size=8)


@given(body=nine_digit_bodies, position=st.integers(0, 8), shift=st.integers(1, 9))
def test_any_siren_with_a_luhn_check_digit_is_accepted_and_one_changed_digit_is_refused(
    body, position, shift
):
    siren = body + luhn.calc_check_digit(body)
    assert check_siren(siren) == siren
    changed = siren[:position] + str((int(siren[position]) + shift) % 10) + siren[position + 1 :]
    with pytest.raises(InvalidSiren):
        check_siren(changed)
