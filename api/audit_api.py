"""The auditor's reads over HTTP: the books now and as of any point of the log, and the
paper's indicators. Auditors write nothing; operators may read. The log itself, event by
event, is read through `api.events_api`.

Balances *now* come from the balances read model, caught up first. Balances *as of* a past
point come from the same read model folded again from the log up to a log position, or up
to the first event stamped after a moment (`api.past`). Events carry their command's time
and the log is in commit order, so a moment selects by event time; a figure that never
moves is asked by position.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from api import schemas as s
from api.common import POSITION, STAFF, iso
from api.past import AsOf, as_of, as_of_query, read_models
from api.spec import Call, Operation, Reply
from ledger.accounts import (
    ACCOUNT_KINDS,
    DEVICE_BANK_ACCOUNT_KINDS,
    FUND_ACCOUNT_KINDS,
    account_kind,
)
from ledger.errors import InvalidInput
from projections.balances import Balances, BalancesProjection
from projections.indicators import IndicatorsProjection

MAX_ACCOUNT_NAME_LENGTH = 128
BALANCES = BalancesProjection.name


# The books now or as of a point of the log ------------------------------------------

# Every kind of account the books post to: the teacher's credit and vendors, the device
# banks', the internet fund's.
KNOWN_KINDS = (*ACCOUNT_KINDS, *DEVICE_BANK_ACCOUNT_KINDS, *FUND_ACCOUNT_KINDS)


def totals_by_kind(pairs: Any) -> list[dict[str, Any]]:
    """(kind, cents) pairs summed per kind: every kind of the chart, in its order."""
    totals = dict.fromkeys(KNOWN_KINDS, 0)
    for kind, cents in pairs:
        totals[kind] = totals.get(kind, 0) + cents
    return [{"kind": kind, "balance_cents": cents} for kind, cents in totals.items()]


def read_books(services: Any, point: AsOf, account: str | None) -> dict[str, Any]:
    """One account's balance, or the totals by kind, as of `point` (blocking)."""
    with read_models(services, point, BALANCES) as models:
        balances = Balances(models.engine)
        if account is not None:
            return {"balance_cents": balances.balance(account), "position": models.position}
        pairs = [(k.kind, k.balance_cents) for k in balances.by_kind()]
    return {"kinds": totals_by_kind(pairs), "position": models.position}


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

AS_OF = as_of_query("Books")
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
    "the last log position it applied). With `position`: the same read model folded again "
    "from the log up to that position. With `at`: up to the event before the first one "
    "stamped after that moment; events carry their command's time and the log is in "
    "commit order, so `at` selects by event time."
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
