"""`tirelire rebuild [--into URL] [--quiet]`: fold every read model again from the first
event into an empty database, and compare it with the live one, table by table.

The read models are derived from the log alone, so folding the log again must give them
row for row. The command catches the live read models up with the log's head, replays
every projection (`projections.registry`) from zero up to the same position into an empty
database — in memory by default; with `--into`, a new SQLite file or an empty PostgreSQL
database, migrated first and kept for inspection — and compares every table of every
projection, rows ordered by primary key. It prints, per table, the rows missing from the
live read models, the extra ones, and the changed ones (a few of each), then the total;
it exits 0 when there are none, 1 otherwise.

A server may keep recording events meanwhile, and its projector may move the live read
models past the head read at the start. The comparison then happens at a position both
reached: every live projection has applied all its events up to it and none after, read
in one transaction of the live database; when that does not hold, it catches up again.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, inspect, select, text
from tqdm import tqdm

import migrations
from api.bootstrap import check_schema
from ledger.errors import InvalidInput
from ledger.settings import Settings
from ledger.vouchers import VoucherLedger
from projections.engine import create_read_engine, create_scratch_engine
from projections.registry import ReadModel, all_projections
from projections.replay import replay
from projections.runner import ProjectionRunner
from projections.schema import projection_positions

EXIT_DIFFERENT = 1
EXAMPLES_SHOWN = 3  # rows shown per kind of difference and table
MAX_ATTEMPTS = 10  # times the live read models are caught up again before giving up


def add_rebuild_command(commands: argparse._SubParsersAction) -> None:
    rebuild = commands.add_parser(
        "rebuild", help="fold every read model again from zero and compare with the live ones"
    )
    rebuild.add_argument(
        "--into", metavar="URL", help="an empty database to rebuild into (default: in memory)"
    )
    rebuild.add_argument("--quiet", action="store_true", help="no progress bar")
    rebuild.set_defaults(handler=cmd_rebuild)


@dataclass
class TableDifferences:
    table: str
    live_rows: int
    rebuilt_rows: int
    missing: list[Any] = field(default_factory=list)  # rebuilt, not live
    extra: list[Any] = field(default_factory=list)  # live, not rebuilt
    changed: list[tuple[Any, Any]] = field(default_factory=list)  # (live, rebuilt)

    @property
    def count(self) -> int:
        return len(self.missing) + len(self.extra) + len(self.changed)


def cmd_rebuild(settings: Settings, args: argparse.Namespace) -> int:
    check_schema(settings)
    app, live = VoucherLedger(settings), create_read_engine(settings)
    target = open_target(args.into)
    try:
        position, found = rebuild_and_compare(app, live, target, progress=not args.quiet)
        print_differences(position, found, sys.stdout)
        return 0 if sum(t.count for t in found) == 0 else EXIT_DIFFERENT
    finally:
        app.close()
        live.dispose()
        target.dispose()


def open_target(url: str | None) -> Engine:
    """An empty read-model database: in memory, or the one `url` names, migrated."""
    if url is None:
        return create_scratch_engine()
    settings = Settings(database_url=url)
    sqlalchemy_url = settings.store.sqlalchemy_url()
    refuse_if_not_empty(sqlalchemy_url)
    migrations.upgrade(sqlalchemy_url)
    return create_read_engine(settings)


def refuse_if_not_empty(sqlalchemy_url: str) -> None:
    engine = create_engine(sqlalchemy_url)
    try:
        with engine.connect() as conn:
            tables = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
            for name in tables:
                if conn.execute(text(f'SELECT 1 FROM "{name}" LIMIT 1')).first() is not None:
                    raise InvalidInput(f"the target database is not empty: table {name} has rows")
    finally:
        engine.dispose()


def rebuild_and_compare(
    app: VoucherLedger, live: Engine, target: Engine, progress: bool = False
) -> tuple[int, list[TableDifferences]]:
    """Catch the live read models up, fold every projection into `target` and compare:
    the position compared at, and each table's differences."""
    projections = all_projections()
    runners = {p.name: ProjectionRunner(app, live, p) for p in projections}
    head = app.recorder.max_notification_id() or 0
    for runner in runners.values():
        runner.catch_up(stop=head)
    folded = 0
    for _ in range(MAX_ATTEMPTS):
        stop = max([head, *live_positions(live, runners).values()])
        for name in lagging(app, projections, live_positions(live, runners), stop):
            runners[name].catch_up(stop=stop)
        with tqdm(
            total=stop, initial=folded, unit="id", file=sys.stderr, disable=not progress
        ) as bar:
            replay(app, stop, target, start=folded, progress=lambda p: bar.update(p - bar.n))
            bar.update(stop - bar.n)
        folded = stop
        with snapshot(live) as conn, conn.begin():
            positions = read_positions(conn, runners)
            if max(positions.values(), default=0) <= stop and not lagging(
                app, projections, positions, stop
            ):
                return stop, compare(conn, target, projections)
        head = stop
    raise InvalidInput("the live read models kept moving: try again when the log is quieter")


def snapshot(live: Engine) -> Connection:
    """A connection whose transaction reads one state of the live read models throughout
    (SQLite: its transactions take the write lock at BEGIN)."""
    if live.dialect.name == "postgresql":
        return live.connect().execution_options(isolation_level="REPEATABLE READ")
    return live.connect()


def live_positions(live: Engine, names: Any) -> dict[str, int]:
    with live.connect() as conn:
        return read_positions(conn, names)


def read_positions(conn: Connection, names: Any) -> dict[str, int]:
    """The positions of the projections `names` (others, such as checkpoints, ignored)."""
    t = projection_positions.c
    query = select(t.projection, t.position).where(t.projection.in_(list(names)))
    return {name: position for name, position in conn.execute(query)}


def lagging(
    app: VoucherLedger, projections: Sequence[ReadModel], positions: dict[str, int], stop: int
) -> list[str]:
    """The projections with an event of theirs after their position, up to `stop`."""
    return [
        p.name
        for p in projections
        if app.recorder.select_notifications(
            positions.get(p.name, 0), 1, stop, p.topics, inclusive_of_start=False
        )
    ]


def compare(
    live: Connection, target: Engine, projections: Sequence[ReadModel]
) -> list[TableDifferences]:
    with target.connect() as rebuilt:
        return [
            compare_table(table, live, rebuilt)
            for projection in projections
            for table in projection.tables
        ]


def compare_table(table: Table, live: Connection, rebuilt: Connection) -> TableDifferences:
    keys = list(table.primary_key.columns)
    assert keys, f"{table.name} has no primary key"
    mine, theirs = rows_by_key(live, table, keys), rows_by_key(rebuilt, table, keys)
    found = TableDifferences(table.name, len(mine), len(theirs))
    found.missing = [row for key, row in theirs.items() if key not in mine]
    found.extra = [row for key, row in mine.items() if key not in theirs]
    found.changed = [
        (row, theirs[key]) for key, row in mine.items() if key in theirs and theirs[key] != row
    ]
    return found


def rows_by_key(conn: Connection, table: Table, keys: list[Any]) -> dict[tuple, dict[str, Any]]:
    rows = conn.execute(select(table).order_by(*keys)).mappings()
    found = {}
    for row in rows:
        values = {name: comparable(value) for name, value in row.items()}
        found[tuple(values[k.name] for k in keys)] = values
    return found


def comparable(value: Any) -> Any:
    """A value as both stores give it back: SQLite forgets a moment's offset."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def print_differences(position: int, found: list[TableDifferences], out: Any) -> None:
    print(f"Read models rebuilt from the log up to position {position}:", file=out)
    for table in found:
        rows = f"{table.live_rows} live, {table.rebuilt_rows} rebuilt"
        if not table.count:
            print(f"  {table.table}: same ({rows})", file=out)
            continue
        print(
            f"  {table.table}: {len(table.missing)} missing, {len(table.extra)} extra, "
            f"{len(table.changed)} changed ({rows})",
            file=out,
        )
        for row in table.missing[:EXAMPLES_SHOWN]:
            print(f"    missing  {row}", file=out)
        for row in table.extra[:EXAMPLES_SHOWN]:
            print(f"    extra    {row}", file=out)
        for mine, theirs in table.changed[:EXAMPLES_SHOWN]:
            changed = {k: (v, theirs[k]) for k, v in mine.items() if theirs[k] != v}
            print(f"    changed  {changed} (live, rebuilt)", file=out)
    total = sum(t.count for t in found)
    print(f"{total} difference{'' if total == 1 else 's'}.", file=out)
