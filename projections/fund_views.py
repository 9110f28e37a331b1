"""Queries on the internet fund's read models (`projections.fund` folds them): the fund's
balance at a moment and its money in and out per month; levies by operator and period,
due, paid and late at a moment; subsidies per territory and period; co-financing per
territory, per funder kind and per funder. Every listing is a page, with a limit.

A levy is **late** at `now` when its due date has passed (the day of `now`, as given, is
after the due date, as `ledger.levies` compares them) and something is still due: its
late amount is then what remains due. A levy overpaid by a correction is never late.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from uuid import UUID

from sqlalchemy import ColumnElement, Engine, Select, and_, case, func, literal, select

from ledger.cofinancing import CoFinancingReport, FunderFigures, KindFigures, cofinancing_id
from ledger.errors import CoFinancingNotFound, InvalidInput
from ledger.fund_records import check_period
from ledger.identifiers import check_siren
from ledger.matching import KINDS, FunderKind, matched_cents
from projections.schema import (
    fund_cofinancing_funders,
    fund_cofinancings,
    fund_levies,
    fund_movements,
    fund_subsidies,
)

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class FundMonth:
    """The fund's money in and out in a month (UTC), and its balance at the month's end."""

    month: str  # `2027-09`
    paid_in_cents: int
    levy_payments: int
    paid_out_cents: int
    subsidies: int
    closing_balance_cents: int


@dataclass(frozen=True, slots=True)
class LevyFigures:
    """An operator's levy for a period, as it stands at the `now` asked about."""

    levy_id: UUID
    siren: str
    period: str
    due_on: date
    declared_cents: int  # the levy as first declared
    due_cents: int  # after corrections
    paid_cents: int
    paid_late_cents: int  # received after the due date
    late_cents: int  # still due once the due date has passed

    @property
    def outstanding_cents(self) -> int:
        """What remains due; negative when a correction left the levy overpaid."""
        return self.due_cents - self.paid_cents


@dataclass(frozen=True, slots=True)
class LevyTotals:
    period: str
    operators: int
    declared_cents: int
    due_cents: int
    paid_cents: int
    late_cents: int
    late_operators: int


@dataclass(frozen=True, slots=True)
class SubsidyFigures:
    territory_id: UUID
    period: str
    subsidies: int
    amount_cents: int


class FundReports:
    """Queries on the internet fund's read models. A territory is its id for subsidies
    (`ledger.territories.territory_id(code)`) and its code for co-financing."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # The fund ------------------------------------------------------------------------------

    def balance_at(self, moment: datetime) -> int:
        """The fund's balance after every movement recorded at or before `moment`."""
        t = fund_movements.c
        query = select(func.coalesce(func.sum(t.paid_in_cents - t.paid_out_cents), 0)).where(
            t.at <= aware(moment).astimezone(UTC)
        )
        return int(self._scalar(query))

    def balance(self) -> int:
        """The fund's balance after its last movement projected."""
        t = fund_movements.c
        query = select(t.balance_cents).order_by(t.version.desc()).limit(1)
        return int(self._scalar(query) or 0)

    def months(self, first: str | None = None, last: str | None = None) -> list[FundMonth]:
        """Each month with a movement, from `first` to `last` (`2027-09`, both included)."""
        t = fund_movements.c
        query = (
            select(
                t.month,
                func.sum(t.paid_in_cents),
                func.sum(case((t.paid_in_cents > 0, 1), else_=0)),
                func.sum(t.paid_out_cents),
                func.sum(case((t.paid_out_cents > 0, 1), else_=0)),
            )
            .group_by(t.month)
            .order_by(t.month)
        )
        if last is not None:
            query = query.where(t.month <= check_month(last))
        found, balance = [], 0
        with self.engine.connect() as conn:
            for month, paid_in, levies, paid_out, subsidies in conn.execute(query):
                balance += int(paid_in) - int(paid_out)  # months before `first` open it
                figures = (int(paid_in), int(levies), int(paid_out), int(subsidies), balance)
                found.append(FundMonth(month, *figures))
        return [m for m in found if first is None or m.month >= check_month(first)]

    # Levies --------------------------------------------------------------------------------

    def levies(
        self,
        now: datetime,
        *,
        period: str | None = None,
        siren: str | None = None,
        late_only: bool = False,
        limit: int = DEFAULT_PAGE_SIZE,
        offset: int = 0,
    ) -> list[LevyFigures]:
        """Levies by period then operator, as they stand at `now`; one page."""
        check_page(limit, offset)
        t = fund_levies.c
        late = late_cents(aware(now))
        query = select(
            t.levy_id,
            t.siren,
            t.period,
            t.due_on,
            t.declared_cents,
            t.due_cents,
            t.paid_cents,
            t.paid_late_cents,
            late,
        )
        query = where_levy(query, period, siren)
        if late_only:
            query = query.where(late > 0)
        query = query.order_by(t.period, t.siren).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [LevyFigures(UUID(r[0]), *r[1:8], int(r[8])) for r in rows]

    def levy_totals(self, period: str, now: datetime) -> LevyTotals:
        """A period's levies together, at `now`."""
        t = fund_levies.c
        late = late_cents(aware(now))
        query = select(
            func.count(),
            *(func.coalesce(func.sum(c), 0) for c in (t.declared_cents, t.due_cents, t.paid_cents)),
            func.coalesce(func.sum(late), 0),
            func.coalesce(func.sum(case((late > 0, 1), else_=0)), 0),
        ).where(t.period == check_period(period))
        with self.engine.connect() as conn:
            row = conn.execute(query).one()
        return LevyTotals(period, *(int(n) for n in row))

    # Subsidies -----------------------------------------------------------------------------

    def subsidies(
        self,
        territory: UUID | None = None,
        period: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        offset: int = 0,
    ) -> list[SubsidyFigures]:
        """Subsidies per territory and period, by territory then period; one page."""
        check_page(limit, offset)
        t = fund_subsidies.c
        query = select(t.territory_id, t.period, t.subsidies, t.amount_cents)
        if territory is not None:
            query = query.where(t.territory_id == str(territory))
        if period is not None:
            query = query.where(t.period == check_period(period))
        query = query.order_by(t.territory_id, t.period).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [SubsidyFigures(UUID(tid), p, int(n), int(c)) for tid, p, n, c in rows]

    # Co-financing --------------------------------------------------------------------------

    def cofinancing(self, territory_code: str) -> CoFinancingReport:
        """Pledged, paid, matched, spent and returned in a territory, per kind and funder:
        the same report as the aggregate's (`CoFinancing.report`)."""
        cid = str(cofinancing_id(territory_code))
        t, f = fund_cofinancings.c, fund_cofinancing_funders.c
        with self.engine.connect() as conn:
            row = conn.execute(select(fund_cofinancings).where(t.cofinancing_id == cid)).first()
            if row is None:
                raise CoFinancingNotFound(f"no co-financing in {territory_code}")
            query = select(fund_cofinancing_funders).where(f.cofinancing_id == cid)
            funder_rows = conn.execute(query.order_by(f.funder_id)).mappings().all()
        funders = tuple(
            FunderFigures(
                r["funder_id"],
                FunderKind(r["funder_kind"]),
                r["pledged_cents"],
                r["paid_cents"],
                r["spent_cents"],
                r["returned_cents"],
            )
            for r in funder_rows
        )
        ratio = (row.weight_operator, row.weight_local_authority, row.weight_company)
        kinds = tuple(kind_figures(k, w, funders) for k, w in zip(KINDS, ratio, strict=True))
        paid_by_kind = [k.paid_cents for k in kinds]
        return CoFinancingReport(
            row.territory_code,
            ratio,
            row.is_closed,
            sum(k.pledged_cents for k in kinds),
            sum(paid_by_kind),
            matched_cents(paid_by_kind, ratio),
            sum(k.spent_cents for k in kinds),
            sum(f.returned_cents for f in funders),
            kinds,
            funders,
        )

    def cofinancing_spends(self, territory_code: str) -> tuple[int, int, int]:
        """A territory's spends: their number, the cents spent on devices, on subsidies."""
        t = fund_cofinancings.c
        query = select(t.spends, t.spent_devices_cents, t.spent_subsidies_cents).where(
            t.cofinancing_id == str(cofinancing_id(territory_code))
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise CoFinancingNotFound(f"no co-financing in {territory_code}")
        return int(row[0]), int(row[1]), int(row[2])

    def cofinanced_territories(self, limit: int = DEFAULT_PAGE_SIZE, offset: int = 0) -> list[str]:
        """The codes of the territories with a co-financing, in order; one page."""
        check_page(limit, offset)
        t = fund_cofinancings.c
        query = select(t.territory_code).order_by(t.territory_code).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def _scalar(self, query: Select) -> object:
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()


def kind_figures(kind: FunderKind, weight: int, funders: tuple[FunderFigures, ...]) -> KindFigures:
    of_kind = [f for f in funders if f.kind is kind]
    return KindFigures(
        kind,
        weight,
        sum(f.pledged_cents for f in of_kind),
        sum(f.paid_cents for f in of_kind),
        sum(f.spent_cents for f in of_kind),
    )


def late_cents(now: datetime) -> ColumnElement:
    """What is still due on a levy once its due date has passed, at `now`: 0 otherwise."""
    t = fund_levies.c
    overdue = and_(t.due_on < now.date(), t.due_cents > t.paid_cents)
    return case((overdue, t.due_cents - t.paid_cents), else_=literal(0))


def where_levy(query: Select, period: str | None, siren: str | None) -> Select:
    t = fund_levies.c
    if period is not None:
        query = query.where(t.period == check_period(period))
    if siren is not None:
        query = query.where(t.siren == check_siren(siren))
    return query


def aware(moment: datetime) -> datetime:
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise InvalidInput("a moment is a date and time with its time zone", field="now")
    return moment


def check_month(month: str) -> str:
    period = check_period(month)
    if len(period) != len("2027-09") or "S" in period or "T" in period:
        raise InvalidInput("a month is written 2027-09", field="month")
    return period


def check_page(limit: int, offset: int) -> None:
    if not 0 < limit <= MAX_PAGE_SIZE or offset < 0:
        raise InvalidInput(f"a page holds 1 to {MAX_PAGE_SIZE} rows, from an offset of 0 or more")
