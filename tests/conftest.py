"""Shared fixtures: stores to run the same suite on, and hypothesis profiles.

- `memory_settings`: the library's in-memory store, for application tests (no I/O).
- `store_url` (parametrised): a migrated SQLite file and a migrated PostgreSQL database.
  PostgreSQL is skipped when unreachable, except with CI=true, where that is a failure.

Each PostgreSQL test gets a database of its own, cloned from a migrated template, so tests
never see each other's events and notification ids start from 1.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, settings

import migrations
from ledger.settings import Settings

settings.register_profile(
    "ci", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "dev", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "soak", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

PG_ADMIN_URL = os.environ.get(
    "TIRELIRE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TEMPLATE_DB = f"tirelire_template_{os.getpid()}"


def _pg_admin() -> psycopg.Connection:
    return psycopg.connect(
        PG_ADMIN_URL.replace("postgresql://", "postgresql://", 1),
        autocommit=True,
        connect_timeout=3,
    )


def _pg_url(dbname: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{dbname}"


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated template database, or a skip (a failure under CI) without PostgreSQL."""
    try:
        admin = _pg_admin()
    except psycopg.OperationalError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is unreachable in CI: {error}")
        pytest.skip(f"PostgreSQL is unreachable: {error}")
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}"')
        admin.execute(f'CREATE DATABASE "{TEMPLATE_DB}"')
    migrations.upgrade(Settings(database_url=_pg_url(TEMPLATE_DB)).store.sqlalchemy_url())
    yield TEMPLATE_DB
    with _pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    name = f"tirelire_test_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    yield _pg_url(name)
    with _pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'tirelire.db'}"
    migrations.upgrade(Settings(database_url=url).store.sqlalchemy_url())
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    """The same test, once on each store."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return request.getfixturevalue(name)


@pytest.fixture
def store_settings(store_url: str) -> Settings:
    return Settings(database_url=store_url, grant_chunk_size=50)


@pytest.fixture
def memory_settings() -> Settings:
    return Settings(database_url="memory://", grant_chunk_size=50)
