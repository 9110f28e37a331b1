"""The auditor's read of the log itself, event by event: GET /v1/audit/events, its paging
and filters (by event type, by event time), and the rendering of any event as JSON.
Auditors write nothing; operators may read.

The event stream pages by notification id, the log's one total order.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from eventsourcing.domain import Aggregate, DomainEvent
from eventsourcing.utils import get_topic

from api import schemas as s
from api.common import FOLD_PAGE_SIZE, POSITION, STAFF, iso, parse_moment
from api.spec import Call, Operation, Reply
from ledger.errors import InvalidInput
from ledger.money import Money
from ledger.vouchers import VoucherLedger

MAX_EVENTS_LIMIT = 10_000  # the largest `limit` accepted; the server's page size caps it
DEFAULT_EVENTS_LIMIT = 100
MAX_EVENTS_SCANNED = 10_000  # notifications one events page reads, whatever its filters
ENVELOPE = frozenset({"originator_id", "originator_version", "timestamp"})


@functools.cache
def event_topics() -> tuple[str, ...]:
    """The topic of every event class of every aggregate of the books (read once, after
    the applications have imported them all)."""
    found: set[str] = set()
    pending = list(Aggregate.__subclasses__())
    while pending:
        aggregate = pending.pop()
        pending.extend(aggregate.__subclasses__())
        if not aggregate.__module__.startswith("ledger."):
            continue
        for value in vars(aggregate).values():
            if isinstance(value, type) and issubclass(value, DomainEvent):
                found.add(get_topic(value))
    return tuple(sorted(found))


def topics_of(suffix: str) -> tuple[str, ...]:
    """The topics that end with `suffix` at a name's boundary: `ToppedUp`,
    `CreditAccount.ToppedUp` and `ledger.credits:CreditAccount.ToppedUp` all name one."""
    topics = tuple(
        t for t in event_topics() if t == suffix or t.endswith(("." + suffix, ":" + suffix))
    )
    if not topics:
        raise InvalidInput(
            f"no event type ends with {suffix!r}; name one like CreditAccount.ToppedUp",
            field="/type",
        )
    return topics


def plain(value: Any) -> Any:
    """An event's value as JSON: ids and moments as text, enums by value, tuples as lists."""
    if isinstance(value, Enum):
        return plain(value.value)
    if value is None or isinstance(value, bool | int | str | float):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Money):
        return value.cents
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(plain(k)): plain(v) for k, v in value.items()}
    # UUIDs, and any type no event holds today: its text, rather than an audit that fails.
    return str(value)


def event_json(notification: Any, event: Any) -> dict[str, Any]:
    return {
        "position": notification.id,
        "originator_id": str(notification.originator_id),
        "originator_version": notification.originator_version,
        "topic": notification.topic,
        "timestamp": iso(event.timestamp),
        "state": {k: plain(v) for k, v in vars(event).items() if k not in ENVELOPE},
    }


@dataclass(frozen=True, slots=True)
class EventQuery:
    after: int
    limit: int
    topics: tuple[str, ...]
    since: datetime | None
    until: datetime | None

    @property
    def timed(self) -> bool:
        return self.since is not None or self.until is not None

    def admits(self, moment: datetime) -> bool:
        return (self.since is None or moment >= self.since) and (
            self.until is None or moment < self.until
        )


def read_events(app: VoucherLedger, query: EventQuery) -> dict[str, Any]:
    """A page of events after `query.after`; a time window reads at most
    `MAX_EVENTS_SCANNED` notifications per page, so a page may come back short. At the end
    of the log, `next_after` is the last position read, matching the type filter or not:
    positions are given in commit order, so nothing will appear before it."""
    found: list[dict[str, Any]] = []
    cursor, scanned = query.after, 0
    head = app.recorder.max_notification_id() or 0
    while len(found) < query.limit and scanned < MAX_EVENTS_SCANNED:
        wanted = FOLD_PAGE_SIZE if query.timed else query.limit - len(found)
        ask = min(wanted, MAX_EVENTS_SCANNED - scanned)
        page = app.recorder.select_notifications(
            start=cursor, limit=ask, topics=query.topics, inclusive_of_start=False
        )
        for notification in page:
            if len(found) == query.limit:
                return {"events": found, "next_after": cursor, "more": True}
            cursor, scanned = notification.id, scanned + 1
            event = app.mapper.to_domain_event(notification)
            if query.admits(event.timestamp):
                found.append(event_json(notification, event))
        if len(page) < ask:
            return {"events": found, "next_after": max(cursor, head), "more": False}
    return {"events": found, "next_after": cursor, "more": True}


async def list_events(call: Call) -> Reply:
    services, q = call.services, call.query
    query = EventQuery(
        after=q["after"],
        limit=min(q["limit"], services.settings.max_page_size),
        topics=topics_of(q["type"]) if "type" in q else (),
        since=parse_moment(q["since"], "since") if "since" in q else None,
        until=parse_moment(q["until"], "until") if "until" in q else None,
    )
    return Reply(await services.run(read_events, services.vouchers, query))


# Operations ---------------------------------------------------------------------------

EVENT = s.obj(
    {
        "position": POSITION,
        "originator_id": s.UUID,
        "originator_version": {"type": "integer", "minimum": 1},
        "topic": s.TEXT,
        "timestamp": s.DATETIME,
        "state": {"type": "object", "description": "The event's attributes as JSON."},
    }
)
EXAMPLE_EVENT = {
    "position": 42,
    "originator_id": "9d7e6f5a-4b3c-5d2e-8f1a-0b9c8d7e6f5a",
    "originator_version": 2,
    "topic": "ledger.credits:CreditAccount.ToppedUp",
    "timestamp": "2027-09-11T00:00:00+00:00",
    "state": {
        "topup_id": "1a2b3c4d-5e6f-5a7b-8c9d-0e1f2a3b4c5d",
        "authority_id": "commune-75056",
        "kind": "commune",
        "amount_cents": 2000,
    },
}

OPERATIONS = (
    Operation(
        operation_id="list_events",
        method="GET",
        path="/v1/audit/events",
        summary="The log, event by event, in its one order, with filters",
        description="Paged by position: pass the answer's `next_after` as `after` for the "
        "next page (`more` is false once the end of the log was read). `limit` is capped "
        "by the server's page size (TIRELIRE_MAX_PAGE_SIZE). `type` keeps the events whose "
        "topic ends with it, such as `ToppedUp` or `CreditAccount.ToppedUp`. `since` "
        "(inclusive) and `until` (exclusive) select by event time, which is the time of "
        "the command, not of the commit: a page reads at most "
        f"{MAX_EVENTS_SCANNED} events, so with them a page may be short or empty while "
        "`more` is true.",
        tag="auditor",
        roles=STAFF,
        handler=list_events,
        query=s.obj(
            {},
            {
                "after": {**POSITION, "default": 0},
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_EVENTS_LIMIT,
                    "default": DEFAULT_EVENTS_LIMIT,
                },
                "type": {"type": "string", "pattern": "^[A-Za-z0-9_.:]{1,200}$"},
                "since": s.DATETIME,
                "until": s.DATETIME,
            },
        ),
        response=s.obj(
            {
                "events": s.array(EVENT, max_items=MAX_EVENTS_LIMIT),
                "next_after": POSITION,
                "more": s.BOOLEAN,
            }
        ),
        example_response={"events": [EXAMPLE_EVENT], "next_after": 42, "more": True},
    ),
)
