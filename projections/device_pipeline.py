"""Queries on the device banks' pipeline (`projections.devices` folds it and explains each
figure): devices per stage, lead times, stuck devices, yield, cost per delivered device,
and a donor's receipt. Every listing is a page, with a limit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from fractions import Fraction
from types import MappingProxyType
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Engine, Select, case, func, or_, select

from ledger.device_records import DeviceKind, DeviceStage, check_choice
from ledger.errors import InvalidInput
from ledger.parties import check_donor, check_party
from ledger.territories import MAX_CHARGE_PER_DEVICE_CENTS
from projections.devices import utc
from projections.schema import device_pipeline, device_stage_stays

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
PERCENTILES = (50, 90)  # a stage's median and 90th percentile lead time
# A device waits for nobody once delivered or recycled: it is never stuck there.
AT_REST = (DeviceStage.DELIVERED, DeviceStage.RECYCLED)
SCRAPPED = (DeviceStage.SCRAPPED, DeviceStage.RECYCLED)
STUCK_AFTER = timedelta(days=30)
# Until it is wiped, a received device holds its donor's data: it should not wait as long.
UNWIPED_STUCK_AFTER = timedelta(days=14)
DEFAULT_STUCK_LIMITS: Mapping[DeviceStage, timedelta] = MappingProxyType(
    {
        stage: UNWIPED_STUCK_AFTER
        if stage in (DeviceStage.RECEIVED, DeviceStage.DIAGNOSED)
        else STUCK_AFTER
        for stage in DeviceStage
        if stage not in AT_REST
    }
)
PIPELINE_ORDER = {stage.value: n for n, stage in enumerate(DeviceStage)}


class DeviceOutcome(Enum):
    """What became of a donated device, as its donor's receipt says."""

    IN_PROGRESS = "in_progress"
    DELIVERED = "delivered"  # with a pupil now
    SCRAPPED = "scrapped"  # awaiting recycling
    RECYCLED = "recycled"


OUTCOMES = {
    DeviceStage.DELIVERED: DeviceOutcome.DELIVERED,
    DeviceStage.SCRAPPED: DeviceOutcome.SCRAPPED,
    DeviceStage.RECYCLED: DeviceOutcome.RECYCLED,
}


@dataclass(frozen=True, slots=True)
class StageCount:
    territory_id: UUID
    refurbisher: str | None
    stage: DeviceStage
    devices: int


@dataclass(frozen=True, slots=True)
class LeadTime:
    """A stage's lead times over the stays that ended in it (nearest rank, exact)."""

    stage: DeviceStage
    stays: int
    median: timedelta
    p90: timedelta


@dataclass(frozen=True, slots=True)
class StuckDevice:
    device_id: UUID
    stage: DeviceStage
    territory_id: UUID
    refurbisher: str | None
    entered_at: datetime
    waited: timedelta  # from entering its stage until the `now` asked about


@dataclass(frozen=True, slots=True)
class DeviceYield:
    pledged: int
    delivered: int  # delivered to a pupil at least once
    scrapped: int  # scrapped or recycled now

    @property
    def delivered_share(self) -> Fraction:
        return Fraction(self.delivered, self.pledged) if self.pledged else Fraction(0)

    @property
    def scrapped_share(self) -> Fraction:
        return Fraction(self.scrapped, self.pledged) if self.pledged else Fraction(0)


@dataclass(frozen=True, slots=True)
class DeliveredCost:
    """What the programme was charged, against the devices it equipped a pupil with."""

    charged_cents: int  # refurbishments and repairs of every device, delivered or not
    delivered: int
    budget_cents: int = MAX_CHARGE_PER_DEVICE_CENTS  # per delivered device

    @property
    def cost_per_delivered_cents(self) -> int | None:
        """Rounded half up; None before any delivery."""
        if not self.delivered:
            return None
        return (2 * self.charged_cents + self.delivered) // (2 * self.delivered)

    @property
    def within_budget(self) -> bool:
        return self.charged_cents <= self.budget_cents * self.delivered


@dataclass(frozen=True, slots=True)
class DonatedDevice:
    device_id: UUID
    kind: DeviceKind
    serial_number: str
    make: str
    model: str
    pledged_at: datetime
    stage: DeviceStage
    certificate_id: str | None  # the erasure certificate of the donor's data, once wiped
    times_delivered: int

    @property
    def outcome(self) -> DeviceOutcome:
        return OUTCOMES.get(self.stage, DeviceOutcome.IN_PROGRESS)


@dataclass(frozen=True, slots=True)
class DonorReceipt:
    """What a donor gave and what became of it: counts over all its devices, and one page of
    them, by serial number. No pupil and no school: the pipeline keeps none."""

    donor: str
    pledged: int
    by_stage: dict[DeviceStage, int]
    delivered: int  # delivered to a pupil at least once
    recycled: int
    devices: tuple[DonatedDevice, ...]


class DevicePipeline:
    """Queries on the device pipeline read model. A territory is its id
    (`ledger.territories.territory_id(code)`), a refurbisher its party
    (`organisation:{SIRET}`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def by_stage(
        self, territory: UUID | None = None, refurbisher: str | None = None
    ) -> dict[DeviceStage, int]:
        """Devices in each stage now, every stage listed, in pipeline order."""
        t = device_pipeline.c
        query = select(t.stage, func.count()).group_by(t.stage)
        return stage_counts(self._all(where_place(query, device_pipeline, territory, refurbisher)))

    def breakdown(
        self, territory: UUID | None = None, limit: int = DEFAULT_PAGE_SIZE, offset: int = 0
    ) -> list[StageCount]:
        """Devices per territory, refurbisher and stage (non-zero only), one page."""
        check_page(limit, offset)
        t = device_pipeline.c
        query = (
            select(t.territory_id, t.refurbisher, t.stage, func.count())
            .group_by(t.territory_id, t.refurbisher, t.stage)
            .order_by(t.territory_id, func.coalesce(t.refurbisher, ""), in_pipeline_order(t.stage))
            .limit(limit)
            .offset(offset)
        )
        rows = self._all(where_place(query, device_pipeline, territory, None))
        return [StageCount(UUID(tid), ref, DeviceStage(s), int(n)) for tid, ref, s, n in rows]

    def lead_times(
        self, territory: UUID | None = None, refurbisher: str | None = None
    ) -> dict[DeviceStage, LeadTime]:
        """Each stage's median and 90th percentile lead time, over the stays that ended
        there (stages with none are left out), in pipeline order."""
        t = device_stage_stays.c
        ended = select(t.stage, func.count()).where(t.lead_time_s.is_not(None)).group_by(t.stage)
        ended = where_place(ended, device_stage_stays, territory, refurbisher)
        found: dict[DeviceStage, LeadTime] = {}
        with self.engine.connect() as conn:
            for value, stays in sorted(conn.execute(ended), key=lambda r: PIPELINE_ORDER[r[0]]):
                stage = DeviceStage(value)
                ranked = [
                    timedelta(seconds=conn.execute(query).scalar_one())
                    for query in nearest_ranks(stage, int(stays), territory, refurbisher)
                ]
                found[stage] = LeadTime(stage, int(stays), *ranked)
        return found

    def stuck_counts(
        self,
        now: datetime,
        limits: Mapping[DeviceStage | str, timedelta] = DEFAULT_STUCK_LIMITS,
        territory: UUID | None = None,
        refurbisher: str | None = None,
    ) -> dict[DeviceStage, int]:
        """Devices stuck in each stage that has a limit (zeros included)."""
        checked = check_limits(limits)
        t = device_pipeline.c
        counts = dict.fromkeys(checked, 0)
        if not checked:
            return counts
        query = select(t.stage, func.count()).where(stuck_condition(now, checked)).group_by(t.stage)
        for value, n in self._all(where_place(query, device_pipeline, territory, refurbisher)):
            counts[DeviceStage(value)] = int(n)
        return counts

    def stuck(
        self,
        now: datetime,
        limits: Mapping[DeviceStage | str, timedelta] = DEFAULT_STUCK_LIMITS,
        territory: UUID | None = None,
        refurbisher: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        offset: int = 0,
    ) -> list[StuckDevice]:
        """Devices whose stage was entered before `now` minus its stage's limit, the
        longest waiting first; one page."""
        check_page(limit, offset)
        checked = check_limits(limits)
        if not checked:
            return []
        t = device_pipeline.c
        query = (
            select(t.device_id, t.stage, t.territory_id, t.refurbisher, t.stage_entered_at)
            .where(stuck_condition(now, checked))
            .order_by(t.stage_entered_at, t.device_id)
            .limit(limit)
            .offset(offset)
        )
        rows = self._all(where_place(query, device_pipeline, territory, refurbisher))
        return [
            StuckDevice(UUID(d), DeviceStage(s), UUID(tid), ref, utc(at), now - utc(at))
            for d, s, tid, ref, at in rows
        ]

    def yield_(self, territory: UUID | None = None) -> DeviceYield:
        """Devices pledged, delivered at least once, and scrapped or recycled."""
        t = device_pipeline.c
        query = select(func.count(), count_if(t.times_delivered > 0), count_if(is_scrapped()))
        pledged, delivered, scrapped = self._all(where_place(query, device_pipeline, territory))[0]
        return DeviceYield(int(pledged), int(delivered or 0), int(scrapped or 0))

    def cost_per_delivered(self, territory: UUID | None = None) -> DeliveredCost:
        """Everything charged for the devices' work, over the devices delivered."""
        t = device_pipeline.c
        query = select(func.coalesce(func.sum(t.charged_cents), 0), count_if(t.times_delivered > 0))
        charged, delivered = self._all(where_place(query, device_pipeline, territory))[0]
        return DeliveredCost(int(charged), int(delivered or 0))

    def donor_receipt(
        self, donor: str, limit: int = DEFAULT_PAGE_SIZE, offset: int = 0
    ) -> DonorReceipt:
        """What the donor gave and what became of it; a donor who gave nothing gets zeros."""
        check_page(limit, offset)
        donor = check_donor(donor)
        t = device_pipeline.c
        mine = t.donor == donor
        counts = select(t.stage, func.count()).where(mine).group_by(t.stage)
        delivered = select(func.count()).where(mine, t.times_delivered > 0)
        page = (
            select(device_pipeline)
            .where(mine)
            .order_by(t.serial_number, t.device_id)
            .limit(limit)
            .offset(offset)
        )
        with self.engine.connect() as conn:
            by_stage = stage_counts(conn.execute(counts).all())
            ever_delivered = int(conn.execute(delivered).scalar_one())
            devices = tuple(donated(row) for row in conn.execute(page))
        return DonorReceipt(
            donor=donor,
            pledged=sum(by_stage.values()),
            by_stage=by_stage,
            delivered=ever_delivered,
            recycled=by_stage[DeviceStage.RECYCLED],
            devices=devices,
        )

    def _all(self, query: Select[Any]) -> list[Any]:
        with self.engine.connect() as conn:
            return conn.execute(query).all()


def where_place(
    query: Select[Any], table: Any, territory: UUID | None, refurbisher: str | None = None
) -> Select[Any]:
    """Narrow a query to a territory and to a refurbisher, when given."""
    if territory is not None:
        if not isinstance(territory, UUID):
            raise InvalidInput("a territory is its id", field="territory")
        query = query.where(table.c.territory_id == str(territory))
    if refurbisher is not None:
        query = query.where(table.c.refurbisher == check_party(refurbisher))
    return query


def nearest_ranks(
    stage: DeviceStage, stays: int, territory: UUID | None, refurbisher: str | None
) -> list[Select[Any]]:
    """For each percentile p, the query of the ⌈p·n/100⌉-th shortest of the n stays that
    ended in the stage: one row read, through the index on (stage, lead time)."""
    t = device_stage_stays.c
    queries = []
    for percentile in PERCENTILES:
        rank = max(1, -(-percentile * stays // 100))
        query = (
            select(t.lead_time_s)
            .where(t.stage == stage.value, t.lead_time_s.is_not(None))
            .order_by(t.lead_time_s)
            .limit(1)
            .offset(rank - 1)
        )
        queries.append(where_place(query, device_stage_stays, territory, refurbisher))
    return queries


def stuck_condition(now: datetime, limits: Mapping[DeviceStage, timedelta]) -> ColumnElement[bool]:
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise InvalidInput("now is an aware date and time", field="now")
    t = device_pipeline.c
    # Times are stored in UTC (SQLite keeps them naive): compare in UTC.
    return or_(
        *(
            (t.stage == stage.value) & (t.stage_entered_at < (now - limit).astimezone(UTC))
            for stage, limit in limits.items()
        )
    )


def check_limits(limits: Mapping[DeviceStage | str, timedelta]) -> dict[DeviceStage, timedelta]:
    """Limits by stage, in pipeline order; each positive, none for a stage at rest."""
    checked = {check_choice(DeviceStage, stage, "stage"): limit for stage, limit in limits.items()}
    for stage, limit in checked.items():
        if stage in AT_REST:
            raise InvalidInput(f"a {stage.value} device is never stuck", field="limits")
        if not isinstance(limit, timedelta) or limit <= timedelta(0):
            raise InvalidInput("a limit is a positive duration", field="limits")
    return {stage: checked[stage] for stage in DeviceStage if stage in checked}


def check_page(limit: int, offset: int) -> None:
    if type(limit) is not int or not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"a page has 1 to {MAX_PAGE_SIZE} rows", field="limit")
    if type(offset) is not int or offset < 0:
        raise InvalidInput("an offset is a whole number from 0", field="offset")


def stage_counts(rows: Any) -> dict[DeviceStage, int]:
    counts = dict.fromkeys(DeviceStage, 0)
    for value, n in rows:
        counts[DeviceStage(value)] = int(n)
    return counts


def count_if(condition: ColumnElement[bool]) -> Any:
    return func.sum(case((condition, 1), else_=0))


def is_scrapped() -> ColumnElement[bool]:
    return device_pipeline.c.stage.in_([stage.value for stage in SCRAPPED])


def in_pipeline_order(stage: Any) -> Any:
    return case(PIPELINE_ORDER, value=stage)


def donated(row: Any) -> DonatedDevice:
    return DonatedDevice(
        device_id=UUID(row.device_id),
        kind=DeviceKind(row.kind),
        serial_number=row.serial_number,
        make=row.make,
        model=row.model,
        pledged_at=utc(row.pledged_at),
        stage=DeviceStage(row.stage),
        certificate_id=row.certificate_id,
        times_delivered=int(row.times_delivered),
    )
