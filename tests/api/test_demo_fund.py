"""The demo's internet fund after its donation drive, on each store: what the demo reports
is what the books hold."""

from __future__ import annotations

import dataclasses
import io
import secrets
from pathlib import Path

from api.demo_devices import run_drive
from api.demo_fund import SUBSIDIES_PER_TERRITORY, SUBSIDY_CENTS, print_fund, run_fund
from ledger import accounts
from ledger.device_bank import DeviceBank
from ledger.settings import Settings


def test_the_fund_pays_households_of_the_drive_s_pupils_and_the_books_balance(
    store_settings: Settings, tmp_path: Path
) -> None:
    key_file = tmp_path / "household.key"
    key_file.write_text(secrets.token_hex(32))
    key_file.chmod(0o600)
    settings = dataclasses.replace(store_settings, household_key_file=str(key_file))
    bank = DeviceBank(settings)
    out = io.StringIO()
    try:
        drive = run_drive(bank, 6, seed=4, run_key="fund")
        tally = run_fund(settings, bank, drive, "fund", out)
        notifications = bank.recorder.select_notifications(start=None, limit=100_000)
        books = accounts.fold(bank.mapper.to_domain_event(n) for n in notifications)
    finally:
        bank.close()
    assert tally is not None
    territories = {territory for _, _, territory in drive.handed_to_pupils}
    assert tally.subsidies == SUBSIDIES_PER_TERRITORY * len(territories)
    assert tally.subsidies_cents == tally.subsidies * SUBSIDY_CENTS
    assert dict(tally.refused) == {"household_already_subsidised": 1, "matched_amount_exceeded": 1}
    assert 0 < tally.levies_paid_cents < tally.levies_due_cents and tally.late == 1
    assert tally.spent_cents <= tally.matched_cents
    assert sum(books.values()) == 0
    fund = sum(v for a, v in books.items() if a.startswith("internet_fund:"))
    assert fund == tally.levies_paid_cents - tally.subsidies_cents
    print_fund(tally, out)
    assert "households' connections paid" in out.getvalue()


def test_without_its_household_key_the_fund_is_left_out_and_the_demo_says_so(
    sqlite_url: str, tmp_path: Path
) -> None:
    missing = str(tmp_path / "no-such.key")
    settings = Settings(database_url=sqlite_url, household_key_file=missing)
    bank, out = DeviceBank(settings), io.StringIO()
    try:
        drive = run_drive(bank, 4, seed=4, run_key="nokey")
        assert run_fund(settings, bank, drive, "nokey", out) is None
    finally:
        bank.close()
    assert "Internet fund: left out" in out.getvalue()
