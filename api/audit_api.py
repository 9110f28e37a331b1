"""The auditor's reads over HTTP: the books now and as of any point of the log, and the
paper's indicators. Auditors write nothing; operators may read. The log itself, event by
event, is read through `api.events_api`.

Balances *now* come from the balances read model, caught up first. Balances *as of* a past
point are stored nowhere: they are a fold of the postings of every money event from the
start of the log (`ledger.accounts.fold`) up to a log position, or up to the first event
stamped after a moment. Events carry their command's time and the log is in commit order,
so a moment selects by event time; a figure that never moves is asked by position.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.utils import get_topic

from api import schemas as s
from api.common import FOLD_PAGE_SIZE, POSITION, STAFF, iso, parse_moment
from api.spec import Call, Operation, Reply
from ledger.accounts import (
    ACCOUNT_KINDS,
    DEVICE_BANK_ACCOUNT_KINDS,
    FUND_ACCOUNT_KINDS,
    MONEY_EVENT_TYPES,
    account_kind,
    fold,
)
from ledger.errors import InvalidInput
from ledger.vouchers import VoucherLedger
from projections.balances import BalancesProjection
from projections.indicators import IndicatorsProjection

MONEY_TOPICS = tuple(get_topic(t) for t in MONEY_EVENT_TYPES)
MAX_ACCOUNT_NAME_LENGTH = 128
BALANCES = BalancesProjection.name


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


# Every kind of account the books post to: the teacher's credit and vendors, the device
# banks', the internet fund's.
KNOWN_KINDS = (*ACCOUNT_KINDS, *DEVICE_BANK_ACCOUNT_KINDS, *FUND_ACCOUNT_KINDS)


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
    totals = dict.fromkeys(KNOWN_KINDS, 0)
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
    if kind not in KNOWN_KINDS or not owner:
        raise InvalidInput(
            "an account is named kind:owner, with a kind among " + ", ".join(KNOWN_KINDS),
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


# Operations ---------------------------------------------------------------------------

AS_OF = {
    "at": {**s.DATETIME, "description": "Books as of this moment, by event time."},
    "position": {**POSITION, "description": "Books as of this log position (inclusive)."},
}
KINDS = s.array(
    s.obj({"kind": s.TEXT, "balance_cents": s.SIGNED_CENTS}), max_items=len(KNOWN_KINDS) + 8
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
)
