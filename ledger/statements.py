"""Bank statements, and their reconciliation with the transfers we sent.

The operator pays approved vendor claims by SEPA credit transfers, grouped in payment
batches. Each transfer carries an **end-to-end id** (at most 35 characters) that we choose
and that the banks carry unchanged from our payment order to the creditor. What we send is
only a request: the **bank statement** is the bank's account of what actually left (a
*debit*, a negative amount here) or came into (a *credit*) our account, one **statement
line** per movement, each dated by its *booking date*.

**Reconciliation** sets the statement beside the **expected payments** (the transfers we
ordered) and sorts every line and every payment, once, into exactly one place:

- **matched**: a line whose reference is a payment's end-to-end id, whose amount is minus
  the payment's amount (a debit of just that much), and whose counterparty IBAN, when the
  bank gives one, is the payment's creditor IBAN;
- **unmatched line**: any other line, with the reason (`unknown_reference`, or for the
  first line bearing a known id: `amount_differs`, `counterparty_differs`);
- **duplicate**: a further line bearing an end-to-end id already seen on an earlier line
  (or on the line that matched): the same transfer booked twice is money to chase;
- **missing payment**: an expected payment that no line matched.

Nothing is dropped: every line is in exactly one of matched / unmatched / duplicates, and
every expected payment in exactly one of matched / missing. A line the reader cannot read
is refused with its line number and why, never skipped: a skipped line would be money that
silently vanished from the books.

Two readers: a documented CSV export (`read_statement_csv`) and ISO 20022 camt.053, the
end-of-day statement of SEPA banks (`read_statement_camt053`). No maintained library for
camt.053 is widespread enough to depend on, so the subset we need is read here with the
standard library's expat, refusing any DOCTYPE (hence any entity: no billion laughs, no
external entities), as defusedxml does.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from xml.etree.ElementTree import Element, TreeBuilder
from xml.parsers import expat

from ledger.errors import InvalidAmount, InvalidIban, InvalidStatement, InvalidStatementLine
from ledger.identifiers import check_iban
from ledger.money import MAX_AMOUNT_CENTS, parse_cents

# Limits: a month of statements for the programme fits well within them.
MAX_STATEMENT_BYTES = 10 * 1024 * 1024
MAX_STATEMENT_LINES = 20_000
MAX_END_TO_END_ID_LENGTH = 35  # SEPA's Max35Text.
MAX_REFERENCE_LENGTH = 140  # SEPA's unstructured remittance information, Max140Text.
MAX_BANK_REFERENCE_LENGTH = 35  # camt's AcctSvcrRef, Max35Text.
CURRENCY = "EUR"

# The CSV header, in any order; case, spaces and underscores do not matter.
CSV_COLUMNS = (
    "booking date",
    "amount",
    "currency",
    "reference",
    "counterparty iban",
    "bank reference",
)


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One movement on the account, as the bank booked it. Debits are negative."""

    line_number: int
    booked_on: date
    amount_cents: int
    reference: str
    counterparty_iban: str | None
    bank_reference: str


# --- CSV ------------------------------------------------------------------------------------


def read_statement_csv(text: str) -> list[StatementLine]:
    """Read a CSV statement export; refuse the whole file at its first bad line.

    Format: UTF-8 text (a leading byte-order mark is allowed); a header row naming the six
    columns of `CSV_COLUMNS` in any order, nothing else; then one row per movement.
    Separator: `;` or `,`, whichever the header uses (with `,`, quote French amounts).
    Booking date: `YYYY-MM-DD` or `DD/MM/YYYY`. Amount: as French banks write it
    ("-1 234,56"), negative for a debit, never zero. Currency: EUR. Counterparty IBAN:
    may be empty. Line numbers are those of the file, the header being line 1; empty
    lines are passed over, any other line is read or refused.
    """
    _check_size(len(text.encode("utf-8")))
    text = text.removeprefix("\ufeff")
    separator = _sniff_separator(text.splitlines()[0] if text else "")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator, strict=True)
    try:
        columns = _read_header(next(reader, []))
        lines: list[StatementLine] = []
        for row in reader:
            if not row:
                continue
            if len(lines) == MAX_STATEMENT_LINES:
                raise InvalidStatement(
                    f"a statement has at most {MAX_STATEMENT_LINES} lines", reason="too_long"
                )
            lines.append(_csv_line(reader.line_num, row, columns))
    except csv.Error as failure:
        raise _refused(reader.line_num, "csv", str(failure)) from None
    return lines


def _check_size(size_bytes: int) -> None:
    if size_bytes > MAX_STATEMENT_BYTES:
        raise InvalidStatement(
            f"a statement has at most {MAX_STATEMENT_BYTES} bytes", reason="too_large"
        )


def _sniff_separator(header: str) -> str:
    found = [sep for sep in (";", ",") if sep in header]
    if len(found) != 1:
        raise InvalidStatement(
            "the first line must be the header, its columns separated by ';' or ','",
            line_number=1,
            reason="header",
        )
    return found[0]


def _read_header(header: list[str]) -> dict[str, int]:
    names = [" ".join(cell.replace("_", " ").split()).lower() for cell in header]
    if sorted(names) != sorted(CSV_COLUMNS):
        raise InvalidStatement(
            f"the first line must be the header, naming the columns {', '.join(CSV_COLUMNS)}",
            line_number=1,
            reason="header",
        )
    return {name: index for index, name in enumerate(names)}


def _csv_line(line_number: int, row: list[str], columns: dict[str, int]) -> StatementLine:
    if len(row) != len(columns):
        raise _refused(line_number, "columns", f"{len(row)} fields, not {len(columns)}")
    cell = {name: row[index].strip() for name, index in columns.items()}
    if cell["currency"].upper() != CURRENCY:
        raise _refused(line_number, "currency", f"currency {cell['currency']!r}, not EUR")
    try:
        amount_cents = parse_cents(cell["amount"])
    except InvalidAmount as failure:
        raise _refused(line_number, "amount", failure.message) from None
    return _line(
        line_number,
        _parse_date(line_number, cell["booking date"]),
        amount_cents,
        cell["reference"],
        cell["counterparty iban"] or None,
        cell["bank reference"],
    )


_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_FRENCH_DATE = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")


def _parse_date(line_number: int, text: str) -> date:
    if iso := _ISO_DATE.match(text):
        year, month, day = iso.groups()
    elif french := _FRENCH_DATE.match(text):
        day, month, year = french.groups()
    else:
        raise _refused(line_number, "date", f"{text!r} is not YYYY-MM-DD nor DD/MM/YYYY")
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        raise _refused(line_number, "date", f"{text!r} is not a date") from None


def _line(
    line_number: int,
    booked_on: date,
    amount_cents: int,
    reference: str,
    iban_text: str | None,
    bank_reference: str,
) -> StatementLine:
    """The checks every reader shares, then the line."""
    if amount_cents == 0:
        raise _refused(line_number, "amount", "a statement line moves money: zero refused")
    if len(reference) > MAX_REFERENCE_LENGTH:
        raise _refused(line_number, "reference", f"over {MAX_REFERENCE_LENGTH} characters")
    if len(bank_reference) > MAX_BANK_REFERENCE_LENGTH:
        raise _refused(
            line_number, "bank_reference", f"over {MAX_BANK_REFERENCE_LENGTH} characters"
        )
    iban = None
    if iban_text is not None:
        try:
            iban = check_iban(iban_text)
        except InvalidIban as failure:
            raise _refused(line_number, "counterparty_iban", failure.message) from None
    return StatementLine(line_number, booked_on, amount_cents, reference, iban, bank_reference)


def _refused(line_number: int, reason: str, why: str) -> InvalidStatementLine:
    return InvalidStatementLine(
        f"statement line {line_number} refused: {why}", line_number=line_number, reason=reason
    )


# --- camt.053 -------------------------------------------------------------------------------


def read_statement_camt053(xml_bytes: bytes) -> list[StatementLine]:
    """Read the booked entries of an ISO 20022 camt.053 statement (version .001.02 or later).

    One line per transaction: an entry (`Ntry`) with one or no `TxDtls` is one line; a
    batch-booked entry with several `TxDtls` gives one line each, every one with its own
    amount, and they must add up to the entry's. Line numbers count these lines from 1 in
    document order. Element names are matched without their namespace, so every version
    of the message reads alike.
    """
    _check_size(len(xml_bytes))
    document = _parse_xml(xml_bytes)
    if document.tag != "Document" or document.find("BkToCstmrStmt") is None:
        raise InvalidStatement("not a camt.053 statement (no BkToCstmrStmt)", reason="format")
    lines: list[StatementLine] = []
    for entry in document.iterfind("BkToCstmrStmt/Stmt/Ntry"):
        lines.extend(_entry_lines(len(lines) + 1, entry))
        if len(lines) > MAX_STATEMENT_LINES:
            raise InvalidStatement(
                f"a statement has at most {MAX_STATEMENT_LINES} lines", reason="too_long"
            )
    return lines


def _parse_xml(xml_bytes: bytes) -> Element:
    """Parse with expat into a tree of local names; refuse any DOCTYPE, hence any entity."""
    builder = TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_doctype
    parser.ExternalEntityRefHandler = _refuse_doctype
    parser.StartElementHandler = lambda name, attributes: builder.start(
        _local(name), {_local(key): value for key, value in attributes.items()}
    )
    parser.EndElementHandler = lambda name: builder.end(_local(name))
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(xml_bytes, True)
    except expat.ExpatError as failure:
        raise InvalidStatement(f"not well-formed XML: {failure}", reason="format") from None
    return builder.close()


def _refuse_doctype(*_: object) -> None:
    raise InvalidStatement("a statement with a DOCTYPE is refused", reason="doctype")


def _local(name: str) -> str:
    return name.rpartition("}")[2]


def _entry_lines(first_number: int, entry: Element) -> list[StatementLine]:
    status = entry.findtext("Sts/Cd") or entry.findtext("Sts") or "BOOK"
    if status.strip() != "BOOK":
        raise _refused(first_number, "status", f"entry status {status.strip()!r}, not BOOK")
    entry_cents = _signed_cents(first_number, entry, entry)
    booked_on = _booking_date(first_number, entry)
    details = entry.findall("NtryDtls/TxDtls")
    if len(details) <= 1:
        detail = details[0] if details else Element("TxDtls")
        return [_camt_line(first_number, booked_on, entry_cents, entry, detail)]
    lines = [
        _camt_line(number, booked_on, _signed_cents(number, detail, entry), entry, detail)
        for number, detail in enumerate(details, start=first_number)
    ]
    if sum(line.amount_cents for line in lines) != entry_cents:
        raise _refused(first_number, "amount", "the entry's transactions do not add up to it")
    return lines


def _camt_line(
    number: int, booked_on: date, cents: int, entry: Element, detail: Element
) -> StatementLine:
    party = "Cdtr" if cents < 0 else "Dbtr"
    iban = detail.findtext(f"RltdPties/{party}Acct/Id/IBAN")
    bank_reference = detail.findtext("Refs/AcctSvcrRef") or entry.findtext("AcctSvcrRef") or ""
    reference = detail.findtext("Refs/EndToEndId") or ""
    return _line(number, booked_on, cents, reference.strip(), iban, bank_reference.strip())


_CAMT_AMOUNT = re.compile(r"^([0-9]{1,18})(?:\.([0-9]{1,5}))?$")


def _signed_cents(number: int, element: Element, entry: Element) -> int:
    """The amount of an entry or transaction in cents, negative for a debit (DBIT)."""
    amount = element.find("Amt")
    if amount is None:
        amount = element.find("AmtDtls/TxAmt/Amt")
    if amount is None or amount.get("Ccy") != CURRENCY:
        raise _refused(number, "currency", "an amount in EUR is required")
    match = _CAMT_AMOUNT.match((amount.text or "").strip())
    # xs:decimal allows 5 decimals; trailing zeros aside, euros have 2.
    if match is None or (match.group(2) or "").rstrip("0")[2:]:
        raise _refused(number, "amount", f"{amount.text!r} is not an amount in cents")
    cents = int(match.group(1)) * 100 + int((match.group(2) or "").ljust(5, "0")[:2])
    if cents > MAX_AMOUNT_CENTS:
        raise _refused(number, "amount", f"beyond the limit of {MAX_AMOUNT_CENTS} cents")
    indicator = element.findtext("CdtDbtInd") or entry.findtext("CdtDbtInd")
    if indicator not in ("CRDT", "DBIT"):
        raise _refused(number, "credit_debit", f"CdtDbtInd {indicator!r}, not CRDT nor DBIT")
    return -cents if indicator == "DBIT" else cents


def _booking_date(number: int, entry: Element) -> date:
    text = entry.findtext("BookgDt/Dt") or (entry.findtext("BookgDt/DtTm") or "")[:10]
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise _refused(number, "date", f"booking date {text!r} is not a date") from None


# --- Reconciliation -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExpectedPayment:
    """A credit transfer we ordered: its end-to-end id, amount and creditor's IBAN."""

    end_to_end_id: str
    amount_cents: int
    creditor_iban: str

    def __post_init__(self) -> None:
        assert 0 < len(self.end_to_end_id) <= MAX_END_TO_END_ID_LENGTH, self.end_to_end_id
        assert type(self.amount_cents) is int and self.amount_cents > 0, self.amount_cents
        # Compared with the compact IBANs the readers give.
        object.__setattr__(self, "creditor_iban", check_iban(self.creditor_iban))


class Mismatch(StrEnum):
    """Why a line is not matched; stable codes, shown to the operator."""

    UNKNOWN_REFERENCE = "unknown_reference"
    AMOUNT_DIFFERS = "amount_differs"
    COUNTERPARTY_DIFFERS = "counterparty_differs"


@dataclass(frozen=True, slots=True)
class Match:
    expected: ExpectedPayment
    line: StatementLine


@dataclass(frozen=True, slots=True)
class UnmatchedLine:
    line: StatementLine
    reason: Mismatch
    expected: ExpectedPayment | None  # The payment whose id the line bears, if any.


@dataclass(frozen=True, slots=True)
class DuplicateLine:
    line: StatementLine
    end_to_end_id: str
    first_line_number: int  # The line matched with this id, or else the first to bear it.


@dataclass(frozen=True, slots=True)
class Reconciliation:
    matched: tuple[Match, ...]
    unmatched_lines: tuple[UnmatchedLine, ...]
    missing_payments: tuple[ExpectedPayment, ...]
    duplicates: tuple[DuplicateLine, ...]

    @property
    def is_complete(self) -> bool:
        """True when every payment left as ordered, once, and nothing else happened."""
        return not (self.unmatched_lines or self.missing_payments or self.duplicates)


def reconcile(
    expected: Sequence[ExpectedPayment], lines: Sequence[StatementLine]
) -> Reconciliation:
    """Sort every line and every expected payment into exactly one place (see the module)."""
    by_id = {payment.end_to_end_id: payment for payment in expected}
    assert len(by_id) == len(expected), "end-to-end ids are unique"
    assert len({line.line_number for line in lines}) == len(lines), "line numbers are unique"
    matched: dict[str, StatementLine] = {}
    for line in lines:
        payment = by_id.get(line.reference)
        if payment and line.reference not in matched and _mismatch(payment, line) is None:
            matched[line.reference] = line
    first_line = dict(matched)
    unmatched: list[UnmatchedLine] = []
    duplicates: list[DuplicateLine] = []
    for line in lines:
        payment = by_id.get(line.reference)
        if payment is None:
            unmatched.append(UnmatchedLine(line, Mismatch.UNKNOWN_REFERENCE, None))
        elif first_line.setdefault(line.reference, line) is line:
            if matched.get(line.reference) is not line:
                unmatched.append(UnmatchedLine(line, _mismatch(payment, line), payment))
        else:
            first_number = first_line[line.reference].line_number
            duplicates.append(DuplicateLine(line, line.reference, first_number))
    return Reconciliation(
        matched=tuple(Match(by_id[ref], line) for ref, line in matched.items()),
        unmatched_lines=tuple(unmatched),
        missing_payments=tuple(p for p in expected if p.end_to_end_id not in matched),
        duplicates=tuple(duplicates),
    )


def _mismatch(payment: ExpectedPayment, line: StatementLine) -> Mismatch | None:
    if line.amount_cents != -payment.amount_cents:
        return Mismatch.AMOUNT_DIFFERS
    if line.counterparty_iban not in (None, payment.creditor_iban):
        return Mismatch.COUNTERPARTY_DIFFERS
    return None
