"""Identifiers a French user types: SIREN, SIRET, IBAN and UAI, checked before recording.

- **SIREN**: 9 digits naming a company (an *unité légale*) in the national register; the
  last digit is a Luhn check digit.
- **SIRET**: 14 digits naming one establishment of a company: its SIREN, then a 5-digit
  establishment number (NIC), the whole again closed by a Luhn check digit. La Poste's
  establishments are the one exception (their digits sum to a multiple of 5); the library
  knows it.
- **IBAN** (ISO 13616): a country code, two check digits (mod 97) and the national account
  number. A French IBAN has 27 characters.
- **UAI** (unité administrative immatriculée, formerly RNE): a school or establishment in
  the national directory. Seven digits (three for the department, `075` for Paris, `971` for
  Guadeloupe, `620`/`720` for Corsica, then four), closed by a check letter: the seven digits
  read as a number, modulo 23, index the 23 letters A to Z without I, O and Q. Lycée
  Louis-le-Grand is `0750655E`: 750655 = 23 × 32637 + 4, and the letter of 4 is E.

People type these with spaces, dots or dashes and in lower case; every `check_*` function
accepts that and answers the compact form, which is the only form recorded. A bad value is
refused with a domain error whose code names the identifier (`invalid_siren`, …) and whose
`reason` says what is wrong (`length`, `format`, `checksum`). The checks of SIREN, SIRET
and IBAN are python-stdnum's; its errors are converted here, at the edge where they arise.
python-stdnum has no UAI, so its check letter is computed here. The department digits are
not checked against a list: the national directory is the authority on which UAIs exist.

An IBAN is shown masked (`mask_iban`): enough to recognise an account, not to use it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from stdnum import iban as stdnum_iban
from stdnum.exceptions import InvalidChecksum, InvalidLength, ValidationError
from stdnum.fr import siren as stdnum_siren
from stdnum.fr import siret as stdnum_siret

from ledger.errors import (
    InvalidIban,
    InvalidIdentifier,
    InvalidSiren,
    InvalidSiret,
    InvalidUai,
)

# What a person may type, separators included; no real identifier comes close.
MAX_TYPED_LENGTH = 64
FR_IBAN_LENGTH = 27
IBAN_GROUP_LENGTH = 4
UAI_LENGTH = 8
UAI_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"  # 23 letters: no I, O or Q, too like 1, 0 and O
_UAI_SEPARATORS = re.compile(r"[\s.\-]")
_UAI = re.compile(r"^[0-9]{7}[A-Z]$")


def check_siren(text: str) -> str:
    """The compact SIREN (9 digits, Luhn-checked) of what was typed."""
    return _checked(text, "SIREN", stdnum_siren.validate, InvalidSiren)


def check_siret(text: str) -> str:
    """The compact SIRET (14 digits, Luhn-checked, its SIREN too) of what was typed."""
    return _checked(text, "SIRET", stdnum_siret.validate, InvalidSiret)


def siren_of(siret: str) -> str:
    """The SIREN of the company an establishment (a SIRET) belongs to."""
    return check_siret(siret)[:9]


def check_iban(text: str) -> str:
    """The compact IBAN (upper case, no separators, mod-97-checked) of what was typed."""
    compact = _checked(text, "IBAN", stdnum_iban.compact, InvalidIban)
    if compact.startswith("FR") and len(compact) != FR_IBAN_LENGTH:
        raise InvalidIban(
            f"a French IBAN has {FR_IBAN_LENGTH} characters, not {len(compact)}",
            field="IBAN",
            reason="length",
        )
    return _checked(compact, "IBAN", stdnum_iban.validate, InvalidIban)


def check_uai(text: str) -> str:
    """The compact UAI (seven digits, then its check letter, upper case) of what was typed."""
    if not isinstance(text, str) or not 0 < len(text) <= MAX_TYPED_LENGTH:
        raise _invalid_uai(
            "format", f"a UAI is typed as text of 1 to {MAX_TYPED_LENGTH} characters"
        )
    compact = _UAI_SEPARATORS.sub("", text).upper()
    if len(compact) != UAI_LENGTH:
        raise _invalid_uai("length", f"a UAI has {UAI_LENGTH} characters, not {len(compact)}")
    if not _UAI.match(compact):
        raise _invalid_uai("format", "a UAI is seven digits, then a letter")
    if compact[-1] != uai_check_letter(compact[:-1]):
        raise _invalid_uai(
            "checksum", f"this UAI is invalid (its check letter is not {compact[-1]})"
        )
    return compact


def uai_check_letter(digits: str) -> str:
    """The check letter of a UAI's seven digits."""
    assert len(digits) == UAI_LENGTH - 1 and digits.isdigit(), "seven digits"
    return UAI_LETTERS[int(digits) % len(UAI_LETTERS)]


def _invalid_uai(reason: str, message: str) -> InvalidUai:
    return InvalidUai(message, field="UAI", reason=reason)


def mask_iban(text: str) -> str:
    """An IBAN for display: its country and check digits, and its last group, in clear.

    >>> mask_iban("FR7630006000011234567890189")
    'FR76 **** **** **** **** **** 189'
    """
    compact = check_iban(text)
    groups = [compact[i : i + IBAN_GROUP_LENGTH] for i in range(0, len(compact), IBAN_GROUP_LENGTH)]
    return " ".join([groups[0], *("****" for _ in groups[1:-1]), groups[-1]])


def _checked(
    text: str,
    what: str,
    validate: Callable[[str], str],
    error: type[InvalidIdentifier],
) -> str:
    if not isinstance(text, str) or not 0 < len(text) <= MAX_TYPED_LENGTH:
        raise error(
            f"a {what} is typed as text of 1 to {MAX_TYPED_LENGTH} characters",
            field=what,
            reason="format",
        )
    try:
        return validate(text)
    except ValidationError as failure:
        reason = _reason(failure)
        raise error(f"this {what} is invalid ({reason})", field=what, reason=reason) from None


def _reason(failure: ValidationError) -> str:
    if isinstance(failure, InvalidChecksum):
        return "checksum"
    if isinstance(failure, InvalidLength):
        return "length"
    return "format"
