"""SEPA credit-transfer files (pain.001): how the programme pays its vendors through its bank.

A **pain.001** ("payment initiation", ISO 20022 message `CustomerCreditTransferInitiation`)
is the XML file a company hands its bank to say "debit my account, credit these accounts".
Every bank of the euro area takes the same message for SEPA transfers, so one file pays
vendors whatever their bank; the version written here is `pain.001.001.03`, the one the
EPC's SEPA rulebook and French banks accept everywhere.

A file is a `TransferFile`: one *debtor* (the programme's account), one requested
*execution date*, and its *transfers*, each to one creditor (a vendor) for an integer
number of euro cents. In the XML it has three levels:

- the group header (`GrpHdr`): the message id, when the file was created, the number of
  transactions and their control sum, which the bank checks against the transactions
  before it accepts the file;
- one payment information block (`PmtInf`): the debtor, its account and the execution
  date, booked as one batch (`BtchBookg`) so the programme's statement shows one debit;
- one `CdtTrfTxInf` per transfer: its end-to-end id, amount, creditor and remittance text.

**Ids are idempotency keys.** The message id names the file: a bank refuses a second file
with a message id it has seen, so a file sent twice is paid once. The end-to-end id names
a transfer and travels untouched to the vendor's statement and back in any return, which
is how a payment is reconciled with the claim it settles; two transfers of one file never
share it. Both are written exactly as given: they are never transliterated.

**Text is SEPA Latin.** The scheme only guarantees the basic Latin set: the letters a-z
and A-Z, the digits, space and ``/ - ? : ( ) . , ' +``. People's and companies' names
have accents, so names and remittance texts are *transliterated*, never refused for an
accent: letters lose their diacritics by Unicode decomposition (« é » → « e », « Ç » →
« C », « ï » → « i »), the ligatures are spelt out (« œ » → « oe », « æ » → « ae », « ß »
→ « ss »), typographic apostrophes and dashes become ``'`` and ``-`` and no-break spaces
become spaces. Anything still outside the set afterwards (``&``, ``@``, ``€``, quotes,
other scripts) is refused with `InvalidPaymentText`, naming the characters, rather than
guessed at. Lengths are counted after transliteration (« œ » is two letters then).

The file is deterministic: its time comes from `created_at`, its ids from the input, and
nothing is read from a clock or a random source, so the same `TransferFile` always gives
the same bytes. Before they are returned the bytes are validated against the XSD that the
sepaxml package ships; a failure is an `InvalidPaymentFile`. The library's own writer is
not used: it stamps the file with the current time and random payment ids.

Amounts are integer cents throughout; the XML's decimal text ("12.50") is written from
the cents by integer division, never through a float or a Decimal.
"""

from __future__ import annotations

import functools
import io
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from typing import TYPE_CHECKING, Any

from stdnum import bic as stdnum_bic
from stdnum.exceptions import ValidationError

from ledger.errors import (
    DuplicateEndToEndId,
    EmptyPaymentFile,
    ExecutionDateInPast,
    InvalidBic,
    InvalidPaymentFile,
    InvalidPaymentText,
    InvalidTransferAmount,
    TooManyTransfers,
)
from ledger.identifiers import check_iban, mask_iban
from ledger.money import Money

if TYPE_CHECKING:  # imported where a file is checked: ~20 MB every process would carry
    import xmlschema

MESSAGE_SCHEMA = "pain.001.001.03"
NAMESPACE = f"urn:iso:std:iso:20022:tech:xsd:{MESSAGE_SCHEMA}"
CURRENCY = "EUR"

# Limits from the SEPA rulebook: ids of 35 characters, names of 70, one unstructured
# remittance text of 140, and no transfer above 999 999 999,99 €.
MAX_ID_LENGTH = 35
MAX_NAME_LENGTH = 70
MAX_REMITTANCE_LENGTH = 140
MAX_TRANSFER_CENTS = 99_999_999_999
# Our own limit: a vendor payment run is a few hundred transfers; banks cap files too.
MAX_TRANSFERS_PER_FILE = 10_000

# The debtor agent when no BIC is given: IBAN-only transfers are allowed since 2016.
BIC_NOT_PROVIDED = "NOTPROVIDED"

SEPA_CHARACTERS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/-?:().,'+ "
)
_SPELT_OUT = str.maketrans(
    {
        "œ": "oe",
        "Œ": "OE",
        "æ": "ae",
        "Æ": "AE",
        "ß": "ss",
        "’": "'",
        "‘": "'",
        "‐": "-",
        "–": "-",
        "—": "-",
        "\u00a0": " ",
        "\u202f": " ",
    }
)


def sepa_text(text: str, *, field: str, max_length: int) -> str:
    """The transliterated form of a name or remittance text, refused if still not SEPA Latin."""
    if not isinstance(text, str):
        raise InvalidPaymentText(f"the {field} must be text", field=field, reason="format")
    decomposed = unicodedata.normalize("NFKD", text.translate(_SPELT_OUT))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).strip()
    if not plain:
        raise InvalidPaymentText(f"the {field} is empty", field=field, reason="empty")
    outside = sorted(set(plain) - SEPA_CHARACTERS)
    if outside:
        raise InvalidPaymentText(
            f"the {field} has characters outside the SEPA Latin set: {''.join(outside)!r}",
            field=field,
            reason="characters",
            characters="".join(outside),
        )
    if len(plain) > max_length:
        raise InvalidPaymentText(
            f"the {field} has {len(plain)} characters, more than {max_length}",
            field=field,
            reason="length",
        )
    return plain


def check_sepa_id(text: str, *, field: str) -> str:
    """An id as SEPA takes it: 1 to 35 SEPA Latin characters, no space, no '/' at an end or '//'."""
    if not isinstance(text, str) or not 0 < len(text) <= MAX_ID_LENGTH:
        raise InvalidPaymentText(
            f"the {field} has 1 to {MAX_ID_LENGTH} characters", field=field, reason="length"
        )
    if not set(text) <= SEPA_CHARACTERS - {" "}:
        raise InvalidPaymentText(
            f"the {field} has characters outside the SEPA Latin set or a space",
            field=field,
            reason="characters",
        )
    if text.startswith("/") or text.endswith("/") or "//" in text:
        raise InvalidPaymentText(
            f"the {field} neither starts nor ends with '/' nor holds '//'",
            field=field,
            reason="format",
        )
    return text


def check_bic(text: str) -> str:
    """The compact BIC (8 or 11 characters) of what was typed."""
    try:
        return stdnum_bic.validate(text)
    except (ValidationError, TypeError, AttributeError):
        raise InvalidBic("this BIC is invalid", field="BIC", reason="format") from None


def check_transfer_amount(amount_cents: int) -> int:
    if type(amount_cents) is not int:
        raise InvalidTransferAmount(
            f"a transfer amount is an integer number of cents, not {amount_cents!r}",
            reason="not_integer",
        )
    if amount_cents <= 0:
        raise InvalidTransferAmount("a transfer amount is positive", reason="not_positive")
    if amount_cents > MAX_TRANSFER_CENTS:
        raise InvalidTransferAmount(
            f"a SEPA transfer is at most {MAX_TRANSFER_CENTS} cents",
            reason="above_limit",
            limit_cents=MAX_TRANSFER_CENTS,
        )
    return amount_cents


@dataclass(frozen=True, slots=True)
class Debtor:
    """The account paying: the programme's own. Its IBAN is held compact."""

    name: str
    iban: str
    bic: str | None = None

    def __post_init__(self) -> None:
        sepa_text(self.name, field="debtor name", max_length=MAX_NAME_LENGTH)
        object.__setattr__(self, "iban", check_iban(self.iban))
        if self.bic is not None:
            object.__setattr__(self, "bic", check_bic(self.bic))


@dataclass(frozen=True, slots=True)
class Transfer:
    """One payment to one creditor. Its IBAN is held compact; names as people wrote them."""

    end_to_end_id: str
    creditor_name: str
    creditor_iban: str
    amount_cents: int
    remittance_text: str

    def __post_init__(self) -> None:
        check_sepa_id(self.end_to_end_id, field="end-to-end id")
        sepa_text(self.creditor_name, field="creditor name", max_length=MAX_NAME_LENGTH)
        object.__setattr__(self, "creditor_iban", check_iban(self.creditor_iban))
        check_transfer_amount(self.amount_cents)
        sepa_text(self.remittance_text, field="remittance text", max_length=MAX_REMITTANCE_LENGTH)


@dataclass(frozen=True, slots=True)
class TransferFile:
    """One pain.001 message: one debtor, one execution date, its transfers in order."""

    message_id: str
    created_at: datetime
    execution_date: date
    debtor: Debtor
    transfers: tuple[Transfer, ...]

    def __post_init__(self) -> None:
        assert isinstance(self.created_at, datetime), "created_at is a datetime"
        assert type(self.execution_date) is date, "execution_date is a date, not a datetime"
        assert isinstance(self.debtor, Debtor), "the debtor is a Debtor"
        check_sepa_id(self.message_id, field="message id")
        transfers = tuple(self.transfers)
        object.__setattr__(self, "transfers", transfers)
        _check_transfers(transfers)
        if self.execution_date < self.created_at.date():
            raise ExecutionDateInPast(
                f"execution on {self.execution_date} is before the file's creation "
                f"on {self.created_at.date()}"
            )


def _check_transfers(transfers: tuple[Transfer, ...]) -> None:
    assert all(isinstance(t, Transfer) for t in transfers), "transfers are Transfers"
    if not transfers:
        raise EmptyPaymentFile("a payment file needs at least one transfer")
    if len(transfers) > MAX_TRANSFERS_PER_FILE:
        raise TooManyTransfers(
            f"a payment file holds at most {MAX_TRANSFERS_PER_FILE} transfers",
            limit=MAX_TRANSFERS_PER_FILE,
        )
    seen: set[str] = set()
    for transfer in transfers:
        if transfer.end_to_end_id in seen:
            raise DuplicateEndToEndId(
                f"the end-to-end id {transfer.end_to_end_id!r} is used twice",
                end_to_end_id=transfer.end_to_end_id,
            )
        seen.add(transfer.end_to_end_id)


def control_sum_cents(file: TransferFile) -> int:
    """The sum of the file's transfers, as the bank checks it against the header."""
    return sum(t.amount_cents for t in file.transfers)


def decimal_text(cents: int) -> str:
    """Cents as the XML writes an amount: 1250 → '12.50', 5 → '0.05'. Integer arithmetic only."""
    assert type(cents) is int and cents >= 0, "an amount in a payment file is whole positive cents"
    euros, rest = divmod(cents, 100)
    return f"{euros}.{rest:02d}"


def summary(file: TransferFile) -> dict[str, Any]:
    """The file for display: plain values, IBANs masked, amounts in cents and formatted."""
    total = control_sum_cents(file)
    return {
        "message_id": file.message_id,
        "execution_date": file.execution_date.isoformat(),
        "debtor_name": file.debtor.name,
        "debtor_iban": mask_iban(file.debtor.iban),
        "transfer_count": len(file.transfers),
        "control_sum_cents": total,
        "control_sum": Money(total).format(),
        "transfers": [
            {
                "end_to_end_id": t.end_to_end_id,
                "creditor_name": t.creditor_name,
                "creditor_iban": mask_iban(t.creditor_iban),
                "amount_cents": t.amount_cents,
                "amount": Money(t.amount_cents).format(),
            }
            for t in file.transfers
        ],
    }


def write_pain001(file: TransferFile) -> bytes:
    """The file's pain.001.001.03 XML, UTF-8, validated against the schema."""
    document = ET.Element("Document", {"xmlns": NAMESPACE})
    initiation = ET.SubElement(document, "CstmrCdtTrfInitn")
    _write_group_header(initiation, file)
    payment = _write_payment_information(initiation, file)
    for transfer in file.transfers:
        _write_transaction(payment, transfer)
    ET.indent(document)
    xml = ET.tostring(document, encoding="UTF-8", xml_declaration=True)
    check_pain001(xml)
    return xml


def check_pain001(xml: bytes) -> None:
    """Refuse bytes that are not a pain.001.001.03 document valid against its XSD."""
    import xmlschema

    try:
        error = next(_schema().iter_errors(io.BytesIO(xml)), None)
    except (xmlschema.XMLResourceError, ET.ParseError):
        raise InvalidPaymentFile("the payment file is not well-formed XML") from None
    if error is not None:
        raise InvalidPaymentFile(
            f"the payment file breaks the {MESSAGE_SCHEMA} schema: {error.reason}",
            path=error.path,
        )


@functools.cache
def _schema() -> xmlschema.XMLSchema:
    # Loaded once: parsing the XSD takes a third of a second.
    import xmlschema

    xsd = resources.files("sepaxml") / "schemas" / f"{MESSAGE_SCHEMA}.xsd"
    return xmlschema.XMLSchema(str(xsd))


def _write_group_header(parent: ET.Element, file: TransferFile) -> None:
    header = ET.SubElement(parent, "GrpHdr")
    _add(header, "MsgId", file.message_id)
    _add(header, "CreDtTm", file.created_at.isoformat(timespec="seconds"))
    _add(header, "NbOfTxs", str(len(file.transfers)))
    _add(header, "CtrlSum", decimal_text(control_sum_cents(file)))
    _add(header, "InitgPty/Nm", _name(file.debtor.name, "debtor name"))


def _write_payment_information(parent: ET.Element, file: TransferFile) -> ET.Element:
    payment = ET.SubElement(parent, "PmtInf")
    # One block per file, so the message id names the block too.
    _add(payment, "PmtInfId", file.message_id)
    _add(payment, "PmtMtd", "TRF")
    _add(payment, "BtchBookg", "true")
    _add(payment, "NbOfTxs", str(len(file.transfers)))
    _add(payment, "CtrlSum", decimal_text(control_sum_cents(file)))
    _add(payment, "PmtTpInf/SvcLvl/Cd", "SEPA")
    _add(payment, "ReqdExctnDt", file.execution_date.isoformat())
    _add(payment, "Dbtr/Nm", _name(file.debtor.name, "debtor name"))
    _add(payment, "DbtrAcct/Id/IBAN", file.debtor.iban)
    if file.debtor.bic is None:
        _add(payment, "DbtrAgt/FinInstnId/Othr/Id", BIC_NOT_PROVIDED)
    else:
        _add(payment, "DbtrAgt/FinInstnId/BIC", file.debtor.bic)
    # Shared charges: each side pays its own bank, the only option SEPA allows.
    _add(payment, "ChrgBr", "SLEV")
    return payment


def _write_transaction(parent: ET.Element, transfer: Transfer) -> None:
    transaction = ET.SubElement(parent, "CdtTrfTxInf")
    _add(transaction, "PmtId/EndToEndId", transfer.end_to_end_id)
    _add(transaction, "Amt/InstdAmt", decimal_text(transfer.amount_cents), Ccy=CURRENCY)
    # No creditor agent: the creditor's IBAN alone routes a SEPA transfer.
    _add(transaction, "Cdtr/Nm", _name(transfer.creditor_name, "creditor name"))
    _add(transaction, "CdtrAcct/Id/IBAN", transfer.creditor_iban)
    text = sepa_text(
        transfer.remittance_text, field="remittance text", max_length=MAX_REMITTANCE_LENGTH
    )
    _add(transaction, "RmtInf/Ustrd", text)


def _name(text: str, field: str) -> str:
    return sepa_text(text, field=field, max_length=MAX_NAME_LENGTH)


def _add(parent: ET.Element, path: str, text: str, **attributes: str) -> ET.Element:
    """Append the chain of elements named by `path` ('Cdtr/Nm') and set the last one's text."""
    element = parent
    for tag in path.split("/"):
        element = ET.SubElement(element, tag)
    element.text = text
    element.attrib.update(attributes)
    return element
