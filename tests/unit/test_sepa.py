"""SEPA credit-transfer files: valid pain.001, exact amounts, SEPA Latin text, clear refusals."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib import resources

import pytest
import xmlschema
from hypothesis import given, settings
from hypothesis import strategies as st
from sepaxml.utils import int_to_decimal_str
from sepaxml.validation import try_valid_xml

from ledger.errors import (
    DuplicateEndToEndId,
    EmptyPaymentFile,
    ExecutionDateInPast,
    InvalidAmount,
    InvalidBic,
    InvalidIban,
    InvalidPaymentFile,
    InvalidPaymentText,
    InvalidTransferAmount,
    TooManyTransfers,
)
from ledger.sepa import (
    MAX_NAME_LENGTH,
    MAX_REMITTANCE_LENGTH,
    MAX_TRANSFER_CENTS,
    MAX_TRANSFERS_PER_FILE,
    NAMESPACE,
    SEPA_CHARACTERS,
    Debtor,
    Transfer,
    TransferFile,
    check_pain001,
    control_sum_cents,
    decimal_text,
    sepa_text,
    summary,
    write_pain001,
)

NS = {"p": NAMESPACE}
DEBTOR_IBAN = "FR7630006000011234567890189"
VENDOR_IBAN = "DE89370400440532013000"
CREATED_AT = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
EXECUTION_DATE = date(2025, 3, 3)
DEBTOR = Debtor("Tirelire Crédit Éducation", DEBTOR_IBAN)


def a_transfer(number: int = 1, amount_cents: int = 1250, **changes: object) -> Transfer:
    fields = {
        "end_to_end_id": f"CLAIM-{number}",
        "creditor_name": "Éditions Lœuf",
        "creditor_iban": VENDOR_IBAN,
        "amount_cents": amount_cents,
        "remittance_text": f"Règlement de la facture {number}",
    }
    return Transfer(**{**fields, **changes})  # type: ignore[arg-type]


def a_file(*transfers: Transfer, **changes: object) -> TransferFile:
    fields = {
        "message_id": "RUN-2025-03-01",
        "created_at": CREATED_AT,
        "execution_date": EXECUTION_DATE,
        "debtor": DEBTOR,
        "transfers": transfers or (a_transfer(),),
    }
    return TransferFile(**{**fields, **changes})  # type: ignore[arg-type]


def parsed(xml: bytes) -> ET.Element:
    return ET.fromstring(xml)


def texts(root: ET.Element, path: str) -> list[str]:
    return [element.text or "" for element in root.findall(path, NS)]


def cents_of(text: str) -> int:
    """Read an XML amount back by its digits alone: '12.50' → 1250. No float, no Decimal."""
    euros, cents = text.split(".")
    assert len(cents) == 2
    return int(euros) * 100 + int(cents)


# The file is valid pain.001.001.03.


def test_a_file_validates_against_the_xsd_that_sepaxml_ships():
    xml = write_pain001(a_file(a_transfer(1), a_transfer(2, 99)))
    xsd = resources.files("sepaxml") / "schemas" / "pain.001.001.03.xsd"
    assert xmlschema.XMLSchema(str(xsd)).is_valid(xml.decode())
    try_valid_xml(xml, "pain.001.001.03")  # the library's own validation agrees


def test_the_header_counts_the_transfers_and_sums_them_to_the_cent():
    root = parsed(write_pain001(a_file(a_transfer(1, 1250), a_transfer(2, 5), a_transfer(3, 1000))))
    assert texts(root, "p:CstmrCdtTrfInitn/p:GrpHdr/p:NbOfTxs") == ["3"]
    assert texts(root, "p:CstmrCdtTrfInitn/p:GrpHdr/p:CtrlSum") == ["22.55"]
    assert texts(root, "p:CstmrCdtTrfInitn/p:PmtInf/p:NbOfTxs") == ["3"]
    assert texts(root, "p:CstmrCdtTrfInitn/p:PmtInf/p:CtrlSum") == ["22.55"]


def test_a_control_sum_of_1250_cents_is_written_12_50():
    root = parsed(write_pain001(a_file(a_transfer(1, 1250))))
    assert texts(root, ".//p:GrpHdr/p:CtrlSum") == ["12.50"]
    assert control_sum_cents(a_file(a_transfer(1, 1250))) == 1250


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (1, "0.01"),
        (5, "0.05"),
        (10, "0.10"),
        (100, "1.00"),
        (1250, "12.50"),
        (MAX_TRANSFER_CENTS, "999999999.99"),
    ],
)
def test_cents_are_written_as_decimal_text_by_integer_arithmetic(cents, text):
    assert decimal_text(cents) == text


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, MAX_TRANSFER_CENTS), min_size=1, max_size=25))
def test_every_amount_round_trips_exactly_through_the_xml(amounts):
    file = a_file(*(a_transfer(n, amount) for n, amount in enumerate(amounts)))
    root = parsed(write_pain001(file))
    written = texts(root, ".//p:CdtTrfTxInf/p:Amt/p:InstdAmt")
    assert [cents_of(text) for text in written] == amounts
    assert cents_of(texts(root, ".//p:GrpHdr/p:CtrlSum")[0]) == sum(amounts)
    # The library's own integer conversion writes the same text.
    assert written == [int_to_decimal_str(amount) for amount in amounts]


def test_amounts_are_in_euros():
    root = parsed(write_pain001(a_file()))
    assert [e.get("Ccy") for e in root.findall(".//p:InstdAmt", NS)] == ["EUR"]


def test_the_ids_dates_and_accounts_are_written_as_given():
    root = parsed(write_pain001(a_file(a_transfer(1), a_transfer(2))))
    assert texts(root, ".//p:GrpHdr/p:MsgId") == ["RUN-2025-03-01"]
    assert texts(root, ".//p:GrpHdr/p:CreDtTm") == ["2025-03-01T09:30:00+00:00"]
    assert texts(root, ".//p:PmtInf/p:ReqdExctnDt") == ["2025-03-03"]
    assert texts(root, ".//p:DbtrAcct/p:Id/p:IBAN") == [DEBTOR_IBAN]
    assert texts(root, ".//p:EndToEndId") == ["CLAIM-1", "CLAIM-2"]
    assert texts(root, ".//p:CdtrAcct/p:Id/p:IBAN") == [VENDOR_IBAN, VENDOR_IBAN]


def test_a_debtor_without_a_bic_is_written_iban_only_and_with_a_bic_names_it():
    without = parsed(write_pain001(a_file()))
    assert texts(without, ".//p:DbtrAgt/p:FinInstnId/p:Othr/p:Id") == ["NOTPROVIDED"]
    with_bic = replace(DEBTOR, bic="bnpa fr pp xxx")
    root = parsed(write_pain001(a_file(debtor=with_bic)))
    assert texts(root, ".//p:DbtrAgt/p:FinInstnId/p:BIC") == ["BNPAFRPPXXX"]


def test_ibans_typed_with_spaces_are_held_compact():
    transfer = a_transfer(creditor_iban="de89 3704 0044 0532 0130 00")
    assert transfer.creditor_iban == VENDOR_IBAN


# Text is SEPA Latin: accents transliterated, the rest refused.


def test_french_accents_and_ligatures_are_transliterated_in_the_file():
    debtor = Debtor("Académie de Créteil", DEBTOR_IBAN)
    transfer = a_transfer(
        creditor_name="François Cœur d’Æther",
        remittance_text="Reçu n° 12 – été".replace("°", "o"),
    )
    root = parsed(write_pain001(a_file(transfer, debtor=debtor)))
    assert texts(root, ".//p:Dbtr/p:Nm") == ["Academie de Creteil"]
    assert texts(root, ".//p:InitgPty/p:Nm") == ["Academie de Creteil"]
    assert texts(root, ".//p:Cdtr/p:Nm") == ["Francois Coeur d'AEther"]
    assert texts(root, ".//p:Ustrd") == ["Recu no 12 - ete"]


def test_the_value_keeps_the_name_as_people_wrote_it():
    assert a_transfer().creditor_name == "Éditions Lœuf"
    assert summary(a_file())["transfers"][0]["creditor_name"] == "Éditions Lœuf"


@given(st.text(alphabet="àâäçéèêëîïôöùûüÿœæÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸŒÆ’abcXYZ09 -'", min_size=1))
def test_any_french_text_transliterates_into_the_sepa_latin_set(text):
    if not text.strip():
        return
    written = sepa_text(text, field="remittance text", max_length=10_000)
    assert set(written) <= SEPA_CHARACTERS


@pytest.mark.parametrize("text", ["Dupont & Fils", "Café €", "Иванов", 'Le "Lab"', "a@b"])
def test_characters_outside_the_sepa_latin_set_are_refused_not_guessed(text):
    with pytest.raises(InvalidPaymentText) as refused:
        a_transfer(creditor_name=text)
    assert refused.value.code == "invalid_payment_text"
    assert refused.value.details["reason"] == "characters"


def test_a_name_is_measured_after_transliteration():
    a_transfer(creditor_name="e" * MAX_NAME_LENGTH)
    with pytest.raises(InvalidPaymentText) as refused:
        a_transfer(creditor_name="œ" * (MAX_NAME_LENGTH // 2 + 1))
    assert refused.value.details["reason"] == "length"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"remittance_text": "x" * (MAX_REMITTANCE_LENGTH + 1)}, "length"),
        ({"creditor_name": "x" * (MAX_NAME_LENGTH + 1)}, "length"),
        ({"creditor_name": "   "}, "empty"),
        ({"remittance_text": ""}, "empty"),
        ({"end_to_end_id": "C" * 36}, "length"),
        ({"end_to_end_id": ""}, "length"),
        ({"end_to_end_id": "CLAIM 1"}, "characters"),
        ({"end_to_end_id": "CLAIMÉ"}, "characters"),
        ({"end_to_end_id": "/CLAIM"}, "format"),
        ({"end_to_end_id": "CLAIM/"}, "format"),
        ({"end_to_end_id": "CL//AIM"}, "format"),
    ],
)
def test_a_text_or_id_the_scheme_cannot_carry_is_refused_with_its_reason(changes, reason):
    with pytest.raises(InvalidPaymentText) as refused:
        a_transfer(**changes)
    assert refused.value.details["reason"] == reason


def test_a_message_id_follows_the_same_rules_as_an_end_to_end_id():
    with pytest.raises(InvalidPaymentText):
        a_file(message_id="RUN 1")
    with pytest.raises(InvalidPaymentText):
        a_file(message_id="R" * 36)


# Refusals.


def test_a_file_without_transfers_is_refused():
    with pytest.raises(EmptyPaymentFile) as refused:
        TransferFile("RUN-1", CREATED_AT, EXECUTION_DATE, DEBTOR, ())
    assert refused.value.code == "empty_payment_file"


@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        (0, "not_positive"),
        (-1250, "not_positive"),
        (MAX_TRANSFER_CENTS + 1, "above_limit"),
        (12.5, "not_integer"),
        (Decimal("1250"), "not_integer"),
        (True, "not_integer"),
    ],
)
def test_an_amount_that_is_not_positive_whole_cents_within_the_limit_is_refused(amount, reason):
    with pytest.raises(InvalidTransferAmount) as refused:
        a_transfer(amount_cents=amount)
    assert refused.value.code == "invalid_transfer_amount"
    assert refused.value.details["reason"] == reason
    assert isinstance(refused.value, InvalidAmount)


def test_the_largest_sepa_amount_is_accepted():
    root = parsed(write_pain001(a_file(a_transfer(amount_cents=MAX_TRANSFER_CENTS))))
    assert texts(root, ".//p:InstdAmt") == ["999999999.99"]


def test_two_transfers_with_one_end_to_end_id_are_refused():
    with pytest.raises(DuplicateEndToEndId) as refused:
        a_file(a_transfer(1), a_transfer(2), a_transfer(1, amount_cents=99))
    assert refused.value.details == {"end_to_end_id": "CLAIM-1"}


def test_more_transfers_than_the_limit_are_refused():
    transfers = (a_transfer(),) * (MAX_TRANSFERS_PER_FILE + 1)
    with pytest.raises(TooManyTransfers):
        a_file(*transfers)


def test_an_invalid_creditor_or_debtor_iban_is_refused():
    with pytest.raises(InvalidIban):
        a_transfer(creditor_iban="DE89370400440532013001")
    with pytest.raises(InvalidIban):
        Debtor("Tirelire", "FR7630006000011234567890188")


def test_an_invalid_bic_is_refused():
    with pytest.raises(InvalidBic) as refused:
        Debtor("Tirelire", DEBTOR_IBAN, bic="BNP")
    assert refused.value.code == "invalid_bic"


def test_an_execution_date_before_the_file_was_created_is_refused():
    with pytest.raises(ExecutionDateInPast):
        a_file(execution_date=date(2025, 2, 28))
    a_file(execution_date=CREATED_AT.date())


def test_bytes_that_break_the_schema_are_refused_as_an_invalid_payment_file():
    xml = write_pain001(a_file())
    check_pain001(xml)
    tampered = xml.replace(b"<PmtMtd>TRF</PmtMtd>", b"<PmtMtd>XXX</PmtMtd>")
    with pytest.raises(InvalidPaymentFile) as refused:
        check_pain001(tampered)
    assert refused.value.code == "invalid_payment_file"
    with pytest.raises(InvalidPaymentFile):
        check_pain001(b"<Document")


# Deterministic output.


def test_the_same_file_gives_byte_identical_xml():
    first = write_pain001(a_file(a_transfer(1), a_transfer(2, 99)))
    again = write_pain001(a_file(a_transfer(1), a_transfer(2, 99)))
    assert first == again


def test_the_creation_time_comes_from_the_file_not_the_clock():
    later = datetime(2025, 3, 2, 18, 0, tzinfo=UTC)
    root = parsed(write_pain001(a_file(created_at=later)))
    assert texts(root, ".//p:GrpHdr/p:CreDtTm") == ["2025-03-02T18:00:00+00:00"]


# Summary for display.


def test_the_summary_masks_every_iban_and_states_the_sum():
    file = a_file(a_transfer(1, 1250), a_transfer(2, 100_000))
    shown = summary(file)
    assert shown["debtor_iban"] == "FR76 **** **** **** **** **** 189"
    assert [t["creditor_iban"] for t in shown["transfers"]] == ["DE89 **** **** **** **** 00"] * 2
    assert shown["transfer_count"] == 2
    assert shown["control_sum_cents"] == 101_250
    assert shown["control_sum"] == "1\u202f012,50\u00a0€"
    assert DEBTOR_IBAN not in repr(shown) and VENDOR_IBAN not in repr(shown)


def test_a_file_is_validated_before_it_is_returned(monkeypatch):
    # Break the writer on purpose: a currency code the schema refuses must not leave it.
    monkeypatch.setattr("ledger.sepa.CURRENCY", "EURO")
    with pytest.raises(InvalidPaymentFile) as refused:
        write_pain001(a_file())
    assert refused.value.details["path"].endswith("/Amt/InstdAmt")
