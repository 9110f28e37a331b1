"""Redeeming credit over HTTP: teachers hold and cancel, vendors capture, release, refund.

A teacher's account is always their own: the path names the campaign, the token the
teacher. A hold answers a redemption code (`api.codes`) that the teacher hands to the
vendor; the vendor acts on the hold by that code only, and only on holds placed at it.
Holds, captures and releases go through the group committer (many requests, one
transaction); a refund goes through the claims desk, which raises a debit note when the
redemption was already claimed.
"""

from __future__ import annotations

import time
from typing import Any, TypeVar
from uuid import UUID

from api import schemas as s
from api.common import body_uuid, committed, iso, path_uuid, scoped_key
from api.spec import Call, Operation, Reply, Role
from ledger.commands import CaptureHold, KeyedCommand, PlaceHold, Refund, ReleaseHold
from ledger.credits import CreditAccount
from ledger.errors import Forbidden, HoldNotFound
from ledger.holds import Hold, HoldStatus
from ledger.ids import credit_account_id
from ledger.references import NotCached
from ledger.vouchers import view_of

C = TypeVar("C", bound=KeyedCommand)
MAX_TTL_S = 7 * 24 * 3600
PENDING = HoldStatus.PENDING
CODE = {"type": "string", "pattern": "^rc1[a-z2-7]{68}$"}
EXAMPLE_CODE = "rc1" + "a" * 68

HOLD = s.obj(
    {
        "hold_id": s.UUID,
        "status": s.enum("pending", "captured", "released", "expired"),
        "vendor_id": s.TEXT,
        "order_ref": s.TEXT,
        "amount_cents": s.CENTS_OR_ZERO,
        "captured_cents": s.CENTS_OR_ZERO,
        "refunded_cents": s.CENTS_OR_ZERO,
        "expires_at": s.DATETIME,
        "resource_id": s.nullable(s.UUID),
        "captured_at": s.nullable(s.DATETIME),
    },
    {"redemption_code": CODE},
)
EXAMPLE_HOLD = {
    "hold_id": "0b6a3c5e-5d07-5f0e-9b1b-8c1f7d8e2a10",
    "status": "pending",
    "vendor_id": "3f1e2a4b-6c7d-5e8f-9a0b-1c2d3e4f5a6b",
    "order_ref": "commande-1042",
    "amount_cents": 1990,
    "captured_cents": 0,
    "refunded_cents": 0,
    "expires_at": "2027-10-02T09:30:00+00:00",
    "resource_id": "6f1c2b9e-2d4a-4c1e-9a53-0d6a3f0b7c11",
    "captured_at": None,
    "redemption_code": EXAMPLE_CODE,
}
CREDIT = s.obj(
    {
        "account_id": s.UUID,
        "campaign_id": s.UUID,
        "teacher_id": s.TEXT,
        "granted_cents": s.CENTS_OR_ZERO,
        "topped_up_cents": s.CENTS_OR_ZERO,
        "available_cents": s.CENTS_OR_ZERO,
        "held_cents": s.CENTS_OR_ZERO,
        "captured_cents": s.CENTS_OR_ZERO,
        "returned_cents": s.CENTS_OR_ZERO,
        "is_expired": s.BOOLEAN,
        "holds": s.array(HOLD, max_items=100_000),
    }
)


def hold_json(hold: Hold, code: str | None = None) -> dict[str, Any]:
    body = {
        "hold_id": str(hold.hold_id),
        "status": hold.status.value,
        "vendor_id": hold.vendor_id,
        "order_ref": hold.order_ref,
        "amount_cents": hold.amount_cents,
        "captured_cents": hold.captured_cents,
        "refunded_cents": hold.refunded_cents,
        "expires_at": iso(hold.expires_at),
        "resource_id": None if hold.resource_id is None else str(hold.resource_id),
        "captured_at": iso(hold.captured_at),
    }
    if code is not None:
        body["redemption_code"] = code
    return body


# Teachers -----------------------------------------------------------------------------


async def get_my_credit(call: Call) -> Reply:
    services = call.services
    account_id = credit_account_id(path_uuid(call, "campaign_id"), call.caller.subject)
    account = await services.run(services.vouchers.get_account, account_id)
    view = view_of(account)
    holds = [
        hold_json(h, services.codes.encode(account.id, h.hold_id) if h.status is PENDING else None)
        for h in account.holds.values()
    ]
    return Reply(
        {
            "account_id": str(view.account_id),
            "campaign_id": str(view.campaign_id),
            "teacher_id": view.teacher_id,
            "granted_cents": view.granted_cents,
            "topped_up_cents": view.topped_up_cents,
            "available_cents": view.available_cents,
            "held_cents": view.held_cents,
            "captured_cents": view.captured_cents,
            "returned_cents": view.returned_cents,
            "is_expired": view.is_expired,
            "holds": holds,
        }
    )


async def place_hold(call: Call) -> Reply:
    services, body = call.services, call.body
    campaign_id = path_uuid(call, "campaign_id")

    def command_for(may_load: bool) -> PlaceHold:
        return services.redemptions.hold_command(
            campaign_id=campaign_id,
            teacher_id=call.caller.subject,
            key=scoped_key(call.caller, call.idempotency_key),
            resource_id=body_uuid(body["resource_id"], "resource_id"),
            order_ref=body["order_ref"],
            by=call.caller.name,
            now=call.now,
            ttl_s=body.get("ttl_s", 15 * 60),
            may_load=may_load,
        )

    try:
        # Campaign, vendor and resource read recently: built here, no thread hand-off.
        command = command_for(may_load=False)
    except NotCached:
        command = await services.run(command_for, True)
    receipt = await committed(services.committer.submit(command))
    code = services.codes.encode(command.account_id, receipt.hold_id)
    return Reply(
        {
            "hold_id": str(receipt.hold_id),
            "amount_cents": receipt.amount_cents,
            "expires_at": iso(receipt.expires_at),
            "redemption_code": code,
        },
        status=201,
    )


async def cancel_my_hold(call: Call) -> Reply:
    services = call.services
    command = ReleaseHold(
        campaign_id=path_uuid(call, "campaign_id"),
        teacher_id=call.caller.subject,
        key=scoped_key(call.caller, call.idempotency_key),
        by=call.caller.name,
        now=call.now,
        hold_id=path_uuid(call, "hold_id"),
    )
    receipt = await committed(services.committer.submit(command))
    return Reply({"hold_id": str(receipt.hold_id), "released_cents": receipt.released_cents})


# Vendors ------------------------------------------------------------------------------


async def vendor_hold(call: Call, fresh: bool = False) -> tuple[CreditAccount, Hold]:
    """The account and hold a code names, if the calling vendor placed it; an unknown code
    counts against the caller's guessing allowance. Unless asked `fresh`, the account may
    be the group committer's copy: commands read only what never changes on it."""
    services, caller = call.services, call.caller
    now = time.monotonic()
    services.code_guesses.check(caller.name, now)
    try:
        account_id, hold_id = services.codes.decode(call.path["code"])
    except HoldNotFound:
        services.code_guesses.take(caller.name, now)
        raise
    account = None if fresh else services.committer.cache.peek(account_id)
    if account is None or hold_id not in account.holds:
        account = await services.run(services.vouchers.get_account, account_id)
    hold = account.get_hold(hold_id)
    if hold.vendor_id != caller.subject:
        raise Forbidden("this hold was placed at another vendor")
    return account, hold


async def vendor_command(call: Call, kind: type[C], **fields: Any) -> tuple[UUID, C]:
    """The command of the calling vendor on the hold its code names, keyed for the caller;
    with the account's id."""
    account, hold = await vendor_hold(call)
    command = kind(
        campaign_id=account.campaign_id,
        teacher_id=account.teacher_id,
        key=scoped_key(call.caller, call.idempotency_key),
        by=call.caller.name,
        now=call.now,
        hold_id=hold.hold_id,
        **fields,
    )
    return account.id, command


async def get_redemption(call: Call) -> Reply:
    _, hold = await vendor_hold(call, fresh=True)
    return Reply(hold_json(hold))


async def capture_redemption(call: Call) -> Reply:
    _, command = await vendor_command(call, CaptureHold, amount_cents=call.body["amount_cents"])
    receipt = await committed(call.services.committer.submit(command))
    return Reply(
        {
            "hold_id": str(receipt.hold_id),
            "captured_cents": receipt.captured_cents,
            "released_cents": receipt.released_cents,
        }
    )


async def release_redemption(call: Call) -> Reply:
    _, command = await vendor_command(call, ReleaseHold)
    receipt = await committed(call.services.committer.submit(command))
    return Reply({"hold_id": str(receipt.hold_id), "released_cents": receipt.released_cents})


async def refund_redemption(call: Call) -> Reply:
    account_id, command = await vendor_command(call, Refund, amount_cents=call.body["amount_cents"])
    services = call.services
    # The desk saves the account itself (with the claim's side of the refund): the
    # committer's cached copy is now behind, so it forgets it before its next command.
    try:
        receipt = await services.run(services.desk.refund, command)
    finally:
        services.committer.forget(account_id)
    return Reply(
        {
            "refund_id": str(receipt.refund_id),
            "hold_id": str(receipt.hold_id),
            "amount_cents": receipt.amount_cents,
        },
        status=201,
    )


HOLD_ID = "0b6a3c5e-5d07-5f0e-9b1b-8c1f7d8e2a10"
TEACHER = frozenset({Role.TEACHER})
VENDOR = frozenset({Role.VENDOR})
RELEASED = s.obj({"hold_id": s.UUID, "released_cents": s.CENTS_OR_ZERO})

OPERATIONS = (
    Operation(
        operation_id="get_my_credit",
        method="GET",
        path="/v1/campaigns/{campaign_id}/credit",
        summary="My credit in a campaign, with my holds and their redemption codes",
        tag="teacher",
        roles=TEACHER,
        handler=get_my_credit,
        response=CREDIT,
        example_response={
            "account_id": "9d7e6f5a-4b3c-5d2e-8f1a-0b9c8d7e6f5a",
            "campaign_id": "6f1c2b9e-2d4a-4c1e-9a53-0d6a3f0b7c11",
            "teacher_id": "teacher-0000042",
            "granted_cents": 7800,
            "topped_up_cents": 0,
            "available_cents": 5810,
            "held_cents": 1990,
            "captured_cents": 0,
            "returned_cents": 0,
            "is_expired": False,
            "holds": [EXAMPLE_HOLD],
        },
        ownership="token",
    ),
    Operation(
        operation_id="place_hold",
        method="POST",
        path="/v1/campaigns/{campaign_id}/holds",
        summary="Hold a resource's price on my credit; answers the code to give the vendor",
        tag="teacher",
        roles=TEACHER,
        handler=place_hold,
        status=201,
        body=s.obj(
            {"resource_id": s.UUID, "order_ref": s.SHORT_TEXT},
            {"ttl_s": {"type": "integer", "minimum": 60, "maximum": MAX_TTL_S}},
        ),
        response=s.obj(
            {
                "hold_id": s.UUID,
                "amount_cents": s.CENTS,
                "expires_at": s.DATETIME,
                "redemption_code": CODE,
            }
        ),
        moves_money=True,
        example_body={
            "resource_id": "6f1c2b9e-2d4a-4c1e-9a53-0d6a3f0b7c11",
            "order_ref": "commande-1042",
            "ttl_s": 900,
        },
        example_response={
            "hold_id": HOLD_ID,
            "amount_cents": 1990,
            "expires_at": "2027-10-02T09:30:00+00:00",
            "redemption_code": EXAMPLE_CODE,
        },
        ownership="token",
    ),
    Operation(
        operation_id="cancel_my_hold",
        method="POST",
        path="/v1/campaigns/{campaign_id}/holds/{hold_id}/cancel",
        summary="Cancel one of my pending holds: its amount is available again",
        tag="teacher",
        roles=TEACHER,
        handler=cancel_my_hold,
        response=RELEASED,
        moves_money=True,
        example_response={"hold_id": HOLD_ID, "released_cents": 1990},
        ownership="self",
    ),
    Operation(
        operation_id="get_redemption",
        method="GET",
        path="/v1/redemptions/{code}",
        summary="A hold placed at me, by its redemption code",
        tag="vendor",
        roles=VENDOR,
        handler=get_redemption,
        response=HOLD,
        example_response={k: v for k, v in EXAMPLE_HOLD.items() if k != "redemption_code"},
        ownership="self",
    ),
    Operation(
        operation_id="capture_redemption",
        method="POST",
        path="/v1/redemptions/{code}/capture",
        summary="Capture a hold in full or in part; the rest goes back to the teacher",
        tag="vendor",
        roles=VENDOR,
        handler=capture_redemption,
        body=s.obj({"amount_cents": s.CENTS}),
        response=s.obj(
            {"hold_id": s.UUID, "captured_cents": s.CENTS, "released_cents": s.CENTS_OR_ZERO}
        ),
        moves_money=True,
        example_body={"amount_cents": 1990},
        example_response={"hold_id": HOLD_ID, "captured_cents": 1990, "released_cents": 0},
        ownership="self",
    ),
    Operation(
        operation_id="release_redemption",
        method="POST",
        path="/v1/redemptions/{code}/release",
        summary="Release a hold: the order will not be served",
        tag="vendor",
        roles=VENDOR,
        handler=release_redemption,
        response=RELEASED,
        moves_money=True,
        example_response={"hold_id": HOLD_ID, "released_cents": 1990},
        ownership="self",
    ),
    Operation(
        operation_id="refund_redemption",
        method="POST",
        path="/v1/redemptions/{code}/refunds",
        summary="Refund part or all of a capture to the teacher",
        description="If the redemption is in an approved claim, the refund raises a debit "
        "note, deducted from the vendor's next payment.",
        tag="vendor",
        roles=VENDOR,
        handler=refund_redemption,
        status=201,
        body=s.obj({"amount_cents": s.CENTS}),
        response=s.obj({"refund_id": s.UUID, "hold_id": s.UUID, "amount_cents": s.CENTS}),
        moves_money=True,
        example_body={"amount_cents": 500},
        example_response={
            "refund_id": "1a2b3c4d-5e6f-5a7b-8c9d-0e1f2a3b4c5d",
            "hold_id": HOLD_ID,
            "amount_cents": 500,
        },
        ownership="self",
    ),
)
