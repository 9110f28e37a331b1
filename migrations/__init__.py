"""Alembic migrations: the only place where tables are created or changed.

Run them with `tirelire migrate`. The event store's table follows the schema that the
eventsourcing library's recorders expect, written out here so that applications never
create tables themselves (two processes doing that at once on PostgreSQL fail often).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect

MIGRATIONS_DIR = Path(__file__).parent


def alembic_config(sqlalchemy_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url.replace("%", "%%"))
    return config


def upgrade(sqlalchemy_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(sqlalchemy_url), revision)
    if sqlalchemy_url.startswith("sqlite"):
        use_write_ahead_log(sqlalchemy_url)


def use_write_ahead_log(sqlalchemy_url: str) -> None:
    """Put a SQLite file in WAL mode once, here. The mode is kept in the file; otherwise the
    first connection of each process switches it, which needs the database to itself and
    fails with "database is locked" while another process is using it."""
    engine = create_engine(sqlalchemy_url)
    try:
        with engine.connect() as conn:
            mode = conn.exec_driver_sql("PRAGMA journal_mode=WAL").scalar()
            assert str(mode).lower() == "wal", f"SQLite refused WAL mode: {mode}"
    finally:
        engine.dispose()


def downgrade(sqlalchemy_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(sqlalchemy_url), revision)


def current_revision(sqlalchemy_url: str) -> str | None:
    engine = create_engine(sqlalchemy_url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    finally:
        engine.dispose()
