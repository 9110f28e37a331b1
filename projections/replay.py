"""Every read model as of a past point of the log, built by folding the log again.

`replay` reads the log once, in pages, up to a position (inclusive), decodes each event
once and hands every projection the events of its topics, page by page, in one
transaction of the target database per page. The target is a fresh in-memory database by
default (`projections.engine.create_scratch_engine`), so the same views that read the live
read models (`Balances`, `VendorStatements`, `DevicePipeline`, `FundReports`, …) read the
past: the code that answers "now" answers "then".

A replay may also continue one made earlier (`start`): a kept replay at position p is
advanced to q > p by folding only the events between them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from eventsourcing.persistence import Notification
from sqlalchemy import Engine, select

from ledger.vouchers import VoucherLedger
from projections.engine import create_scratch_engine
from projections.registry import ReadModel, all_projections
from projections.schema import projection_positions

PAGE_SIZE = 2000


def replay(
    app: VoucherLedger,
    stop: int,
    engine: Engine | None = None,
    *,
    start: int = 0,
    projections: Sequence[ReadModel] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Engine:
    """Fold the log's events after `start` up to position `stop` (inclusive) into every
    read model of `engine` (a new in-memory database if None); the engine. Each
    projection's position is left at `stop`. `progress` is told how far each page got."""
    assert 0 <= start <= stop
    engine = engine if engine is not None else create_scratch_engine()
    projections = tuple(projections if projections is not None else all_projections())
    topics = {p.name: frozenset(p.topics) for p in projections}
    relevant = frozenset().union(*topics.values())
    applied = dict.fromkeys(topics, 0)
    for page in _pages(app, start, stop):
        decoded = [(n.topic, app.mapper.to_domain_event(n)) for n in page if n.topic in relevant]
        with engine.begin() as conn:
            for projection in projections:
                wanted = topics[projection.name]
                events = [event for topic, event in decoded if topic in wanted]
                if events:
                    projection.apply(conn, events)
                    applied[projection.name] += len(events)
        if progress is not None:
            progress(page[-1].id)
    with engine.begin() as conn:
        _set_positions(conn, applied, stop)
    return engine


def _pages(app: VoucherLedger, start: int, stop: int) -> Iterator[list[Notification]]:
    cursor = start
    while cursor < stop:
        page = app.recorder.select_notifications(cursor, PAGE_SIZE, stop, inclusive_of_start=False)
        if not page:
            return
        yield page
        if len(page) < PAGE_SIZE:
            return
        cursor = page[-1].id


def _set_positions(conn: Any, applied: dict[str, int], position: int) -> None:
    """Every projection at `position`, with the events it applied in this replay added."""
    table = projection_positions
    before = dict(
        conn.execute(
            select(table.c.projection, table.c.events_applied).where(
                table.c.projection.in_(list(applied))
            )
        ).all()
    )
    conn.execute(table.delete().where(table.c.projection.in_(list(applied))))
    conn.execute(
        table.insert(),
        [
            {"projection": name, "position": position, "events_applied": before.get(name, 0) + n}
            for name, n in applied.items()
        ],
    )
