"""UAI: real schools' codes are accepted as typed, a wrong character is refused with a reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import InvalidIdentifier
from ledger.identifiers import UAI_LETTERS, InvalidUai, check_uai, uai_check_letter

# Establishments of the national directory, found in public data (the letter is theirs).
REAL_UAIS = [
    "0750655E",  # Lycée Louis-le-Grand, Paris
    "0750654D",  # Lycée Henri-IV, Paris
    "0750648X",  # Lycée Victor-Hugo, Paris
    "0590119J",  # Lille
    "0690026D",  # Lyon
    "0010856A",  # Ain
    "9711032V",  # Guadeloupe
    "9741070V",  # GRETA de La Réunion
]


def test_the_check_letters_are_the_23_letters_without_i_o_and_q():
    assert len(UAI_LETTERS) == 23 and not set("IOQ") & set(UAI_LETTERS)
    assert "".join(sorted(UAI_LETTERS)) == UAI_LETTERS


@pytest.mark.parametrize("uai", REAL_UAIS)
def test_the_uai_of_a_real_establishment_is_accepted(uai):
    assert check_uai(uai) == uai
    assert uai_check_letter(uai[:7]) == uai[7]


@pytest.mark.parametrize("typed", ["0750655e", " 0750655E ", "075 0655 E", "075.0655-E"])
def test_a_uai_typed_in_lower_case_or_with_separators_answers_its_compact_form(typed):
    assert check_uai(typed) == "0750655E"


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("0750655F", "checksum"),  # Louis-le-Grand's digits, another letter
        ("0750654E", "checksum"),  # one digit changed
        ("075065E", "length"),
        ("07506555E", "length"),
        ("O750655E", "format"),  # a letter O for a zero
        ("07506551", "format"),  # no letter
        ("", "format"),
        ("0" * 80, "format"),
    ],
)
def test_a_bad_uai_is_refused_with_its_code_and_reason(typed, reason):
    with pytest.raises(InvalidUai) as refused:
        check_uai(typed)
    assert refused.value.code == "invalid_uai"
    assert refused.value.details == {"field": "UAI", "reason": reason}


def test_a_uai_that_is_not_text_is_refused_as_an_invalid_identifier():
    with pytest.raises(InvalidIdentifier):
        check_uai(750655)  # type: ignore[arg-type]


seven_digits = st.text(alphabet="0123456789", min_size=7, max_size=7)
characters = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@given(digits=seven_digits, position=st.integers(0, 7), replacement=st.sampled_from(characters))
def test_any_uai_with_its_check_letter_is_accepted_and_any_one_character_changed_is_refused(
    digits, position, replacement
):
    uai = digits + uai_check_letter(digits)
    assert check_uai(uai) == uai
    if replacement == uai[position]:
        return  # not a change
    changed = uai[:position] + replacement + uai[position + 1 :]
    # A changed digit changes the number by d·10^k, never a multiple of the prime 23, so
    # the letter no longer matches; a changed letter is another letter or not a letter.
    with pytest.raises(InvalidUai):
        check_uai(changed)
