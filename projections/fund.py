"""The internet fund's read models: the fund's balance over time, levies by operator and
period, subsidies by territory and period, and co-financing per territory and funder.

- **Movements of the fund** (`fund_movements`): one row per event of the fund aggregate
  (`Fund.LevyPaidIn`, `Fund.SubsidyPaidOut`), keyed by the fund's version, which orders them
  totally, with the balance after it. A row per event rather than per day: "the balance at
  time T" is then exact to the moment (the movements recorded at or before T), and "in and
  out per month" is a sum over the month's rows (`month`, in UTC, is kept on each row).
- **Levies** (`fund_levies`): one row per operator and period: the levy as declared, as due
  after corrections, what was paid and what was paid after the due date. The due date comes
  with the declaration, copied from the period's rate decision. A levy is **late** at `now`
  when its due date has passed (the day of `now` is after it) and something is still due:
  then its late amount is what remains due (`projections.fund_views`).
- **Subsidies** (`fund_subsidies`): a count and a sum per territory and period. The
  territory is the one the subsidised device was pledged in: the projection keeps its own
  small table device → territory (`fund_device_territories`) from `Device.Pledged`, so it
  never loads an aggregate nor waits on another read model. No household is kept.
- **Co-financing** (`fund_cofinancings`, `fund_cofinancing_funders`): one row per
  territory's co-financing (ratio, closed, spent per purpose) and one per funder (its kind,
  what it pledged, paid, saw spent in the spends' lineage, and got back at the close).

Each projection's logic is a pure `fold` of events from the rows as they stood: a
projection loads the rows a page touches, folds the page and writes the rows back; a test
folds the whole log from nothing and finds the same tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from typing import Any

from eventsourcing.utils import get_topic
from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ledger.cofinancing import CoFinancing
from ledger.devices import Device
from ledger.levies import OperatorLevy
from ledger.subsidies import Fund, HouseholdSubsidy
from projections.devices import utc
from projections.schema import (
    fund_cofinancing_funders,
    fund_cofinancings,
    fund_device_territories,
    fund_levies,
    fund_movements,
    fund_subsidies,
)

LOAD_CHUNK = 500  # keys per `IN (…)` when a page's rows are loaded


def month_of(moment: datetime) -> str:
    return utc(moment).strftime("%Y-%m")


def put_rows(conn: Connection, table: Table, keys: Sequence[str], rows: Sequence[Any]) -> None:
    """Insert each row (a dataclass), or replace the row with the same keys."""
    if not rows:
        return
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = insert(table)
    others = [column.name for column in table.columns if column.name not in keys]
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c[key] for key in keys],
            set_={name: statement.excluded[name] for name in others},
        ),
        [asdict(row) for row in rows],
    )


def load(conn: Connection, table: Table, column: str, values: Iterable[str]) -> list[Any]:
    """The rows whose `column` is one of `values`, a chunk of values per query."""
    wanted, found = sorted(set(values)), []
    for start in range(0, len(wanted), LOAD_CHUNK):
        query = select(table).where(table.c[column].in_(wanted[start : start + LOAD_CHUNK]))
        found.extend(conn.execute(query).mappings())
    return found


def topics_of(*event_types: type) -> tuple[str, ...]:
    return tuple(get_topic(t) for t in event_types)


# The fund's movements ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FundMovement:
    """A levy paid in or a subsidy paid out: one row of `fund_movements`."""

    version: int  # the fund's event version: the one order of its movements
    at: datetime
    month: str  # `2027-09`, of `at` in UTC
    paid_in_cents: int
    paid_out_cents: int
    balance_cents: int  # the fund's balance after this movement
    levy_id: str | None  # the levy a payment in settles, and the bank's reference
    payment_ref: str | None
    subsidy_period: str | None  # the period a subsidy out pays for (never its household)


def fold_movements(events: Iterable[Any], balance_cents: int = 0) -> dict[int, FundMovement]:
    """The fund's movements, from its balance before them."""
    rows: dict[int, FundMovement] = {}
    for e in events:
        if isinstance(e, Fund.LevyPaidIn):
            at, moved, refs = (
                e.paid_in_at,
                (e.amount_cents, 0),
                (str(e.levy_id), e.payment_ref, None),
            )
        elif isinstance(e, Fund.SubsidyPaidOut):
            at, moved, refs = e.paid_out_at, (0, e.amount_cents), (None, None, e.period)
        else:
            continue
        balance_cents += moved[0] - moved[1]
        at, version = utc(at), e.originator_version
        rows[version] = FundMovement(version, at, month_of(at), *moved, balance_cents, *refs)
    return rows


class FundMovementsProjection:
    name = "fund_movements"
    tables = (fund_movements,)
    topics = topics_of(Fund.LevyPaidIn, Fund.SubsidyPaidOut)

    def apply(self, conn: Connection, events: Sequence[Any]) -> None:
        t = fund_movements.c
        last = select(t.balance_cents).order_by(t.version.desc()).limit(1)
        balance_cents = conn.execute(last).scalar() or 0
        rows = fold_movements(events, balance_cents)
        put_rows(conn, fund_movements, ("version",), list(rows.values()))


# Levies -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LevyRow:
    """An operator's levy for a period: one row of `fund_levies`."""

    levy_id: str
    siren: str
    period: str
    due_on: date  # the rate decision's: the levy is due by the end of this day
    declared_at: datetime
    revenue_cents: int  # after corrections
    declared_cents: int  # the levy as first declared
    due_cents: int  # the levy after corrections
    corrections: int = 0
    paid_cents: int = 0
    payments: int = 0
    paid_late_cents: int = 0  # received after the due date
    late_payments: int = 0
    last_paid_at: datetime | None = None


def fold_levies(
    events: Iterable[Any], known: Mapping[str, LevyRow] | None = None
) -> dict[str, LevyRow]:
    """Levies touched by the events, from their rows as they stood (`known`)."""
    rows: dict[str, LevyRow] = dict(known or {})
    touched: dict[str, LevyRow] = {}
    for e in events:
        levy_id = str(e.originator_id)
        if isinstance(e, OperatorLevy.Declared):
            row = LevyRow(
                levy_id,
                e.siren,
                e.period,
                e.due_on,
                utc(e.declared_at),
                e.revenue_cents,
                e.levy_cents,
                e.levy_cents,
            )
        elif isinstance(e, OperatorLevy.Corrected):
            row = rows[levy_id]
            row = replace(
                row,
                revenue_cents=row.revenue_cents + e.revenue_delta_cents,
                due_cents=row.due_cents + e.levy_delta_cents,
                corrections=row.corrections + 1,
            )
        elif isinstance(e, OperatorLevy.PaymentReceived):
            row = rows[levy_id]
            late = e.received_at.date() > row.due_on  # the day as given, as the levy says
            row = replace(
                row,
                paid_cents=row.paid_cents + e.amount_cents,
                payments=row.payments + 1,
                last_paid_at=utc(e.received_at),
                paid_late_cents=row.paid_late_cents + (e.amount_cents if late else 0),
                late_payments=row.late_payments + late,
            )
        else:
            continue
        rows[levy_id] = touched[levy_id] = row
    return touched


def levy_row(row: Mapping[str, Any]) -> LevyRow:
    return LevyRow(
        **{**row, "declared_at": utc(row["declared_at"]), "last_paid_at": utc(row["last_paid_at"])}
    )


class LeviesProjection:
    name = "fund_levies"
    tables = (fund_levies,)
    topics = topics_of(OperatorLevy.Declared, OperatorLevy.Corrected, OperatorLevy.PaymentReceived)

    def apply(self, conn: Connection, events: Sequence[Any]) -> None:
        ids = (str(e.originator_id) for e in events)
        known = {r["levy_id"]: levy_row(r) for r in load(conn, fund_levies, "levy_id", ids)}
        put_rows(conn, fund_levies, ("levy_id",), list(fold_levies(events, known).values()))


# Subsidies --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceTerritory:
    device_id: str
    territory_id: str


@dataclass(frozen=True, slots=True)
class SubsidyRow:
    """Subsidies paid for devices of a territory, for a period: one row of `fund_subsidies`."""

    territory_id: str
    period: str
    subsidies: int
    amount_cents: int


@dataclass
class SubsidyFold:
    devices: dict[str, DeviceTerritory] = field(default_factory=dict)
    subsidies: dict[tuple[str, str], SubsidyRow] = field(default_factory=dict)


def fold_subsidies(events: Iterable[Any], known: SubsidyFold | None = None) -> SubsidyFold:
    """Devices pledged and subsidies paid, from the rows as they stood (`known`): the rows
    the events touched."""
    known = known or SubsidyFold()
    devices, subsidies = dict(known.devices), dict(known.subsidies)
    touched = SubsidyFold()
    for e in events:
        if isinstance(e, Device.Pledged):
            row = DeviceTerritory(str(e.originator_id), str(e.territory_id))
            devices[row.device_id] = touched.devices[row.device_id] = row
        elif isinstance(e, HouseholdSubsidy.Paid):
            territory = devices[str(e.device_id)].territory_id  # pledged before delivered
            key = (territory, e.period)
            before = subsidies.get(key, SubsidyRow(territory, e.period, 0, 0))
            after = replace(
                before,
                subsidies=before.subsidies + 1,
                amount_cents=before.amount_cents + e.amount_cents,
            )
            subsidies[key] = touched.subsidies[key] = after
    return touched


class SubsidiesProjection:
    name = "fund_subsidies"
    tables = (fund_subsidies, fund_device_territories)
    topics = topics_of(Device.Pledged, HouseholdSubsidy.Paid)

    def apply(self, conn: Connection, events: Sequence[Any]) -> None:
        paid = [e for e in events if isinstance(e, HouseholdSubsidy.Paid)]
        known = SubsidyFold()
        for r in load(conn, fund_device_territories, "device_id", (str(e.device_id) for e in paid)):
            known.devices[r["device_id"]] = DeviceTerritory(**r)
        pledged = {
            str(e.originator_id): str(e.territory_id)
            for e in events
            if isinstance(e, Device.Pledged)
        }
        territories = {
            pledged.get(str(e.device_id)) or known.devices[str(e.device_id)].territory_id
            for e in paid
        }
        for r in load(conn, fund_subsidies, "territory_id", territories):
            known.subsidies[(r["territory_id"], r["period"])] = SubsidyRow(**r)
        result = fold_subsidies(events, known)
        put_rows(conn, fund_device_territories, ("device_id",), list(result.devices.values()))
        keys = ("territory_id", "period")
        put_rows(conn, fund_subsidies, keys, list(result.subsidies.values()))


# Co-financing -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CoFinancingRow:
    """A territory's co-financing: one row of `fund_cofinancings`."""

    cofinancing_id: str
    territory_id: str
    territory_code: str
    weight_operator: int  # the ratio of the funder kinds, in their stated order
    weight_local_authority: int
    weight_company: int
    opened_at: datetime
    is_closed: bool = False
    spends: int = 0
    spent_devices_cents: int = 0
    spent_subsidies_cents: int = 0


@dataclass(frozen=True, slots=True)
class FunderRow:
    """A funder of a territory: one row of `fund_cofinancing_funders`."""

    cofinancing_id: str
    funder_id: str
    funder_kind: str
    pledged_cents: int = 0
    paid_cents: int = 0
    spent_cents: int = 0  # its cents in the spends' lineage
    returned_cents: int = 0


@dataclass
class CoFinancingFold:
    territories: dict[str, CoFinancingRow] = field(default_factory=dict)
    funders: dict[tuple[str, str], FunderRow] = field(default_factory=dict)


def fold_cofinancing(
    events: Iterable[Any], known: CoFinancingFold | None = None
) -> CoFinancingFold:
    """Co-financings and funders touched by the events, from their rows as they stood."""
    known = known or CoFinancingFold()
    territories, funders = dict(known.territories), dict(known.funders)
    touched = CoFinancingFold()

    def add(cid: str, funder_id: str, **cents: int) -> None:
        row = funders[(cid, funder_id)]
        row = replace(row, **{name: getattr(row, name) + c for name, c in cents.items()})
        funders[(cid, funder_id)] = touched.funders[(cid, funder_id)] = row

    for e in events:
        cid = str(e.originator_id)
        territory = territories.get(cid)
        if isinstance(e, CoFinancing.Opened):
            territory = CoFinancingRow(
                cid, str(e.territory_id), e.territory_code, *e.ratio, utc(e.opened_at)
            )
        elif isinstance(e, CoFinancing.Pledged):
            key = (cid, e.funder_id)
            funders.setdefault(key, FunderRow(cid, e.funder_id, e.funder_kind.value))
            add(cid, e.funder_id, pledged_cents=e.amount_cents)
        elif isinstance(e, CoFinancing.PaymentReceived):
            add(cid, e.funder_id, paid_cents=e.amount_cents)
        elif isinstance(e, CoFinancing.Spent):
            for funder_id, cents in e.attribution:
                add(cid, funder_id, spent_cents=cents)
            purpose = f"spent_{e.purpose.value}_cents"  # devices or subsidies
            territory = replace(
                territory,
                spends=territory.spends + 1,
                **{purpose: getattr(territory, purpose) + e.amount_cents},
            )
        elif isinstance(e, CoFinancing.Closed):
            for funder_id, cents in e.returned:
                add(cid, funder_id, returned_cents=cents)
            territory = replace(territory, is_closed=True)
        else:
            continue
        territories[cid] = touched.territories[cid] = territory
    return touched


class CoFinancingProjection:
    name = "fund_cofinancing"
    tables = (fund_cofinancings, fund_cofinancing_funders)
    topics = topics_of(
        CoFinancing.Opened,
        CoFinancing.Pledged,
        CoFinancing.PaymentReceived,
        CoFinancing.Spent,
        CoFinancing.Closed,
    )

    def apply(self, conn: Connection, events: Sequence[Any]) -> None:
        ids = {str(e.originator_id) for e in events}
        known = CoFinancingFold()
        for r in load(conn, fund_cofinancings, "cofinancing_id", ids):
            known.territories[r["cofinancing_id"]] = CoFinancingRow(
                **{**r, "opened_at": utc(r["opened_at"])}
            )
        for r in load(conn, fund_cofinancing_funders, "cofinancing_id", ids):
            known.funders[(r["cofinancing_id"], r["funder_id"])] = FunderRow(**r)
        result = fold_cofinancing(events, known)
        rows = list(result.territories.values())
        put_rows(conn, fund_cofinancings, ("cofinancing_id",), rows)
        keys = ("cofinancing_id", "funder_id")
        put_rows(conn, fund_cofinancing_funders, keys, list(result.funders.values()))


FUND_PROJECTIONS = (
    FundMovementsProjection,
    LeviesProjection,
    SubsidiesProjection,
    CoFinancingProjection,
)
