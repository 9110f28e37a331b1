"""The read-model database engine, built from the same settings as the event store."""

from __future__ import annotations

import sqlite3

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import StaticPool

from ledger.settings import Settings
from projections.schema import metadata

SQLITE_BUSY_TIMEOUT_S = 30


def create_read_engine(settings: Settings) -> Engine:
    store = settings.store
    if store.kind == "sqlite":
        engine = create_engine(
            store.sqlalchemy_url(), connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _begin_immediate)
        return engine
    return create_engine(store.sqlalchemy_url(), pool_size=4, max_overflow=4, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # Let SQLAlchemy, not the driver, start transactions, so that they start IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def _begin_immediate(conn) -> None:  # type: ignore[no-untyped-def]
    """Take SQLite's write lock at BEGIN: a transaction that reads and then writes would
    otherwise fail at once when the event store committed in between (a stale snapshot)."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_scratch_engine() -> Engine:
    """An empty read-model database in memory, with every read-model table: where a replay
    as of a past point builds the read models (`projections.replay`). One connection, kept
    for the engine's life (the database lives as long as it), usable from any thread but
    by one at a time."""
    engine = create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    event.listen(engine, "connect", _sqlite_memory_pragmas)
    event.listen(engine, "begin", _begin)
    metadata.create_all(engine)
    return engine


def scratch_image(engine: Engine) -> bytes:
    """The whole database of a scratch engine as bytes (`sqlite3.Connection.serialize`)."""
    raw = engine.raw_connection()
    try:
        return raw.driver_connection.serialize()
    finally:
        raw.close()


def scratch_engine_from(image: bytes) -> Engine:
    """A scratch engine holding a copy of the database in `image`: writing to it leaves
    `image` as it was."""
    connection = sqlite3.connect(":memory:", check_same_thread=False)
    connection.deserialize(image)
    engine = create_engine("sqlite://", poolclass=StaticPool, creator=lambda: connection)
    event.listen(engine, "connect", _sqlite_memory_pragmas)
    event.listen(engine, "begin", _begin)
    return engine


def _sqlite_memory_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    dbapi_connection.isolation_level = None


def _begin(conn) -> None:  # type: ignore[no-untyped-def]
    conn.exec_driver_sql("BEGIN")
