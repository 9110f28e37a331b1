"""The event store: the library's recorders on one table, `ledger_events`.

Every bounded context writes to one log, so notification order is one total order an auditor
can replay and hash. On PostgreSQL the library names the table after the application
(`Ledger` → `ledger_events`); on SQLite its default is `stored_events`, so a small subclass
sets the same name. The tables are created by `tirelire migrate`, never by an application:
two processes creating them at once on PostgreSQL fail often.
"""

from __future__ import annotations

from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

EVENTS_TABLE = "ledger_events"
APPLICATION_NAME = "Ledger"  # the PostgreSQL recorder derives `ledger_events` from it


class LedgerSQLiteRecorder(SQLiteApplicationRecorder):
    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = EVENTS_TABLE):
        super().__init__(datastore, events_table_name=events_table_name)
