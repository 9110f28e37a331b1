"""The demo's vendor chain, run in this process on each store, its books checked to the cent:
every claim paid through a batch whose file is valid and whose statement was reconciled,
every debit note deducted, and what teachers spent is what reached the vendors' banks."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from uuid import UUID

import pytest

from api.bootstrap import build_services
from api.demo import DemoPlan, run_demo
from api.demo_chain import STATEMENT_FEE_CENTS, VENDORS
from ledger import accounts
from ledger.payments import BatchStatus, payment_batch_id
from ledger.sepa import check_pain001
from ledger.settings import Settings
from ledger.vendors import vendor_id

KEY = "chain"


@pytest.fixture
def demo(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)  # the demo writes its payment files where it runs
    services = build_services(Settings(database_url=store_url))
    out = io.StringIO()
    try:
        tally = run_demo(
            services, DemoPlan(teachers=150, seed=11, campaign_key=KEY, show_progress=False), out
        )
        yield services, tally, out.getvalue()
    finally:
        services.close()


def test_each_batch_is_paid_by_a_valid_file_and_reconciled_with_the_statement(demo, tmp_path):
    services, _, output = demo
    for n in (1, 2):
        batch = services.desk.get_batch(payment_batch_id(f"{KEY}-batch-{n}"))
        assert batch.status is BatchStatus.PAID
        xml = (tmp_path / f"tirelire-{KEY}-batch-{n}.xml").read_bytes()
        check_pain001(xml)
        assert batch.id.hex.encode() in xml  # the file's message id is the batch's id
        [found] = batch.reconciliations.values()
        assert len(found.matched) == len(batch.transfers())
        assert [reason for _, reason in found.unmatched] == ["unknown_reference"]  # the fee
        assert (found.missing, found.duplicates) == ((), ())
        assert f"tirelire-{KEY}-batch-{n}.xml" in output
    statement = (tmp_path / f"tirelire-{KEY}-batch-1-statement.csv").read_text("utf-8")
    assert f"-{STATEMENT_FEE_CENTS // 100},{STATEMENT_FEE_CENTS % 100:02d}" in statement


def test_the_debit_notes_of_refunds_after_payment_are_deducted_from_the_second_batch(demo):
    services, _, _ = demo
    second = services.desk.get_batch(payment_batch_id(f"{KEY}-batch-2"))
    assert len(second.debits) == 2 and second.debited_cents > 0
    assert second.total_cents == second.claims_cents - second.debited_cents
    vendors = [str(vendor_id(siren)) for _, siren, _, _ in VENDORS]
    for vendor in vendors:
        notes = services.desk.debit_notes(vendor)
        assert notes is None or notes.open_notes() == []


def test_what_teachers_spent_reached_the_vendors_banks_and_the_books_balance(demo):
    services, tally, output = demo
    balances, vendors = services.balances, [str(vendor_id(s)) for _, s, _, _ in VENDORS]
    assert balances.trial_balance() == 0
    assert output.rstrip().endswith("0,00\u00a0€")
    # Everything captured was claimed, approved (less one cancelled line) and paid in full.
    assert all(balances.balance(accounts.vendor_payable(v)) == 0 for v in vendors)
    banked = sum(balances.balance(accounts.bank(v)) for v in vendors)
    assert banked == services.indicators.current().purchases_cents > 0
    statements = services.vendor_statements.statements(date(2027, 9, 1), date(2028, 8, 31))
    assert {s.vendor_id for s in statements} == set(vendors)
    assert sum(s.paid_cents for s in statements) == banked
    assert all(s.balance_owed_cents == 0 for s in statements)
    # The suspended vendor's orders, unlabelled resources and training over its cap.
    refused = tally.refused or {}
    assert refused["vendor_status_conflict"] > 0
    assert refused["resource_not_eligible (missing_labels)"] > 0
    suspended = services.vendors.get_vendor(UUID(vendors[3]))
    assert suspended.status.value == "approved"  # reinstated
