"""The internet fund's folds without I/O: the fund's running balance and months, levies as
declared, corrected and paid (late or not), subsidies per territory of their device, and
co-financing per funder; the same rows whichever pages the log is cut into."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pytest

from ledger.cofinancing import CoFinancing
from ledger.device_records import DeviceDescription
from ledger.devices import Device
from ledger.errors import InvalidInput
from ledger.fund_records import Rate
from ledger.levies import LevyPeriod, OperatorLevy
from ledger.parties import Actor, company
from ledger.subsidies import Fund, HouseholdSubsidy
from ledger.territories import Territory
from projections.fund import (
    CoFinancingFold,
    SubsidyFold,
    fold_cofinancing,
    fold_levies,
    fold_movements,
    fold_subsidies,
)
from projections.fund_views import check_month

T0, DAY = datetime(2027, 9, 30, 22, tzinfo=UTC), timedelta(days=1)
ORANGE = "380129866"


def territory(code: str) -> Territory:
    return Territory.register(
        code=code, name=code, kind="metropolis", budget_cents=1, funder_id="bdt", by="o", now=T0
    )


def fund_events() -> list[object]:
    fund = Fund.open(by="bank", now=T0)
    for n, cents in enumerate((50_000, 20_000)):
        fund.pay_in(levy_id=UUID(int=n), payment_ref=f"V{n}", amount_cents=cents, by="b", now=T0)
    subsidy = HouseholdSubsidy.pay(
        household="a" * 64,
        period="2027",
        device_id=UUID(int=9),
        pupil_id="pupil-1",
        amount_cents=7_000,
        payee="household",
        by="o",
        now=T0 + DAY,
    )
    fund.pay_out(subsidy, by="o", now=T0 + DAY)
    return fund.collect_events()


def test_each_movement_of_the_fund_keeps_the_balance_after_it_and_its_month_in_utc():
    rows = fold_movements(fund_events())
    assert [
        (r.version, r.month, r.paid_in_cents, r.paid_out_cents, r.balance_cents)
        for r in rows.values()
    ] == [
        (2, "2027-09", 50_000, 0, 50_000),
        (3, "2027-09", 20_000, 0, 70_000),
        (4, "2027-10", 0, 7_000, 63_000),
    ]
    out = rows[4]
    assert (out.subsidy_period, out.levy_id, out.payment_ref) == ("2027", None, None)
    assert fold_movements(fund_events()[2:], balance_cents=50_000) == {
        v: r for v, r in rows.items() if v > 2
    }


def levy_events() -> list[object]:
    period = LevyPeriod.decide(
        period="2027",
        rate=Rate.of(35, 10_000),
        reference="Décision",
        decided_on=date(2027, 2, 1),
        due_on=date(2027, 9, 30),
        by="arcep",
        now=T0,
    )
    levy = OperatorLevy.declare(siren=ORANGE, period=period, revenue_cents=10**8, by="o", now=T0)
    levy.receive_payment(payment_ref="V1", amount_cents=100_000, by="b", now=T0)  # on the day
    levy.correct(key="c", revenue_cents=9 * 10**7, reason="audit", by="o", now=T0)
    levy.receive_payment(payment_ref="V2", amount_cents=200_000, by="b", now=T0 + DAY)  # late
    return [*period.collect_events(), *levy.collect_events()]


def test_a_levy_keeps_what_was_declared_due_after_corrections_and_paid_late():
    (row,) = fold_levies(levy_events()).values()
    assert (row.declared_cents, row.due_cents, row.revenue_cents) == (350_000, 315_000, 9 * 10**7)
    assert (row.corrections, row.payments, row.paid_cents) == (1, 2, 300_000)
    assert (row.paid_late_cents, row.late_payments) == (200_000, 1)
    assert (row.due_on, row.last_paid_at) == (date(2027, 9, 30), T0 + DAY)


def test_a_levy_folded_in_pages_gives_the_same_row():
    events = levy_events()
    for size in (1, 2, 3):
        known: dict = {}
        for start in range(0, len(events), size):
            known |= fold_levies(events[start : start + size], known)
        assert known == fold_levies(events)


def subsidy_events() -> list[object]:
    donor = Actor.donor(company("38012986646850"))
    events: list[object] = []
    for serial, place in [("SN1", "lyon"), ("SN2", "reunion")]:
        description = DeviceDescription("laptop", serial, "Dell", "Latitude")
        device = Device.pledge(
            donor=donor, territory_id=territory(place).id, description=description, by="d", now=T0
        )
        events += device.collect_events()
    for n, (device, period) in enumerate([(0, "2027"), (0, "2028"), (1, "2027"), (0, "2027")]):
        events += HouseholdSubsidy.pay(
            household=f"{n}" * 64,
            period=period,
            device_id=events[device].originator_id,
            pupil_id=f"pupil-{n}",
            amount_cents=1_000 * (n + 1),
            payee="household",
            by="o",
            now=T0,
        ).collect_events()
    return events


def test_subsidies_count_per_territory_of_their_device_and_period_and_name_no_household():
    folded = fold_subsidies(subsidy_events())
    lyon, reunion = str(territory("lyon").id), str(territory("reunion").id)
    assert {k: (r.subsidies, r.amount_cents) for k, r in folded.subsidies.items()} == {
        (lyon, "2027"): (2, 5_000),
        (lyon, "2028"): (1, 2_000),
        (reunion, "2027"): (1, 3_000),
    }
    assert {r.territory_id for r in folded.devices.values()} == {lyon, reunion}
    assert "1" * 64 not in repr(folded) and "pupil-1" not in repr(folded)
    events, known = subsidy_events(), SubsidyFold()
    for event in events:  # one event per page
        touched = fold_subsidies([event], known)
        known.devices |= touched.devices
        known.subsidies |= touched.subsidies
    assert known == folded


def cofinancing_events() -> tuple[CoFinancing, list[object]]:
    c = CoFinancing.open(territory=territory("lyon"), ratio=(2, 1, 1), by="o", now=T0)
    for funder, kind, cents in [("bdt", "operator", 20_000), ("metro", "local_authority", 9_000)]:
        c.pledge(
            key=f"p-{funder}",
            funder_id=funder,
            funder_kind=kind,
            amount_cents=cents,
            by="f",
            now=T0,
        )
        c.receive_payment(key=f"v-{funder}", funder_id=funder, amount_cents=cents, by="f", now=T0)
    c.pledge(
        key="p-acme", funder_id="acme", funder_kind="company", amount_cents=5_001, by="f", now=T0
    )
    c.receive_payment(key="v-acme", funder_id="acme", amount_cents=5_001, by="f", now=T0)
    c.spend(key="s", amount_cents=9_999, purpose="subsidies", reference="r", by="o", now=T0)
    c.close(by="o", now=T0)
    return c, c.collect_events()


def test_cofinancing_keeps_each_funders_pledged_paid_spent_and_returned_cents():
    aggregate, events = cofinancing_events()
    folded = fold_cofinancing(events)
    (row,) = folded.territories.values()
    assert (row.is_closed, row.spends, row.spent_subsidies_cents, row.spent_devices_cents) == (
        True,
        1,
        9_999,
        0,
    )
    report = aggregate.report()
    assert {
        f.funder_id: (f.kind.value, f.pledged_cents, f.paid_cents, f.spent_cents, f.returned_cents)
        for f in report.funders
    } == {
        r.funder_id: (r.funder_kind, r.pledged_cents, r.paid_cents, r.spent_cents, r.returned_cents)
        for r in folded.funders.values()
    }
    known = CoFinancingFold()
    for event in events:
        touched = fold_cofinancing([event], known)
        known.territories |= touched.territories
        known.funders |= touched.funders
    assert known == folded


@pytest.mark.parametrize("month", ["2027", "2027-S1", "2027-T3", "27-09", "2027-13"])
def test_a_month_is_a_year_and_its_month(month):
    with pytest.raises(InvalidInput):
        check_month(month)
    assert check_month("2027-09") == "2027-09"
