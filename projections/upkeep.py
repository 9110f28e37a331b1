"""What the read models share: additive upserts, and rebuilding a projection from zero.

Counters are folded in memory over a page of events and written once per key, as the
balances are: `add_rows` inserts a row or adds its numbers to the row already there.

A projection can always be thrown away and folded again from the log: `reset` deletes its
rows and its position in one transaction, and the next `catch_up` rebuilds it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from projections.schema import projection_positions


class OwnsTables(Protocol):
    name: str
    tables: Sequence[Table]


def add_rows(
    conn: Connection, table: Table, keys: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert each row, or add its non-key columns to the existing row with the same keys."""
    if not rows:
        return
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = insert(table)
    added = [name for name in rows[0] if name not in keys]
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c[k] for k in keys],
            set_={name: table.c[name] + statement.excluded[name] for name in added},
        ),
        list(rows),
    )


def reset(engine: Engine, projection: OwnsTables) -> None:
    """Forget everything the projection wrote, so that it is rebuilt from the first event."""
    with engine.begin() as conn:
        for table in projection.tables:
            conn.execute(table.delete())
        conn.execute(
            projection_positions.delete().where(
                projection_positions.c.projection == projection.name
            )
        )
