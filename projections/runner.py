"""Running a projection: follow the log, apply pages, track the position atomically.

The runner reads a page of notifications after its recorded position, decodes them, lets
the projection write its rows, and moves the position, all in one transaction of the
read-model database. The position row is locked for the transaction (`SELECT … FOR UPDATE`
on PostgreSQL; SQLite has one writer at a time anyway), so two runners of the same
projection, in two processes, never apply a page twice.

Notification ids are increasing but not contiguous (PostgreSQL leaves gaps after rolled-back
transactions): the runner only ever asks for ids greater than its position.

Following new events is polling: the library's subscriptions are not implemented for SQLite,
and one query per interval is cheap on both stores.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.exc import IntegrityError

from ledger.vouchers import VoucherLedger
from projections.schema import projection_positions

PAGE_SIZE = 2000
MAX_PAGE_SIZE = 10_000


class Projection(Protocol):
    name: str
    topics: Sequence[str]

    def apply(self, conn: Connection, events: Sequence[Any]) -> None:
        """Write the effect of these events, in order, within the open transaction."""


class ProjectionRunner:
    def __init__(
        self, app: VoucherLedger, engine: Engine, projection: Projection, page_size: int = PAGE_SIZE
    ) -> None:
        assert 0 < page_size <= MAX_PAGE_SIZE
        self.app = app
        self.engine = engine
        self.projection = projection
        self.page_size = page_size

    def position(self) -> int:
        with self.engine.connect() as conn:
            return self._read_position(conn, lock=False)[0]

    def run_once(self, stop: int | None = None) -> int:
        """Apply one page of new events, up to log position `stop` (inclusive) if given;
        the number applied (0 when caught up)."""
        with self.engine.begin() as conn:
            position, applied = self._read_position(conn, lock=True)
            page = self.app.recorder.select_notifications(
                start=position,
                limit=self.page_size,
                stop=stop,
                topics=self.projection.topics,
                inclusive_of_start=False,
            )
            if not page:
                return 0
            events = [self.app.mapper.to_domain_event(n) for n in page]
            self.projection.apply(conn, events)
            conn.execute(
                update(projection_positions)
                .where(projection_positions.c.projection == self.projection.name)
                .values(position=page[-1].id, events_applied=applied + len(page))
            )
            return len(page)

    def catch_up(
        self, progress: Callable[[int], None] | None = None, stop: int | None = None
    ) -> int:
        """Apply pages until no new event is left (up to position `stop` if given); the
        total applied."""
        total = 0
        while count := self.run_once(stop):
            total += count
            if progress:
                progress(count)
        return total

    def follow(self, stop: threading.Event, interval_s: float) -> None:
        """Keep applying new events until `stop` is set; polls when caught up."""
        while not stop.is_set():
            if not self.run_once():
                stop.wait(interval_s)

    def _read_position(self, conn: Connection, lock: bool) -> tuple[int, int]:
        table = projection_positions
        query = select(table.c.position, table.c.events_applied).where(
            table.c.projection == self.projection.name
        )
        if lock and conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            self._create_position(conn)
            return self._read_position(conn, lock)
        return row[0], row[1]

    def _create_position(self, conn: Connection) -> None:
        try:
            with conn.begin_nested():
                conn.execute(
                    projection_positions.insert().values(
                        projection=self.projection.name, position=0, events_applied=0
                    )
                )
        except IntegrityError:
            pass  # another runner created it first: fine, it starts from 0 as well
