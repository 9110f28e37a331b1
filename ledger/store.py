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
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

EVENTS_TABLE = "ledger_events"
APPLICATION_NAME = "Ledger"  # the PostgreSQL recorder derives `ledger_events` from it


class LedgerSQLiteRecorder(SQLiteApplicationRecorder):
    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = EVENTS_TABLE):
        super().__init__(datastore, events_table_name=events_table_name)


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
