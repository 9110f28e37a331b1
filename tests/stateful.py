"""Running a hypothesis state machine on a fresh, migrated store per example."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from hypothesis import settings

import migrations
from ledger.settings import Settings
from tests.conftest import _pg_admin, _pg_url


def run_machine(
    base: type, store_factory: Callable[[], str], steps: int, share: float = 1.0
) -> None:
    """Run `base` (a RuleBasedStateMachine with a `store_factory`) under the loaded profile,
    with `share` of its examples (a machine whose examples cost more runs fewer)."""
    machine = type("Machine", (base,), {"store_factory": staticmethod(store_factory)})
    examples = max(1, round(settings.default.max_examples * share))
    suppressed = [*settings.default.suppress_health_check, *getattr(base, "suppressed", ())]
    machine.TestCase.settings = settings(
        settings.default,
        stateful_step_count=steps,
        max_examples=examples,
        suppress_health_check=suppressed,
    )
    machine.TestCase().runTest()


def run_on_sqlite(base: type, tmp_path_factory, steps: int, share: float = 1.0) -> None:  # type: ignore[no-untyped-def]
    def fresh() -> str:
        url = f"sqlite:///{tmp_path_factory.mktemp('machine') / 'books.db'}"
        migrations.upgrade(Settings(database_url=url).store.sqlalchemy_url())
        return url

    run_machine(base, fresh, steps, share)


def run_on_postgresql(base: type, pg_template: str, steps: int, share: float = 1.0) -> None:
    """A database cloned from the migrated template per example, all dropped at the end."""
    created: list[str] = []

    def fresh() -> str:
        name = f"tirelire_machine_{uuid.uuid4().hex[:10]}"
        with _pg_admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
        created.append(name)
        return _pg_url(name)

    try:
        run_machine(base, fresh, steps, share)
    finally:
        with _pg_admin() as admin:
            for name in created:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
