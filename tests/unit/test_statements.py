"""Bank statements: reading CSV and camt.053, and reconciling with the transfers we ordered."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import InvalidStatement, InvalidStatementLine
from ledger.statements import (
    ExpectedPayment,
    Mismatch,
    StatementLine,
    read_statement_camt053,
    read_statement_csv,
    reconcile,
)

IBAN_A = "FR7630006000011234567890189"
IBAN_B = "FR1420041010050500013M02606"
IBAN_C = "DE89370400440532013000"
IBANS = (IBAN_A, IBAN_B, IBAN_C)

HEADER = "booking date;amount;currency;reference;counterparty IBAN;bank reference\n"


# --- CSV ------------------------------------------------------------------------------------


def test_a_semicolon_statement_with_french_amounts_and_dates_is_read_exactly():
    text = (
        HEADER
        + "05/03/2025;-1 234,56;EUR;E2E-0001;FR76 3000 6000 0112 3456 7890 189;BQ-1\n"
        + "2025-03-06;+20,5;eur;VIREMENT RECU;;BQ-2\n"
    )
    assert read_statement_csv(text) == [
        StatementLine(2, date(2025, 3, 5), -123456, "E2E-0001", IBAN_A, "BQ-1"),
        StatementLine(3, date(2025, 3, 6), 2050, "VIREMENT RECU", None, "BQ-2"),
    ]


def test_a_comma_statement_with_quoted_amounts_and_columns_in_any_order_is_read():
    text = (
        "\ufeffReference,Amount,Currency,Booking_Date,Bank Reference,Counterparty IBAN\r\n"
        '"E2E-0002","-1\u202f200,00",EUR,2025-03-05,BQ-3,DE89370400440532013000\r\n'
        "\r\n"
        "E2E-0003,-7,EUR,31/12/2024,BQ-4,\r\n"
    )
    lines = read_statement_csv(text)
    assert [(line.line_number, line.amount_cents) for line in lines] == [(2, -120000), (4, -700)]
    assert lines[0].counterparty_iban == IBAN_C
    assert lines[1].booked_on == date(2024, 12, 31)


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ("2025-03-05;-12,345;EUR;E2E;;BQ", "amount"),
        ("2025-03-05;0,00;EUR;E2E;;BQ", "amount"),
        ("2025-02-30;-12,00;EUR;E2E;;BQ", "date"),
        ("03-05-2025;-12,00;EUR;E2E;;BQ", "date"),
        ("2025-03-05;-12,00;USD;E2E;;BQ", "currency"),
        ("2025-03-05;-12,00;EUR;E2E;FR7630006000011234567890180;BQ", "counterparty_iban"),
        ("2025-03-05;-12,00;EUR;E2E;BQ", "columns"),
        ("2025-03-05;-12,00;EUR;" + "X" * 141 + ";;BQ", "reference"),
    ],
)
def test_a_bad_line_refuses_the_statement_naming_its_line_number_and_why(bad_line, reason):
    text = HEADER + "2025-03-04;-1,00;EUR;E2E-OK;;BQ-0\n" + bad_line + "\n"
    with pytest.raises(InvalidStatementLine) as refused:
        read_statement_csv(text)
    assert refused.value.details == {"line_number": 3, "reason": reason}
    assert "line 3" in refused.value.message
    assert refused.value.code == "invalid_statement_line"


def test_a_statement_in_dollars_is_refused():
    with pytest.raises(InvalidStatementLine, match="USD"):
        read_statement_csv(HEADER + "2025-03-05;-12,00;USD;E2E;;BQ\n")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2025-03-05;-12,00;EUR;E2E;;BQ\n",
        "booking date;amount;currency;reference;bank reference\n",
        "booking date;amount;currency;reference;counterparty iban;bank reference;note\n",
        "booking date amount currency reference counterparty iban bank reference\n",
    ],
)
def test_a_statement_without_its_header_is_refused(text):
    with pytest.raises(InvalidStatement) as refused:
        read_statement_csv(text)
    assert refused.value.details["reason"] == "header"
    assert not isinstance(refused.value, InvalidStatementLine)


def test_a_statement_beyond_the_line_limit_is_refused(monkeypatch):
    monkeypatch.setattr("ledger.statements.MAX_STATEMENT_LINES", 2)
    text = HEADER + "2025-03-05;-1,00;EUR;E2E;;BQ\n" * 3
    with pytest.raises(InvalidStatement, match="at most 2 lines"):
        read_statement_csv(text)


# --- camt.053 -------------------------------------------------------------------------------

CAMT_02 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
CAMT_08 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"


def camt053(namespace: str, entries: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="{namespace}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>STMT-20250305-001</MsgId><CreDtTm>2025-03-05T22:00:00</CreDtTm></GrpHdr>
    <Stmt>
      <Id>STMT-20250305</Id>
      <CreDtTm>2025-03-05T22:00:00</CreDtTm>
      <Acct><Id><IBAN>{IBAN_B}</IBAN></Id><Ccy>EUR</Ccy></Acct>
      <Bal>
        <Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp>
        <Amt Ccy="EUR">98765.44</Amt><CdtDbtInd>CRDT</CdtDbtInd>
        <Dt><Dt>2025-03-05</Dt></Dt>
      </Bal>
      {entries}
    </Stmt>
  </BkToCstmrStmt>
</Document>""".encode()


SINGLE_TRANSFER = f"""
<Ntry>
  <Amt Ccy="EUR">1234.56</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts>
  <BookgDt><Dt>2025-03-05</Dt></BookgDt><ValDt><Dt>2025-03-05</Dt></ValDt>
  <AcctSvcrRef>BQ-ENTRY-1</AcctSvcrRef>
  <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
  <NtryDtls><TxDtls>
    <Refs><MsgId>BATCH-7</MsgId><EndToEndId>E2E-0001</EndToEndId></Refs>
    <RltdPties>
      <Cdtr><Nm>Editions Numeriques SAS</Nm></Cdtr>
      <CdtrAcct><Id><IBAN>{IBAN_A}</IBAN></Id></CdtrAcct>
    </RltdPties>
    <RmtInf><Ustrd>Claim 42</Ustrd></RmtInf>
  </TxDtls></NtryDtls>
</Ntry>"""

BATCH_BOOKED = f"""
<Ntry>
  <Amt Ccy="EUR">300.10</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts>
  <BookgDt><DtTm>2025-03-05T10:00:00</DtTm></BookgDt>
  <AcctSvcrRef>BQ-ENTRY-2</AcctSvcrRef>
  <NtryDtls><Btch><NbOfTxs>2</NbOfTxs></Btch>
    <TxDtls>
      <Refs><AcctSvcrRef>BQ-TX-2A</AcctSvcrRef><EndToEndId>E2E-0002</EndToEndId></Refs>
      <AmtDtls><TxAmt><Amt Ccy="EUR">100.00</Amt></TxAmt></AmtDtls>
      <RltdPties><CdtrAcct><Id><IBAN>{IBAN_C}</IBAN></Id></CdtrAcct></RltdPties>
    </TxDtls>
    <TxDtls>
      <Refs><EndToEndId>E2E-0003</EndToEndId></Refs>
      <AmtDtls><TxAmt><Amt Ccy="EUR">200.1</Amt></TxAmt></AmtDtls>
    </TxDtls>
  </NtryDtls>
</Ntry>"""

INCOMING_CREDIT = f"""
<Ntry>
  <Amt Ccy="EUR">50000</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
  <BookgDt><Dt>2025-03-04</Dt></BookgDt>
  <NtryDtls><TxDtls>
    <Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>
    <RltdPties>
      <DbtrAcct><Id><IBAN>{IBAN_B}</IBAN></Id></DbtrAcct>
      <CdtrAcct><Id><IBAN>{IBAN_A}</IBAN></Id></CdtrAcct>
    </RltdPties>
  </TxDtls></NtryDtls>
</Ntry>"""


def test_a_camt053_statement_gives_one_line_per_transaction_batches_included():
    lines = read_statement_camt053(camt053(CAMT_02, SINGLE_TRANSFER + BATCH_BOOKED))
    assert lines == [
        StatementLine(1, date(2025, 3, 5), -123456, "E2E-0001", IBAN_A, "BQ-ENTRY-1"),
        StatementLine(2, date(2025, 3, 5), -10000, "E2E-0002", IBAN_C, "BQ-TX-2A"),
        StatementLine(3, date(2025, 3, 5), -20010, "E2E-0003", None, "BQ-ENTRY-2"),
    ]


def test_a_credit_takes_the_debtor_as_its_counterparty():
    [line] = read_statement_camt053(camt053(CAMT_02, INCOMING_CREDIT))
    assert (line.amount_cents, line.counterparty_iban, line.reference) == (
        5000000,
        IBAN_B,
        "NOTPROVIDED",
    )


def test_later_versions_of_camt053_read_alike():
    later = SINGLE_TRANSFER.replace("<Sts>BOOK</Sts>", "<Sts><Cd>BOOK</Cd></Sts>")
    assert read_statement_camt053(camt053(CAMT_08, later)) == read_statement_camt053(
        camt053(CAMT_02, SINGLE_TRANSFER)
    )


def test_a_camt053_statement_with_a_doctype_is_refused():
    bomb = b"""<?xml version="1.0"?>
<!DOCTYPE Document [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>
<Document><BkToCstmrStmt><Stmt><Ntry><AcctSvcrRef>&b;</AcctSvcrRef></Ntry></Stmt>
</BkToCstmrStmt></Document>"""
    with pytest.raises(InvalidStatement) as refused:
        read_statement_camt053(bomb)
    assert refused.value.details == {"reason": "doctype"}


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        (SINGLE_TRANSFER.replace('Ccy="EUR">1234.56', 'Ccy="CHF">1234.56'), "currency"),
        (SINGLE_TRANSFER.replace("1234.56", "1234.567"), "amount"),
        (SINGLE_TRANSFER.replace("<Sts>BOOK", "<Sts>PDNG"), "status"),
        (SINGLE_TRANSFER.replace("<Dt>2025-03-05</Dt></BookgDt>", "</BookgDt>"), "date"),
        (BATCH_BOOKED.replace(">200.1<", ">200.2<"), "amount"),
    ],
)
def test_a_bad_camt053_entry_is_refused_with_its_line_number(entries, reason):
    with pytest.raises(InvalidStatementLine) as refused:
        read_statement_camt053(camt053(CAMT_02, INCOMING_CREDIT + entries))
    assert refused.value.details == {"line_number": 2, "reason": reason}


def test_a_document_that_is_not_a_camt053_statement_is_refused():
    report = camt053(CAMT_02, "").replace(b"BkToCstmrStmt", b"BkToCstmrAcctRpt")
    with pytest.raises(InvalidStatement, match=r"not a camt\.053"):
        read_statement_camt053(report)
    with pytest.raises(InvalidStatement, match="well-formed"):
        read_statement_camt053(b"<Document><BkToCstmrStmt></Document>")


def test_a_camt053_statement_reconciles_with_the_transfers_of_its_batch():
    lines = read_statement_camt053(camt053(CAMT_02, SINGLE_TRANSFER + BATCH_BOOKED))
    expected = [
        ExpectedPayment("E2E-0001", 123456, IBAN_A),
        ExpectedPayment("E2E-0002", 10000, IBAN_C),
        ExpectedPayment("E2E-0003", 20010, IBAN_B),
    ]
    assert reconcile(expected, lines).is_complete


# --- Reconciliation -------------------------------------------------------------------------


def line(number: int, cents: int, reference: str, iban: str | None = None) -> StatementLine:
    return StatementLine(number, date(2025, 3, 5), cents, reference, iban, f"BQ-{number}")


def test_a_line_matches_the_payment_whose_end_to_end_id_and_amount_it_bears():
    paid = ExpectedPayment("E2E-1", 1000, "fr76 3000 6000 0112 3456 7890 189")
    result = reconcile([paid], [line(1, -1000, "E2E-1", IBAN_A)])
    assert [(m.expected, m.line.line_number) for m in result.matched] == [(paid, 1)]
    assert result.is_complete


def test_a_line_with_the_right_id_but_another_amount_is_unmatched_and_the_payment_missing():
    paid = ExpectedPayment("E2E-1", 1000, IBAN_A)
    result = reconcile([paid], [line(1, -1001, "E2E-1"), line(2, 1000, "E2E-1")])
    assert result.matched == ()
    assert [(u.line.line_number, u.reason, u.expected) for u in result.unmatched_lines] == [
        (1, Mismatch.AMOUNT_DIFFERS, paid)
    ]
    assert [(d.line.line_number, d.first_line_number) for d in result.duplicates] == [(2, 1)]
    assert result.missing_payments == (paid,)


def test_a_transfer_that_reached_another_account_is_not_matched():
    paid = ExpectedPayment("E2E-1", 1000, IBAN_A)
    result = reconcile([paid], [line(1, -1000, "E2E-1", IBAN_B)])
    assert result.unmatched_lines[0].reason is Mismatch.COUNTERPARTY_DIFFERS
    assert result.missing_payments == (paid,)


def test_a_transfer_booked_twice_is_matched_once_and_reported_as_a_duplicate():
    paid = ExpectedPayment("E2E-1", 1000, IBAN_A)
    lines = [line(1, -999, "E2E-1"), line(2, -1000, "E2E-1"), line(3, -1000, "E2E-1")]
    result = reconcile([paid], lines)
    assert [m.line.line_number for m in result.matched] == [2]
    assert [(d.line.line_number, d.first_line_number) for d in result.duplicates] == [
        (1, 2),
        (3, 2),
    ]
    assert result.unmatched_lines == () and result.missing_payments == ()


def test_unrelated_lines_are_unmatched_and_unpaid_transfers_missing():
    paid = ExpectedPayment("E2E-1", 1000, IBAN_A)
    fees = [line(1, -250, "FRAIS"), line(2, -250, "FRAIS")]
    result = reconcile([paid], fees)
    assert [u.reason for u in result.unmatched_lines] == [Mismatch.UNKNOWN_REFERENCE] * 2
    assert result.duplicates == ()
    assert result.missing_payments == (paid,)


# A statement drawn from the expected payments: each paid, altered, sent elsewhere, dropped,
# booked twice, or corrected (a wrong amount, then the right one); unrelated lines among them;
# all in any order.
FATES = ("paid", "altered", "elsewhere", "dropped", "twice", "corrected")


@st.composite
def payments_and_statement(draw):
    ids = draw(st.lists(st.text("ABCDEF0123-", min_size=1, max_size=35), unique=True))
    expected = [
        ExpectedPayment(i, draw(st.integers(1, 10**9)), draw(st.sampled_from(IBANS))) for i in ids
    ]
    fates = {p.end_to_end_id: draw(st.sampled_from(FATES)) for p in expected}
    drafts = []
    for payment in expected:
        fate, cents = fates[payment.end_to_end_id], -payment.amount_cents
        iban = draw(st.sampled_from([None, payment.creditor_iban]))
        if fate == "altered":
            cents += draw(st.sampled_from([-1, 1, 2 * payment.amount_cents, -(10**6)]))
        if fate == "elsewhere":
            iban = draw(st.sampled_from([i for i in IBANS if i != payment.creditor_iban]))
        copies = {"dropped": 0, "twice": 2}.get(fate, 1)
        drafts += [(cents, payment.end_to_end_id, iban)] * copies
        if fate == "corrected":
            drafts.append((cents - 1, payment.end_to_end_id, iban))
    unrelated = st.tuples(st.integers(-(10**6), -1), st.sampled_from(["FRAIS", "X"]), st.none())
    drafts += draw(st.lists(unrelated, max_size=5))
    drafts = draw(st.permutations(drafts))
    lines = [line(n, *draft) for n, draft in enumerate(drafts, start=1)]
    return expected, lines, fates


@given(payments_and_statement())
def test_every_line_and_every_payment_is_accounted_for_exactly_once(drawn):
    expected, lines, fates = drawn
    result = reconcile(expected, lines)
    placed_lines = Counter(
        [m.line.line_number for m in result.matched]
        + [u.line.line_number for u in result.unmatched_lines]
        + [d.line.line_number for d in result.duplicates]
    )
    assert placed_lines == Counter(line.line_number for line in lines)
    placed_payments = Counter(
        [m.expected.end_to_end_id for m in result.matched]
        + [p.end_to_end_id for p in result.missing_payments]
    )
    assert placed_payments == Counter(p.end_to_end_id for p in expected)
    for match in result.matched:
        assert match.line.reference == match.expected.end_to_end_id
        assert match.line.amount_cents == -match.expected.amount_cents
    matched_ids = {m.expected.end_to_end_id for m in result.matched}
    assert matched_ids == {i for i, fate in fates.items() if fate in ("paid", "twice", "corrected")}
    doubled = ("twice", "corrected")
    assert len(result.duplicates) == sum(fate in doubled for fate in fates.values())


def test_a_statement_beyond_the_size_limit_is_refused_before_it_is_read(monkeypatch):
    monkeypatch.setattr("ledger.statements.MAX_STATEMENT_BYTES", 100)
    with pytest.raises(InvalidStatement, match="at most 100 bytes"):
        read_statement_csv(HEADER + "2025-03-05;-1,00;EUR;E2E;;BQ\n" * 3)
    with pytest.raises(InvalidStatement, match="at most 100 bytes"):
        read_statement_camt053(camt053(CAMT_02, ""))
