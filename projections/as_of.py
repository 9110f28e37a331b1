"""Every read model as of a past moment or log position, and quick to ask again.

A **position** is a notification id: as of position p, the books hold every event up to p
(inclusive). A **moment** selects by event time: as of a moment, the log stands at the
position just before the first event stamped after it (the rule of `api.audit_api`).
Events carry their command's time and the log is in commit order, so stamps are nearly
but not always in order. `Timeline` keeps, for every full page of the log, the latest
stamp up to the page's end: that series never decreases, so a binary search finds the one
page to read, instead of decoding the log from its start for every question.

`PastReadModels` answers "every read model as of position p" with an in-memory database
that `projections.replay` folds. Folding the whole log for each question would cost the
whole log each time; it keeps instead
- the last few databases asked for, whole (`max_replays`, least recently used out first);
- snapshots: the bytes of a replay's database (`sqlite3.Connection.serialize`), taken at
  every multiple of `snapshot_every` positions that a replay passes, within
  `max_snapshot_bytes` in all (least recently used out first).
A question for p starts from the nearest of them at or before p — from a copy, never the
kept one — and folds only the events in between (`last_fold` says how many).
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, func, select

from ledger.errors import InvalidInput
from ledger.vouchers import VoucherLedger
from projections.engine import create_scratch_engine, scratch_engine_from, scratch_image
from projections.replay import replay
from projections.schema import projection_positions

TIMELINE_PAGE_SIZE = 1000  # events per page of the timeline: at most one page is decoded
SNAPSHOT_EVERY = 10_000  # positions between two snapshots
MAX_SNAPSHOT_BYTES = 256 * 1024 * 1024
MAX_REPLAYS_KEPT = 4


class Timeline:
    """Where moments fall in the log (thread-safe; grows as the log does)."""

    def __init__(self, app: VoucherLedger, page_size: int = TIMELINE_PAGE_SIZE) -> None:
        assert page_size > 0
        self.app, self.page_size = app, page_size
        self._ends: list[int] = []  # the last position of each full page
        self._latest: list[datetime] = []  # the latest stamp up to that position
        self._lock = threading.Lock()

    def position_at(self, moment: datetime, head: int) -> int:
        """The position just before the first event stamped after `moment`, at most `head`."""
        ends, latest = self._marks(head)
        page = bisect_right(latest, moment)  # the first page with a stamp after `moment`
        start = ends[page - 1] if page else 0
        stop = ends[page] if page < len(ends) else head
        previous = start
        for notification in self._notifications(start, stop):
            if self.app.mapper.to_domain_event(notification).timestamp > moment:
                return previous
            previous = notification.id
        return stop

    def moment_of(self, position: int) -> datetime | None:
        """The latest stamp of the events up to `position`; None before the first event."""
        ends, latest = self._marks(position)
        page = bisect_left(ends, position)
        found = latest[page - 1] if page else None
        start = ends[page - 1] if page else 0
        for notification in self._notifications(start, position):
            stamp = self.app.mapper.to_domain_event(notification).timestamp
            found = stamp if found is None else max(found, stamp)
        return found

    def _marks(self, head: int) -> tuple[list[int], list[datetime]]:
        """The marks of the full pages up to `head` (a copy, safe to read unlocked)."""
        with self._lock:
            cursor = self._ends[-1] if self._ends else 0
            while cursor < head:
                page = self.app.recorder.select_notifications(
                    cursor, self.page_size, head, inclusive_of_start=False
                )
                if len(page) < self.page_size:
                    break
                stamps = [self.app.mapper.to_domain_event(n).timestamp for n in page]
                self._latest.append(max(stamps + self._latest[-1:]))
                self._ends.append(cursor := page[-1].id)
            count = bisect_right(self._ends, head)
            return self._ends[:count], self._latest[:count]

    def _notifications(self, start: int, stop: int) -> Iterator[object]:
        cursor = start
        while cursor < stop:
            page = self.app.recorder.select_notifications(
                cursor, self.page_size, stop, inclusive_of_start=False
            )
            yield from page
            if len(page) < self.page_size:
                return
            cursor = page[-1].id


@dataclass(frozen=True, slots=True)
class Fold:
    """How a past database was made: from which kept position, up to which, and how many
    events its projections applied on the way (an event counts once per projection)."""

    start: int
    stop: int
    events_applied: int


@dataclass
class _Kept:
    engine: Engine
    lock: threading.Lock = field(default_factory=threading.Lock)


class PastReadModels:
    """Every read model as of any position, from kept replays and snapshots (thread-safe)."""

    def __init__(
        self,
        app: VoucherLedger,
        *,
        snapshot_every: int = SNAPSHOT_EVERY,
        max_snapshot_bytes: int = MAX_SNAPSHOT_BYTES,
        max_replays: int = MAX_REPLAYS_KEPT,
    ) -> None:
        assert snapshot_every > 0 and max_snapshot_bytes >= 0 and max_replays > 0
        self.app, self.timeline = app, Timeline(app)
        self.snapshot_every, self.max_snapshot_bytes = snapshot_every, max_snapshot_bytes
        self.max_replays = max_replays
        self.last_fold: Fold | None = None
        self._replays: OrderedDict[int, _Kept] = OrderedDict()
        self._snapshots: OrderedDict[int, bytes] = OrderedDict()
        self._lock = threading.Lock()  # guards the two dictionaries
        self._folding = threading.Lock()  # one fold at a time: they compete for the CPU

    def head(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def resolve(
        self, position: int | None = None, at: datetime | None = None
    ) -> tuple[int, datetime | None]:
        """The position asked for, or that of a moment, and the moment the books then stood
        at (`at`, or the latest stamp up to the position). A position beyond the end of the
        log is refused: the books have not got there yet."""
        assert position is None or at is None
        head = self.head()
        if at is not None:
            return self.timeline.position_at(at, head), at
        assert position is not None
        if position > head:
            raise InvalidInput(
                f"position {position} is beyond the end of the log ({head})", field="/position"
            )
        return position, self.timeline.moment_of(position)

    @contextmanager
    def read(self, position: int) -> Iterator[Engine]:
        """An engine on every read model as of `position`, for this thread alone until the
        block ends; read it, never write to it."""
        kept = self._kept(position)
        with kept.lock:
            yield kept.engine

    def snapshot_positions(self) -> list[int]:
        with self._lock:
            return sorted(self._snapshots)

    def snapshot_bytes(self) -> int:
        with self._lock:
            return sum(map(len, self._snapshots.values()))

    def _kept(self, position: int) -> _Kept:
        with self._lock:
            if (kept := self._replays.get(position)) is not None:
                self._replays.move_to_end(position)
                return kept
        with self._folding:
            with self._lock:
                kept = self._replays.get(position)
            if kept is None:
                kept = _Kept(self._fold(position))
                with self._lock:
                    self._replays[position] = kept
                    while len(self._replays) > self.max_replays:
                        self._replays.popitem(last=False)
            return kept

    def _fold(self, stop: int) -> Engine:
        start, image = self._nearest(stop)
        engine = create_scratch_engine() if image is None else scratch_engine_from(image)
        before, cursor = events_applied(engine), start
        first = (start // self.snapshot_every + 1) * self.snapshot_every
        for boundary in range(first, stop + 1, self.snapshot_every):
            replay(self.app, boundary, engine, start=cursor)
            self._keep_snapshot(boundary, scratch_image(engine))
            cursor = boundary
        replay(self.app, stop, engine, start=cursor)
        self.last_fold = Fold(start, stop, events_applied(engine) - before)
        return engine

    def _nearest(self, stop: int) -> tuple[int, bytes | None]:
        """The kept replay or snapshot nearest before `stop`: its position and bytes."""
        with self._lock:
            snapshot = max((p for p in self._snapshots if p <= stop), default=0)
            replayed = max((p for p in self._replays if p <= stop), default=0)
            if snapshot >= replayed:
                if snapshot == 0:
                    return 0, None
                self._snapshots.move_to_end(snapshot)
                return snapshot, self._snapshots[snapshot]
            kept = self._replays[replayed]
        with kept.lock:
            return replayed, scratch_image(kept.engine)

    def _keep_snapshot(self, position: int, image: bytes) -> None:
        if len(image) > self.max_snapshot_bytes:
            return
        with self._lock:
            self._snapshots[position] = image
            total = sum(map(len, self._snapshots.values()))
            while total > self.max_snapshot_bytes:
                total -= len(self._snapshots.popitem(last=False)[1])


def events_applied(engine: Engine) -> int:
    """The events every projection of `engine` applied, summed."""
    with engine.connect() as conn:
        total = conn.execute(select(func.sum(projection_positions.c.events_applied))).scalar()
    return int(total or 0)
