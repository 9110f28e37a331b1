"""The event store: the library's recorders on one table, `ledger_events`.

Every bounded context writes to one log, so notification order is one total order an auditor
can replay and hash. On PostgreSQL the library names the table after the application
(`Ledger` → `ledger_events`); on SQLite its default is `stored_events`, so a small subclass
sets the same name. The tables are created by `tirelire migrate`, never by an application:
two processes creating them at once on PostgreSQL fail often.
"""

from __future__ import annotations

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


def select_events_of(recorder: ApplicationRecorder, ids: Sequence[UUID]) -> list[StoredEvent]:
    """The stored events of many aggregates in one query per `MAX_IDS_PER_SELECT` ids.

    The library reads one aggregate per query; a group commit that misses its cache on a
    hundred accounts would pay a hundred round trips. Ordered by aggregate, then version.
    """
    found: list[StoredEvent] = []
    for start in range(0, len(ids), MAX_IDS_PER_SELECT):
        chunk = list(ids[start : start + MAX_IDS_PER_SELECT])
        if isinstance(recorder, SQLiteApplicationRecorder):
            found.extend(_select_sqlite(recorder, chunk))
        elif isinstance(recorder, PostgresApplicationRecorder):
            found.extend(_select_postgres(recorder, chunk))
        else:  # the in-memory store: no round trips to save
            for aggregate_id in chunk:
                found.extend(recorder.select_events(aggregate_id))
    return found


def _select_sqlite(recorder: SQLiteApplicationRecorder, ids: list[UUID]) -> list[StoredEvent]:
    marks = ",".join("?" * len(ids))
    statement = (
        f"SELECT originator_id, originator_version, topic, state FROM {EVENTS_TABLE} "
        f"WHERE originator_id IN ({marks}) ORDER BY originator_id, originator_version"
    )
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(statement, [i.hex for i in ids])
        return [StoredEvent(UUID(r[0]), r[1], r[2], r[3]) for r in cursor.fetchall()]


def _select_postgres(recorder: PostgresApplicationRecorder, ids: list[UUID]) -> list[StoredEvent]:
    statement = (
        f"SELECT originator_id, originator_version, topic, state FROM {EVENTS_TABLE} "
        "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
    )
    with recorder.datastore.get_connection() as conn, conn.cursor() as cursor:
        cursor.execute(statement, (ids,), prepare=True)
        return [
            StoredEvent(r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"]))
            for r in cursor.fetchall()
        ]
