"""A household's identity never reaches the books: recognisable identifiers are planted in
subsidy requests, every read model is caught up, then the whole database (the SQLite file
with its journal, or a pg_dump of PostgreSQL) and every log record are searched for them,
in clear and in the hex a dump gives binary columns. Expected: 0 hits."""

from __future__ import annotations

import logging
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from api.services import projection_runners
from ledger.errors import HouseholdAlreadySubsidised
from ledger.fund_app import InternetFund
from ledger.households import HouseholdIdentity, HouseholdKey
from ledger.parties import company, organisation, school
from ledger.settings import Settings
from ledger.vouchers import VoucherLedger
from projections.engine import create_read_engine

NOW = datetime(2027, 9, 1, tzinfo=UTC)
DONOR = company("38012986646850")
COLLECTOR, REFURBISHER, EDUCATION = "73282932000074", "55210055400013", "44306184100047"
NAME, ADDRESS = "Zéphyrine Quasimodo-Vandersteen", "17 impasse des Tilleuls-Oubliés, 97400"
# Every piece a leak would show: the words as typed, and as normalised for the fingerprint.
PLANTED = ("Zéphyrine", "Zephyrine", "Quasimodo", "Vandersteen", "Tilleuls", "Oubliés", "oublies")


def delivered(fund: InternetFund, pupil: str) -> object:
    bank = fund.device_bank
    bank.register_territory(
        code="la-reunion",
        name="La Réunion",
        kind="overseas",
        budget_cents=10**6,
        funder_id="bdt",
        by="op",
        now=NOW,
    )
    for siret, role in ((COLLECTOR, "collector"), (REFURBISHER, "refurbisher")):
        bank.approve_organisation(siret=siret, name=role, role=role, by="op", now=NOW)
    bank.approve_organisation(
        siret=EDUCATION, name="Rectorat", role="education_service", by="op", now=NOW
    )
    device = bank.pledge_device(
        donor=DONOR,
        territory="la-reunion",
        kind="tablet",
        serial_number="SN-PRIV-1",
        make="Apple",
        model="iPad",
        by="d",
        now=NOW,
    )
    for giver, receiver in ((DONOR, COLLECTOR), (organisation(COLLECTOR), REFURBISHER)):
        bank.hand_over(device, giver=giver, receiver=organisation(receiver), by="u", now=NOW)
        bank.confirm_handover(device, receiver=organisation(receiver), by="u", now=NOW)
    bank.diagnose(device, refurbisher=REFURBISHER, grade="B", by="t", now=NOW)
    bank.wipe(
        device,
        refurbisher=REFURBISHER,
        method="crypto_erase",
        certificate_id="EC-PRIV-1",
        certificate_sha256="cd" * 32,
        by="t",
        now=NOW,
    )
    bank.refurbish(
        device, refurbisher=REFURBISHER, parts=("ssd",), cost_cents=2000, by="t", now=NOW
    )
    bank.allocate(
        device, education_service=EDUCATION, pupil_id=pupil, school_uai="9741070V", by="e", now=NOW
    )
    bank.deliver(device, refurbisher=REFURBISHER, by="r", now=NOW)
    bank.confirm_handover(device, receiver=school("9741070V"), receiver_ref="cpe", by="s", now=NOW)
    return device


def dump(settings: Settings, tmp_path: Path) -> bytes:
    store = settings.store
    if store.kind == "sqlite":
        files = store.sqlite_path.parent.glob(store.sqlite_path.name + "*")
        return b"".join(path.read_bytes() for path in files if path.is_file())
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.fail("pg_dump is needed to search a PostgreSQL database whole")
    url = settings.store.sqlalchemy_url().replace("postgresql+psycopg://", "postgresql://")
    out = tmp_path / "dump.sql"
    subprocess.run([pg_dump, "--data-only", "--inserts", "-f", str(out), url], check=True)
    return out.read_bytes()


def hits(haystack: bytes, text: str) -> int:
    needles = {text.encode(), text.casefold().encode(), text.encode().hex().encode()}
    needles.add(text.casefold().encode().hex().encode())
    return sum(haystack.lower().count(n.lower()) for n in needles)


def test_a_household_s_identifiers_are_nowhere_in_the_database_or_the_logs(
    store_settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fund = InternetFund(store_settings, household_key=HouseholdKey(bytes(range(32))))
    vouchers, engine = VoucherLedger(store_settings), create_read_engine(store_settings)
    try:
        device = delivered(fund, "pupil-priv")
        fund.decide_rate(
            period="2027",
            rate_numerator=35,
            rate_denominator=10_000,
            reference="ARCEP-2027",
            decided_on=date(2027, 2, 1),
            due_on=date(2027, 12, 31),
            by="arcep",
            now=NOW,
        )
        fund.declare_revenue(siren="380129866", period="2027", revenue_cents=10**8, by="o", now=NOW)
        fund.receive_levy_payment(
            siren="380129866",
            period="2027",
            payment_ref="VIR-1",
            amount_cents=35_000,
            by="bank",
            now=NOW,
        )
        household = HouseholdIdentity(NAME, ADDRESS)
        fund.pay_subsidy(
            household=household,
            period="2027",
            device_id=device,
            pupil_id="pupil-priv",
            amount_cents=10_000,
            payee="household",
            by="fm",
            now=NOW,
        )
        typed_again = HouseholdIdentity(NAME.upper(), ADDRESS.replace("é", "e"))
        with pytest.raises(HouseholdAlreadySubsidised):  # the same household, typed otherwise
            fund.pay_subsidy(
                household=typed_again,
                period="2027",
                device_id=device,
                pupil_id="pupil-priv",
                amount_cents=5_000,
                payee="household",
                by="fm",
                now=NOW,
            )
        for runner in projection_runners(vouchers, engine).values():
            runner.catch_up()
    finally:
        for app in (fund.device_bank, fund, vouchers):
            app.close()
        engine.dispose()
    database = dump(store_settings, tmp_path)
    assert len(database) > 10_000  # the dump holds the books: the search is not vacuous
    assert hits(database, "pupil-priv") > 0  # what is recorded is found the same way
    logs = "\n".join(r.getMessage() for r in caplog.records).encode()
    found = {word: (hits(database, word), hits(logs, word)) for word in PLANTED}
    assert found == dict.fromkeys(PLANTED, (0, 0))
