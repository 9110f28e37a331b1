"""The auditor's reads over HTTP: the books now and as of any point of the log, the paper's
indicators, and the log itself, event by event. Auditors write nothing; operators may read.

Balances *now* come from the balances read model, caught up first. Balances *as of* a past
point are stored nowhere: they are a fold of the postings of every money event from the
start of the log (`ledger.accounts.fold`) up to a log position, or up to the first event
stamped after a moment. Events carry their command's time and the log is in commit order,
so a moment selects by event time; a figure that never moves is asked by position.

The event stream pages by notification id, the log's one total order.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

from eventsourcing.domain import Aggregate, DomainEvent
from eventsourcing.utils import get_topic

from api import schemas as s
from api.common import iso
from api.spec import Call, Operation, Reply, Role
from ledger.accounts import ACCOUNT_KINDS, MONEY_EVENT_TYPES, account_kind, fold
from ledger.errors import InvalidInput, InvalidPeriod
from ledger.money import Money
from ledger.vouchers import VoucherLedger
from projections.balances import BalancesProjection
from projections.indicators import IndicatorsProjection

MONEY_TOPICS = tuple(get_topic(t) for t in MONEY_EVENT_TYPES)
FOLD_PAGE_SIZE = 1000  # notifications read per query when folding or scanning the log
MAX_EVENTS_LIMIT = 10_000  # the largest `limit` accepted; the server's page size caps it
DEFAULT_EVENTS_LIMIT = 100
MAX_EVENTS_SCANNED = 10_000  # notifications one events page reads, whatever its filters
MAX_ACCOUNT_NAME_LENGTH = 128
ENVELOPE = frozenset({"originator_id", "originator_version", "timestamp"})
STAFF = frozenset({Role.AUDITOR, Role.OPERATOR})
BALANCES = BalancesProjection.name


def parse_moment(text: str, name: str) -> datetime:
    """A timezone-aware moment from ISO 8601 text, in UTC."""
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            raise ValueError
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidPeriod(
            f"{name} must be a date-time with its offset, like 2028-01-31T23:00:00+00:00",
            field=f"/{name}",
        ) from None


# The books as of a point of the log --------------------------------------------------


class MoneyLog:
    """The money events of the log in order, up to a position (inclusive) or until the
    first one stamped after `at`; `position` is that of the last event read."""

    def __init__(self, app: VoucherLedger, stop: int | None, at: datetime | None) -> None:
        self.app, self.stop, self.at = app, stop, at
        self.position = 0

    def __iter__(self) -> Iterator[Any]:
        recorder, cursor = self.app.recorder, 0
        while True:
            page = recorder.select_notifications(
                cursor, FOLD_PAGE_SIZE, self.stop, MONEY_TOPICS, inclusive_of_start=False
            )
            for notification in page:
                event = self.app.mapper.to_domain_event(notification)
                if self.at is not None and event.timestamp > self.at:
                    return
                self.position = notification.id
                yield event
            if len(page) < FOLD_PAGE_SIZE:
                return
            cursor = page[-1].id


@dataclass(frozen=True, slots=True)
class AsOf:
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


def fold_as_of(app: VoucherLedger, point: AsOf) -> tuple[dict[str, int], int]:
    """Every account's balance as of `point`, and the position the books then stood at."""
    head = app.recorder.max_notification_id() or 0
    if point.position is not None and point.position > head:
        raise InvalidInput(
            f"position {point.position} is beyond the end of the log ({head})",
            field="/position",
        )
    log = MoneyLog(app, point.position, point.at)
    balances = fold(log)
    return balances, point.position if point.position is not None else log.position


def totals_by_kind(pairs: Any) -> list[dict[str, Any]]:
    """(kind, cents) pairs summed per kind: every kind of the chart, in its order."""
    totals = dict.fromkeys(ACCOUNT_KINDS, 0)
    for kind, cents in pairs:
        totals[kind] = totals.get(kind, 0) + cents
    return [{"kind": kind, "balance_cents": cents} for kind, cents in totals.items()]


def read_books(services: Any, point: AsOf, account: str | None) -> dict[str, Any]:
    """One account's balance, or the totals by kind, as of `point` (blocking)."""
    if point.now:
        services.catch_up(BALANCES)
        position = services.runners[BALANCES].position()
        if account is not None:
            return {"balance_cents": services.balances.balance(account), "position": position}
        pairs: Any = ((k.kind, k.balance_cents) for k in services.balances.by_kind())
    else:
        balances, position = fold_as_of(services.vouchers, point)
        if account is not None:
            return {"balance_cents": balances.get(account, 0), "position": position}
        pairs = ((account_kind(a), cents) for a, cents in balances.items())
    return {"kinds": totals_by_kind(pairs), "position": position}


def source(point: AsOf) -> dict[str, Any]:
    return {"source": "read_model" if point.now else "log", "at": iso(point.at)}


async def get_balances(call: Call) -> Reply:
    point = as_of(call.query)
    books = await call.services.run(read_books, call.services, point, None)
    trial = sum(k["balance_cents"] for k in books["kinds"])
    return Reply({**source(point), **books, "trial_balance_cents": trial})


def account_name(text: str) -> str:
    kind, _, owner = text.partition(":")
    if kind not in ACCOUNT_KINDS or not owner:
        raise InvalidInput(
            "an account is named kind:owner, with a kind among " + ", ".join(ACCOUNT_KINDS),
            field="/account",
        )
    return text


async def get_account_balance(call: Call) -> Reply:
    point, account = as_of(call.query), account_name(call.query["account"])
    books = await call.services.run(read_books, call.services, point, account)
    return Reply({"account": account, "kind": account_kind(account), **source(point), **books})


# Indicators ---------------------------------------------------------------------------


async def get_indicators(call: Call) -> Reply:
    services = call.services

    def current() -> Any:
        services.catch_up(IndicatorsProjection.name)
        return services.indicators.current()

    values = await services.run(current)
    return Reply({**dataclasses.asdict(values), "purchases_cents": values.purchases_cents})


# The event stream ---------------------------------------------------------------------


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

POSITION = {"type": "integer", "minimum": 0, "description": "A log position (notification id)."}
AS_OF = {
    "at": {**s.DATETIME, "description": "Books as of this moment, by event time."},
    "position": {**POSITION, "description": "Books as of this log position (inclusive)."},
}
KINDS = s.array(
    s.obj({"kind": s.TEXT, "balance_cents": s.SIGNED_CENTS}), max_items=len(ACCOUNT_KINDS) + 8
)
SOURCE = s.enum("read_model", "log")
EXAMPLE_KINDS = [
    {"kind": kind, "balance_cents": cents}
    for kind, cents in zip(ACCOUNT_KINDS, (-780_000, 764_400, 13_610, 0, 1_990, 0, 0), strict=True)
]
AS_OF_TEXT = (
    "Without `at` or `position`: the balances read model, caught up first (`position` is "
    "the last log position it applied). With `position`: a fold of every money event up to "
    "that position. With `at`: a fold up to the first money event stamped after that "
    "moment; events carry their command's time and the log is in commit order, so `at` "
    "selects by event time. A fold reads the whole log up to that point."
)
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
        operation_id="get_balances",
        method="GET",
        path="/v1/audit/balances",
        summary="Balances by kind of account and the trial balance, now or as of the past",
        description=AS_OF_TEXT + " The trial balance, the sum of all balances, is always 0.",
        tag="auditor",
        roles=STAFF,
        handler=get_balances,
        query=s.obj({}, AS_OF),
        response=s.obj(
            {
                "source": SOURCE,
                "position": POSITION,
                "at": s.nullable(s.DATETIME),
                "kinds": KINDS,
                "trial_balance_cents": s.SIGNED_CENTS,
            }
        ),
        example_response={
            "source": "read_model",
            "position": 1207,
            "at": None,
            "kinds": EXAMPLE_KINDS,
            "trial_balance_cents": 0,
        },
    ),
    Operation(
        operation_id="get_account_balance",
        method="GET",
        path="/v1/audit/account-balance",
        summary="The balance of one account, now or as of the past",
        description="Accounts are named `kind:owner`, such as `funder:etat` or "
        "`teacher_available:{credit account id}`; an account the books never moved money "
        "on has a balance of 0. " + AS_OF_TEXT,
        tag="auditor",
        roles=STAFF,
        handler=get_account_balance,
        query=s.obj(
            {"account": {"type": "string", "minLength": 3, "maxLength": MAX_ACCOUNT_NAME_LENGTH}},
            AS_OF,
        ),
        response=s.obj(
            {
                "account": s.TEXT,
                "kind": s.TEXT,
                "balance_cents": s.SIGNED_CENTS,
                "source": SOURCE,
                "position": POSITION,
                "at": s.nullable(s.DATETIME),
            }
        ),
        example_response={
            "account": "funder:etat",
            "kind": "funder",
            "balance_cents": -546_000,
            "source": "log",
            "position": 900,
            "at": None,
        },
        ownership="any",
    ),
    Operation(
        operation_id="get_indicators",
        method="GET",
        path="/v1/audit/indicators",
        summary="The programme's indicators: teachers who spent, purchases, French EdTechs",
        description="Teachers who spent count credit accounts with a captured hold (one per "
        "teacher and campaign); purchases are captured minus refunded cents; French EdTechs "
        "are vendors with a listed resource labelled « Français » now.",
        tag="auditor",
        roles=STAFF,
        handler=get_indicators,
        response=s.obj(
            {
                "teachers_who_spent": s.COUNT,
                "captured_cents": s.CENTS_OR_ZERO,
                "refunded_cents": s.CENTS_OR_ZERO,
                "purchases_cents": s.SIGNED_CENTS,
                "french_edtechs_listed": s.COUNT,
            }
        ),
        example_response={
            "teachers_who_spent": 2,
            "captured_cents": 3980,
            "refunded_cents": 500,
            "purchases_cents": 3480,
            "french_edtechs_listed": 1,
        },
    ),
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
