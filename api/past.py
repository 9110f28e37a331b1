"""Read models now or as of the past: one way for every handler that reads them.

A reading operation that takes `?position=` (a log position, inclusive) or `?at=` (a
moment, by event time) answers from every read model as of that point, folded again from
the log (`projections.as_of.PastReadModels`: kept replays and snapshots make it quick).
Without either, it answers from the live read models, caught up with the log first. Either
way the answer says which log position it is as of. The same view classes read both.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from api import schemas as s
from api.common import POSITION, parse_moment
from ledger.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class AsOf:
    """What a request asked for: a position, a moment, or neither (now)."""

    position: int | None = None
    at: datetime | None = None

    @property
    def now(self) -> bool:
        return self.position is None and self.at is None


def as_of(query: dict[str, Any]) -> AsOf:
    if "at" in query and "position" in query:
        raise InvalidInput("ask as of a moment or as of a position, not both", field="/at")
    at = parse_moment(query["at"], "at") if "at" in query else None
    return AsOf(query.get("position"), at)


def as_of_query(what: str) -> dict[str, Any]:
    """The query parameters of a reading that may be as of the past."""
    return {
        "at": {**s.DATETIME, "description": f"{what} as of this moment, by event time."},
        "position": {**POSITION, "description": f"{what} as of this log position (inclusive)."},
    }


AS_OF_TEXT = (
    " With `position` (a log position, inclusive) or `at` (a moment: the log up to the "
    "first event stamped after it), the answer is folded again from the log as of then; "
    "`position` in the answer says where the books stood. A position beyond the end of the "
    "log is refused."
)


@dataclass(frozen=True, slots=True)
class ReadModels:
    """The read models to read, and where the log stood for them."""

    engine: Engine
    position: int
    moment: datetime | None  # the time they are as of; None: now

    def when(self, now: datetime) -> datetime:
        """The time to judge "late" and "stuck" by: then, or the request's time."""
        return now if self.moment is None else self.moment


@contextmanager
def read_models(services: Any, point: AsOf, *names: str) -> Iterator[ReadModels]:
    """The live read models `names`, caught up, or every read model as of `point`
    (blocking: call through `services.run`; read them within the block)."""
    if point.now:
        services.catch_up(*names)
        position = max(services.runners[name].position() for name in names)
        yield ReadModels(services.engine, position, None)
        return
    position, moment = services.past.resolve(point.position, point.at)
    with services.past.read(position) as engine:
        yield ReadModels(engine, position, moment)
