"""The device banks' pipeline: where every donated device stands, and how long each stage takes.

A device moves through stages (`ledger.devices`): pledged, collected, received, diagnosed,
wiped, then refurbished or scrapped, allocated, delivered, and perhaps returned. Each move
is one event, whose timestamp is its command's `now`. A **stay** is a device's time in one
stage: from the event that entered the stage to the event that left it; a device that
comes back to a stage (refurbished again after a return) starts a second stay there.

The projection keeps one row per device (its stage now, its territory and refurbisher,
when it entered its stage, what its work was charged, how often it reached a pupil) and one
row per stay. From them:

- **devices per stage**, per territory and per refurbisher: a count of device rows. A
  device's refurbisher is the one that received it last; none before it is received.
- **lead times** per stage, over the stays that ended: the median and the 90th percentile,
  exact, by nearest rank: the p-th percentile of n stays is the ⌈p·n/100⌉-th shortest, a
  duration that happened, never an interpolation. Each is one indexed query on (stage, lead
  time) with an offset, so no stay is read into memory. Lead times are whole seconds; one
  whose commands' clocks disagree (left "before" entered) counts as 0.
- **stuck devices**: those whose current stage was entered before `now − limit`, with a
  limit per stage. Delivered and recycled devices wait for nobody and are never stuck.
- **yield**: of the devices pledged, those delivered to a pupil at least once, and those
  scrapped (scrapped or recycled now). A device delivered, returned and later scrapped
  counts in both: it did equip a pupil.
- **cost per delivered device**: everything the programme was charged for refurbishments
  and repairs, divided by the devices delivered, against the 60 € per device it pays.
- **a donor's receipt**: what the donor gave and what became of each device (its stage, its
  erasure certificate, how often it reached a pupil). No pupil, school or person is kept:
  the pipeline never stores an allocation.

`fold` is the projection's whole logic, a pure function of events and the rows they start
from: the projection loads a page's devices, folds the page and writes what changed; a test
folds the whole log from nothing and finds the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.utils import get_topic
from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ledger.custody import DeviceCustody
from ledger.device_records import DeviceStage
from ledger.devices import Device
from projections.schema import device_pipeline, device_stage_stays

LOAD_CHUNK = 500  # device ids per `IN (…)` when a page's devices are loaded
SECOND = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """A device in the pipeline now: one row of `device_pipeline`."""

    device_id: str
    territory_id: str
    donor: str
    kind: str
    serial_number: str
    make: str
    model: str
    pledged_at: datetime
    refurbisher: str | None  # the party that received it last; none before it is received
    stage: str
    stage_entered_at: datetime
    stay: int  # the number of its current stay among all its stays, from 1
    certificate_id: str | None
    charged_cents: int
    times_delivered: int


@dataclass(frozen=True, slots=True)
class StageStay:
    """A device's stay in a stage: one row of `device_stage_stays`."""

    device_id: str
    stay: int
    stage: str
    territory_id: str
    refurbisher: str | None
    entered_at: datetime
    left_at: datetime | None = None  # none while the device is in the stage
    lead_time_s: int | None = None


@dataclass
class PipelineFold:
    """The rows a run of events leaves: every device it touched and every stay it opened or
    closed, keyed as in their tables."""

    devices: dict[str, DeviceRow] = field(default_factory=dict)
    stays: dict[tuple[str, int], StageStay] = field(default_factory=dict)


Change = tuple[DeviceStage, dict[str, Any]]  # the stage an event enters, and other columns


def fold(events: Iterable[Any], known: Mapping[str, DeviceRow] | None = None) -> PipelineFold:
    """Fold events, in log order, from the rows of their devices as they stood (`known`; from
    nothing when omitted, for a fold of the whole log). Other events are skipped."""
    rows = dict(known or {})
    result = PipelineFold()
    for event in events:
        if type(event) not in EVENT_TYPES:
            continue  # it moves no device through a stage (a handover awaiting, a lot, …)
        at = event.timestamp.astimezone(UTC)
        if isinstance(event, Device.Pledged):
            row = pledged(event, at)
            result.stays[(row.device_id, row.stay)] = opened(row)
        else:
            before = rows.get(str(event.originator_id))
            assert before is not None, f"device {event.originator_id} was pledged first"
            stage, columns = CHANGES[type(event)](before, event)
            row = replace(before, **columns)
            if stage.value != before.stage:
                row = replace(row, stage=stage.value, stage_entered_at=at, stay=before.stay + 1)
                result.stays[(before.device_id, before.stay)] = closed(before, at)
                result.stays[(row.device_id, row.stay)] = opened(row)
        rows[row.device_id] = result.devices[row.device_id] = row
    return result


def pledged(event: Device.Pledged, at: datetime) -> DeviceRow:
    return DeviceRow(
        device_id=str(event.originator_id),
        territory_id=str(event.territory_id),
        donor=event.donor,
        kind=event.kind.value,
        serial_number=event.serial_number,
        make=event.make,
        model=event.model,
        pledged_at=at,
        refurbisher=None,
        stage=DeviceStage.PLEDGED.value,
        stage_entered_at=at,
        stay=1,
        certificate_id=None,
        charged_cents=0,
        times_delivered=0,
    )


def opened(row: DeviceRow) -> StageStay:
    return StageStay(
        row.device_id, row.stay, row.stage, row.territory_id, row.refurbisher, row.stage_entered_at
    )


def closed(row: DeviceRow, left_at: datetime) -> StageStay:
    # Commands pass their own `now`: clocks that disagree must not give a negative time.
    lead_time_s = max(0, (left_at - row.stage_entered_at) // SECOND)
    return replace(opened(row), left_at=left_at, lead_time_s=lead_time_s)


def confirmed(row: DeviceRow, event: DeviceCustody.HandoverConfirmed) -> Change:
    columns: dict[str, Any] = {}
    if event.stage in (DeviceStage.RECEIVED, DeviceStage.RETURNED):
        columns["refurbisher"] = event.receiver  # a refurbisher took it in
    if event.stage is DeviceStage.DELIVERED:
        columns["times_delivered"] = row.times_delivered + 1
    return event.stage, columns


def worked(stage: DeviceStage) -> Callable[[DeviceRow, Any], Change]:
    def change(row: DeviceRow, event: Any) -> Change:
        return stage, {"refurbisher": event.refurbisher}

    return change


def wiped(row: DeviceRow, event: Device.Wiped) -> Change:
    return DeviceStage.WIPED, {
        "refurbisher": event.refurbisher,
        "certificate_id": event.certificate_id,
    }


def charged(row: DeviceRow, event: Device.Refurbished | Device.Repaired) -> Change:
    # The device's event carries the cost charged to its territory in the same transaction.
    columns = {
        "refurbisher": event.refurbisher,
        "charged_cents": row.charged_cents + event.cost_cents,
    }
    return DeviceStage.REFURBISHED, columns


def allocated(row: DeviceRow, event: DeviceCustody.Allocated) -> Change:
    return DeviceStage.ALLOCATED, {}  # the pupil and the school stay out of the pipeline


CHANGES: dict[type, Callable[[DeviceRow, Any], Change]] = {
    Device.HandoverConfirmed: confirmed,
    Device.Diagnosed: worked(DeviceStage.DIAGNOSED),
    Device.Wiped: wiped,
    Device.Refurbished: charged,
    Device.Repaired: charged,
    Device.Scrapped: worked(DeviceStage.SCRAPPED),
    Device.Allocated: allocated,
}
EVENT_TYPES = (Device.Pledged, *CHANGES)


class DevicePipelineProjection:
    """Folds the device events a page holds into the rows of their devices and stays."""

    name = "device_pipeline"
    tables = (device_pipeline, device_stage_stays)
    topics = tuple(get_topic(event_type) for event_type in EVENT_TYPES)

    def apply(self, conn: Connection, events: Sequence[Any]) -> None:
        ids = sorted({str(event.originator_id) for event in events})
        result = fold(events, load_devices(conn, ids))
        put_rows(conn, device_pipeline, ("device_id",), list(result.devices.values()))
        put_rows(conn, device_stage_stays, ("device_id", "stay"), list(result.stays.values()))


def load_devices(conn: Connection, ids: Sequence[str]) -> dict[str, DeviceRow]:
    """The rows of these devices that exist, a chunk of ids per query."""
    found: dict[str, DeviceRow] = {}
    for start in range(0, len(ids), LOAD_CHUNK):
        chunk = ids[start : start + LOAD_CHUNK]
        query = select(device_pipeline).where(device_pipeline.c.device_id.in_(chunk))
        for row in conn.execute(query).mappings():
            found[row["device_id"]] = device_row(row)
    return found


def put_rows(
    conn: Connection, table: Table, keys: Sequence[str], rows: Sequence[DeviceRow | StageStay]
) -> None:
    """Insert each row, or replace the row with the same keys."""
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


def device_row(row: Mapping[str, Any]) -> DeviceRow:
    moments = {name: utc(row[name]) for name in ("pledged_at", "stage_entered_at")}
    return DeviceRow(**{**row, **moments})


def stay_row(row: Mapping[str, Any]) -> StageStay:
    moments = {name: utc(row[name]) for name in ("entered_at", "left_at")}
    return StageStay(**{**row, **moments})


def utc(moment: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes; only UTC is ever stored."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
