"""The event store: the library's recorders on one table, `ledger_events`.

Every bounded context writes to one log, so notification order is one total order an auditor
can replay and hash. On PostgreSQL the library names the table after the application
(`Ledger` → `ledger_events`); on SQLite its default is `stored_events`, so a small subclass
sets the same name. The tables are created by `tirelire migrate`, never by an application:
two processes creating them at once on PostgreSQL fail often.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

EVENTS_TABLE = "ledger_events"
APPLICATION_NAME = "Ledger"  # the PostgreSQL recorder derives `ledger_events` from it


class LedgerSQLiteRecorder(SQLiteApplicationRecorder):
    """The library's SQLite recorder on `ledger_events`, inserting a batch in one call.

    The library inserts row by row to read each row id; in one write transaction the row
    ids of a batch are consecutive (the table has a single writer at a time and new row ids
    are the largest plus one), so one `executemany` and `last_insert_rowid()` give them all.
    """

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = EVENTS_TABLE):
        super().__init__(datastore, events_table_name=events_table_name)

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **_: Any
    ) -> Sequence[int] | None:
        rows = [
            (s.originator_id.hex, s.originator_version, s.topic, s.state) for s in stored_events
        ]
        if not rows:
            return []
        c.executemany(self.insert_events_statement, rows)
        c.execute("SELECT last_insert_rowid()")
        last = c.fetchone()[0]
        return list(range(last - len(rows) + 1, last + 1))


class LedgerPostgresRecorder(PostgresApplicationRecorder):
    """The library's PostgreSQL recorder, sending a batch as four binary arrays.

    Same table lock (notification ids in commit order) and NOTIFY as the library; only the
    encoding differs. The library sends an array of composite rows in text format, which
    costs a quarter of a bulk grant in escaping on our side and parsing on the server's.
    """

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = EVENTS_TABLE):
        super().__init__(datastore, events_table_name=events_table_name)
        self.binary_insert_statement = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::uuid[], %b::int8[], %b::text[], %b::bytea[]) "
            "RETURNING notification_id"
        ).format(schema=Identifier(datastore.schema), table=Identifier(events_table_name))

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **_: Any
    ) -> None:
        self._lock_table(curs)
        self._notify_channel(curs)
        columns = (
            [s.originator_id for s in stored_events],
            [s.originator_version for s in stored_events],
            [s.topic for s in stored_events],
            [s.state for s in stored_events],
        )
        curs.execute(self.binary_insert_statement, columns, binary=True)


MAX_IDS_PER_SELECT = 500
RETRY_BASE_DELAY_S = 0.002


def backoff(attempt: int) -> None:
    """Jittered exponential wait after a version conflict, so contending writers spread out."""
    time.sleep(RETRY_BASE_DELAY_S * (2 ** min(attempt, 6)) * random.random())


def select_events_of(recorder: ApplicationRecorder, ids: Sequence[UUID]) -> list[StoredEvent]:
    """The stored events of many aggregates in one query per `MAX_IDS_PER_SELECT` ids.

    The library reads one aggregate per query; a group commit that misses its cache on a
    hundred accounts would pay a hundred round trips. Ordered by aggregate, then version.
    """
    found: list[StoredEvent] = []
    columns = "originator_id, originator_version, topic, state"
    for chunk in _chunks(ids):
        if isinstance(recorder, SQLiteApplicationRecorder | PostgresApplicationRecorder):
            rows = _query(recorder, columns, chunk, "ORDER BY originator_id, originator_version")
            found.extend(StoredEvent(_uuid(r[0]), r[1], r[2], bytes(r[3])) for r in rows)
        else:  # the in-memory store: no round trips to save
            for aggregate_id in chunk:
                found.extend(recorder.select_events(aggregate_id))
    return found


def latest_versions(recorder: ApplicationRecorder, ids: Sequence[UUID]) -> dict[UUID, int]:
    """The current version of each aggregate that exists, in one query per chunk of ids."""
    versions: dict[UUID, int] = {}
    for chunk in _chunks(ids):
        if isinstance(recorder, SQLiteApplicationRecorder | PostgresApplicationRecorder):
            rows = _query(
                recorder, "originator_id, MAX(originator_version)", chunk, "GROUP BY originator_id"
            )
            versions.update((_uuid(r[0]), r[1]) for r in rows)
        else:
            for aggregate_id in chunk:
                last = recorder.select_events(aggregate_id, desc=True, limit=1)
                if last:
                    versions[aggregate_id] = last[0].originator_version
    return versions


def version_at(recorder: ApplicationRecorder, aggregate_id: UUID, position: int) -> int | None:
    """The aggregate's version once the log stood at `position` (its last event at or
    before it), or None when it had no event yet."""
    assert position >= 0
    if isinstance(recorder, SQLiteApplicationRecorder | PostgresApplicationRecorder):
        column = "rowid" if isinstance(recorder, SQLiteApplicationRecorder) else "notification_id"
        tail = f"AND {column} <= {int(position)}"
        rows = _query(recorder, "MAX(originator_version)", [aggregate_id], tail)
        return rows[0][0] if rows else None
    found = None  # the in-memory store: scan its notifications
    cursor = 0
    while page := recorder.select_notifications(cursor, 1000, position, inclusive_of_start=False):
        found = max(
            (n.originator_version for n in page if n.originator_id == aggregate_id), default=found
        )
        cursor = page[-1].id
    return found


def _chunks(ids: Sequence[UUID]) -> list[list[UUID]]:
    unique = list(dict.fromkeys(ids))
    return [unique[i : i + MAX_IDS_PER_SELECT] for i in range(0, len(unique), MAX_IDS_PER_SELECT)]


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


def _query(recorder: ApplicationRecorder, columns: str, ids: list[UUID], tail: str) -> list:
    if isinstance(recorder, SQLiteApplicationRecorder):
        marks = ",".join("?" * len(ids))
        statement = f"SELECT {columns} FROM {EVENTS_TABLE} WHERE originator_id IN ({marks}) {tail}"
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(statement, [i.hex for i in ids])
            return [tuple(row) for row in cursor.fetchall()]
    assert isinstance(recorder, PostgresApplicationRecorder)
    statement = f"SELECT {columns} FROM {EVENTS_TABLE} WHERE originator_id = ANY(%s) {tail}"
    with recorder.datastore.get_connection() as conn, conn.cursor() as cursor:
        cursor.execute(statement, (ids,), prepare=True)
        return [tuple(row.values()) for row in cursor.fetchall()]
