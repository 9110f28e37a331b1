"""The internet fund's read models, on SQLite and PostgreSQL: the fund's movements, levies,
subsidies and co-financing.

One small world is built through the `InternetFund` application, as in production: two
territories, two devices delivered to pupils, a year's rate, three operators' levies (one
corrected and paid late, one paid in part and late, one of the next period not yet due),
three subsidies, and two territories' co-financing (one closed). The read models are
folded from the log in small pages and checked by hand, against a fold of the events,
against the aggregates, against the books, and after rebuilds in pages of other sizes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from uuid import UUID

import pytest
from sqlalchemy import select

from ledger import accounts
from ledger.errors import CoFinancingNotFound, InvalidInput
from ledger.fund_app import InternetFund
from ledger.households import HouseholdIdentity, HouseholdKey
from ledger.parties import company, organisation, school
from ledger.settings import Settings
from ledger.territories import territory_id
from projections.balances import Balances, BalancesProjection
from projections.devices import utc
from projections.engine import create_read_engine
from projections.fund import (
    FUND_PROJECTIONS,
    CoFinancingFold,
    SubsidyFold,
    fold_cofinancing,
    fold_levies,
    fold_movements,
    fold_subsidies,
)
from projections.fund_views import FundMonth, FundReports
from projections.runner import ProjectionRunner
from projections.upkeep import reset

T0, DAY = datetime(2027, 9, 1, tzinfo=UTC), timedelta(days=1)
KEY = HouseholdKey(bytes(range(32)))
DONOR = company("38012986646850")
COLLECTOR, REFURBISHER, EDUCATION = "73282932000074", "55210055400013", "44306184100047"
UAI = "0750655E"
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
ORANGE, FREE, SFR = "380129866", "421938861", "343059564"
HOUSEHOLDS = (
    HouseholdIdentity("Hélène Dupré", "3 rue de la Paix, 75002 Paris"),
    HouseholdIdentity("Marc Hoarau", "12 rue de Paris, 97400 Saint-Denis"),
)
LYON, REUNION = territory_id("lyon"), territory_id("reunion")
JANUARY = datetime(2028, 1, 15, tzinfo=UTC)
PARIS_SUMMER = timezone(timedelta(hours=2))
PAGE_SIZE = 3  # small, so that a levy's or a territory's events fall in several pages


class World:
    def __init__(self, settings: Settings) -> None:
        self.fund = InternetFund(settings, household_key=KEY)
        self.engine = create_read_engine(settings)
        self.devices: dict[str, UUID] = {}

    def close(self) -> None:
        self.fund.device_bank.close()
        self.fund.close()
        self.engine.dispose()

    def runner(self, projection, page_size: int = PAGE_SIZE) -> ProjectionRunner:
        return ProjectionRunner(self.fund, self.engine, projection, page_size=page_size)

    def catch_up(self, page_size: int = PAGE_SIZE) -> int:
        return sum(self.runner(p(), page_size).catch_up() for p in FUND_PROJECTIONS)

    def delivered(self, serial: str, territory: str, pupil: str) -> None:
        """A device pledged in the territory, taken through the chain to a pupil."""
        bank, now = self.fund.device_bank, T0
        device = bank.pledge_device(
            donor=DONOR,
            territory=territory,
            kind="laptop",
            serial_number=serial,
            make="Dell",
            model="Latitude 5490",
            by="donor",
            now=now,
        )
        for giver, receiver in [(DONOR, COLLECTOR), (organisation(COLLECTOR), REFURBISHER)]:
            bank.hand_over(device, giver=giver, receiver=organisation(receiver), by="u", now=now)
            bank.confirm_handover(device, receiver=organisation(receiver), by="u", now=now)
        bank.diagnose(device, refurbisher=REFURBISHER, grade="A", by="t", now=now)
        bank.wipe(
            device,
            refurbisher=REFURBISHER,
            method="crypto_erase",
            certificate_id=f"BL-{serial}",
            certificate_sha256=SHA256,
            by="t",
            now=now,
        )
        bank.refurbish(device, refurbisher=REFURBISHER, parts=[], cost_cents=4500, by="t", now=now)
        bank.allocate(
            device, education_service=EDUCATION, pupil_id=pupil, school_uai=UAI, by="e", now=now
        )
        bank.deliver(device, refurbisher=REFURBISHER, by="driver", now=now)
        bank.confirm_handover(device, receiver=school(UAI), receiver_ref="cpe", by="c", now=now)
        self.devices[serial] = device


def build(world: World) -> None:
    fund, bank = world.fund, world.fund.device_bank
    for code, kind in [("lyon", "metropolis"), ("reunion", "overseas")]:
        bank.register_territory(
            code=code, name=code, kind=kind, budget_cents=10**6, funder_id="bdt", by="o", now=T0
        )
    for siret, role in [(COLLECTOR, "collector"), (REFURBISHER, "refurbisher")]:
        bank.approve_organisation(siret=siret, name=role, role=role, by="op", now=T0)
    bank.approve_organisation(
        siret=EDUCATION, name="Rectorat", role="education_service", by="o", now=T0
    )
    world.delivered("SN1", "lyon", "pupil-1")
    world.delivered("SN2", "reunion", "pupil-2")
    levies(fund)
    subsidies(world)
    cofinancing(fund)


def levies(fund: InternetFund) -> None:
    for period, due_on in [("2027", date(2027, 12, 31)), ("2028", date(2028, 12, 31))]:
        fund.decide_rate(
            period=period,
            rate_numerator=35,
            rate_denominator=10_000,
            reference=f"Décision {period}",
            decided_on=date(2027, 2, 15),
            due_on=due_on,
            by="arcep",
            now=T0,
        )
    for siren, revenue in [(ORANGE, 10**8), (FREE, 2 * 10**8)]:
        fund.declare_revenue(siren=siren, period="2027", revenue_cents=revenue, by="o", now=T0)
    fund.declare_revenue(siren=SFR, period="2028", revenue_cents=10**8, by="o", now=JANUARY)

    def pay(siren: str, ref: str, cents: int, now: datetime, period: str = "2027") -> None:
        terms = {"payment_ref": ref, "amount_cents": cents, "by": "bank", "now": now}
        fund.receive_levy_payment(siren=siren, period=period, **terms)

    pay(ORANGE, "VIR-O-1", 100_000, T0 + DAY)  # 350 000 due
    fund.correct_declaration(
        siren=ORANGE,
        period="2027",
        key="c1",
        revenue_cents=12 * 10**7,
        reason="audit",
        by="orange",
        now=T0 + 10 * DAY,
    )  # 420 000 due
    pay(FREE, "VIR-F-1", 200_000, datetime(2027, 10, 5, tzinfo=UTC))  # 700 000 due
    pay(ORANGE, "VIR-O-2", 320_000, datetime(2028, 1, 10, tzinfo=UTC))  # paid in full, late


def subsidies(world: World) -> None:
    def subsidise(household: int, serial: str, pupil: str, period: str, cents: int, now) -> None:
        world.fund.pay_subsidy(
            household=HOUSEHOLDS[household],
            period=period,
            device_id=world.devices[serial],
            pupil_id=pupil,
            amount_cents=cents,
            payee="provider" if household == 0 else "household",
            provider_siren=FREE if household == 0 else "",
            by="operator",
            now=now,
        )

    subsidise(0, "SN1", "pupil-1", "2027", 10_000, T0 + 2 * DAY)
    subsidise(1, "SN2", "pupil-2", "2027", 8_000, datetime(2027, 10, 20, tzinfo=UTC))
    subsidise(0, "SN1", "pupil-1", "2028", 9_000, datetime(2028, 1, 12, tzinfo=UTC))


def cofinancing(fund: InternetFund) -> None:
    fund.open_cofinancing(territory="lyon", by="bdt", now=T0)
    fund.open_cofinancing(territory="reunion", ratio=(2, 1, 1), by="bdt", now=T0)
    funders = [
        ("lyon", "bdt", "operator", 30_000, 30_000),
        ("lyon", "metropole", "local_authority", 20_000, 15_000),
        ("lyon", "region", "local_authority", 10_000, 5_000),
        ("lyon", "acme", "company", 50_000, 25_001),
        ("reunion", "bdt", "operator", 20_000, 10_000),
        ("reunion", "region-reunion", "local_authority", 5_000, 5_000),
        ("reunion", "cafe", "company", 9_000, 0),
    ]
    for code, funder, kind, pledged, paid in funders:
        terms = {"territory": code, "funder_id": funder, "by": funder, "now": T0}
        fund.pledge(key=f"p-{funder}", funder_kind=kind, amount_cents=pledged, **terms)
        if paid:
            fund.receive_cofinancing_payment(key=f"v-{funder}", amount_cents=paid, **terms)
    for key, cents, purpose in [("s1", 40_001, "devices"), ("s2", 5_000, "subsidies")]:
        fund.spend(
            territory="lyon",
            key=key,
            amount_cents=cents,
            purpose=purpose,
            reference=f"ref-{key}",
            by="bdt",
            now=T0 + DAY,
        )
    fund.close_cofinancing(territory="lyon", by="bdt", now=T0 + 30 * DAY)


@pytest.fixture
def world(store_settings: Settings):
    world = World(store_settings)
    try:
        build(world)
        assert world.catch_up() > 0
        yield world
    finally:
        world.close()


def test_the_fund_balance_is_known_at_any_moment_and_per_month(world):
    reports = FundReports(world.engine)
    assert reports.balance() == world.fund.fund_balance_cents() == 620_000 - 27_000
    assert reports.balance_at(T0) == 0
    assert reports.balance_at(T0 + DAY) == 100_000
    assert reports.balance_at(T0 + 2 * DAY) == 90_000
    assert reports.balance_at(datetime(2027, 12, 31, 23, tzinfo=UTC)) == 282_000
    in_paris = datetime(2027, 10, 5, 2, tzinfo=UTC).astimezone(PARIS_SUMMER)  # 04:00 there
    assert reports.balance_at(in_paris) == 290_000
    assert reports.balance_at(datetime(2027, 10, 5, 1, 59, tzinfo=PARIS_SUMMER)) == 90_000
    assert reports.months() == [
        FundMonth("2027-09", 100_000, 1, 10_000, 1, 90_000),
        FundMonth("2027-10", 200_000, 1, 8_000, 1, 282_000),
        FundMonth("2028-01", 320_000, 1, 9_000, 1, 593_000),
    ]
    assert [m.month for m in reports.months(first="2027-10", last="2027-12")] == ["2027-10"]
    for refused in ({"first": "2027"}, {"last": "2027-T1"}):
        with pytest.raises(InvalidInput):
            reports.months(**refused)
    with pytest.raises(InvalidInput):
        reports.balance_at(datetime(2027, 10, 1))  # a naive time


def test_levies_are_declared_due_paid_and_late_by_operator_and_period(world):
    reports = FundReports(world.engine)
    december = datetime(2027, 12, 31, 23, tzinfo=UTC)
    figures = [
        (x.siren, x.declared_cents, x.due_cents, x.paid_cents, x.late_cents)
        for x in reports.levies(JANUARY)
    ]
    assert figures == [
        (ORANGE, 350_000, 420_000, 420_000, 0),
        (FREE, 700_000, 700_000, 200_000, 500_000),
        (SFR, 350_000, 350_000, 0, 0),  # 2028: not yet due
    ]
    assert all(x.late_cents == 0 for x in reports.levies(december))  # due by the day's end
    orange = reports.levies(JANUARY, siren=ORANGE)[0]
    assert (orange.paid_late_cents, orange.outstanding_cents) == (320_000, 0)
    assert [x.siren for x in reports.levies(JANUARY, late_only=True)] == [FREE]
    totals = reports.levy_totals("2027", JANUARY)
    assert (totals.operators, totals.declared_cents, totals.due_cents) == (2, 1_050_000, 1_120_000)
    assert (totals.paid_cents, totals.late_cents, totals.late_operators) == (620_000, 500_000, 1)
    assert reports.levy_totals("2029", JANUARY).operators == 0
    for period in ("2027", "2028"):
        for now in (T0, december, JANUARY):
            live = {s.siren: s for s in world.fund.levy_statuses(period, now)}
            for x in reports.levies(now, period=period):
                status = live[x.siren]
                late_paid = sum(p.amount_cents for p in status.late_payments)
                assert (x.due_cents, x.paid_cents, x.late_cents, x.paid_late_cents) == (
                    status.levy_cents,
                    status.paid_cents,
                    status.overdue_cents,
                    late_paid,
                )
    assert len(reports.levies(JANUARY, limit=1, offset=2)) == 1
    with pytest.raises(InvalidInput):
        reports.levies(JANUARY, limit=0)


def test_subsidies_are_counted_per_territory_of_their_device_and_period(world):
    reports = FundReports(world.engine)
    figures = {
        (s.territory_id, s.period): (s.subsidies, s.amount_cents) for s in reports.subsidies()
    }
    assert figures == {
        (LYON, "2027"): (1, 10_000),
        (LYON, "2028"): (1, 9_000),
        (REUNION, "2027"): (1, 8_000),
    }
    assert [s.period for s in reports.subsidies(territory=LYON)] == ["2027", "2028"]
    assert [s.territory_id for s in reports.subsidies(period="2028")] == [LYON]


def test_cofinancing_is_reported_as_the_aggregate_reports_it(world):
    reports = FundReports(world.engine)
    assert reports.cofinanced_territories() == ["lyon", "reunion"]
    for code in ("lyon", "reunion"):
        assert reports.cofinancing(code) == world.fund.cofinancing_report(code)
    lyon = reports.cofinancing("lyon")
    assert (lyon.paid_cents, lyon.matched_cents, lyon.spent_cents) == (75_001, 60_000, 45_001)
    assert lyon.is_closed and lyon.returned_cents == 75_001 - 45_001
    assert reports.cofinancing_spends("lyon") == (2, 40_001, 5_000)
    assert reports.cofinancing("reunion").matched_cents == 0  # no company has paid
    with pytest.raises(CoFinancingNotFound):
        reports.cofinancing("paris")


def rows_of(world: World) -> dict[str, list[tuple]]:
    with world.engine.connect() as conn:
        return {
            table.name: sorted(tuple(map(normal, row)) for row in conn.execute(select(table)))
            for projection in FUND_PROJECTIONS
            for table in projection.tables
        }


def events_of(world: World, projection) -> list[object]:
    found = world.fund.recorder.select_notifications(
        start=1, limit=10_000, topics=projection.topics
    )
    return [world.fund.mapper.to_domain_event(n) for n in found]


def test_the_tables_equal_a_fold_of_the_events(world):
    movements, levies, subsidies, cofinancing = FUND_PROJECTIONS
    folded_subsidies = fold_subsidies(events_of(world, subsidies), SubsidyFold())
    folded_cofinancing = fold_cofinancing(events_of(world, cofinancing), CoFinancingFold())
    folded = {
        "fund_movements": fold_movements(events_of(world, movements)).values(),
        "fund_levies": fold_levies(events_of(world, levies)).values(),
        "fund_device_territories": folded_subsidies.devices.values(),
        "fund_subsidies": folded_subsidies.subsidies.values(),
        "fund_cofinancings": folded_cofinancing.territories.values(),
        "fund_cofinancing_funders": folded_cofinancing.funders.values(),
    }
    tables = rows_of(world)
    for name, rows in folded.items():
        assert tables[name] == sorted(tuple(vars_of(row)) for row in rows), name
    assert len(tables["fund_device_territories"]) == 2
    held = {value for rows in tables.values() for row in rows for value in row}
    assert not held & {"pupil-1", "pupil-2", UAI} and not any(
        world.fund.fingerprint(h) in held for h in HOUSEHOLDS
    )


def vars_of(row) -> tuple:
    return tuple(normal(getattr(row, name)) for name in row.__slots__)


def normal(value):
    """Datetimes in UTC: SQLite gives them back without their zone."""
    return utc(value) if isinstance(value, datetime) else value


def test_catching_up_in_pages_of_any_size_gives_the_same_rows(world):
    before = rows_of(world)
    assert all(before.values())
    assert world.catch_up() == 0
    for page_size in (1, 2, 7, 1000):
        for projection in FUND_PROJECTIONS:
            reset(world.engine, projection())
        assert not any(rows_of(world).values())
        assert world.catch_up(page_size) > 0
        assert rows_of(world) == before, page_size


def test_the_books_agree_with_the_fund_and_the_trial_balance_stays_zero(world):
    assert world.runner(BalancesProjection(), page_size=1000).catch_up() > 0
    balances, reports = Balances(world.engine), FundReports(world.engine)
    assert balances.trial_balance() == 0
    assert balances.balance(accounts.internet_fund()) == reports.balance()
    for levy in reports.levies(JANUARY):
        receivable = balances.balance(accounts.levy_receivable(levy.levy_id))
        assert receivable == levy.outstanding_cents
