"""Claims over HTTP: vendors claim their redemptions, the operator reviews and approves
them.

A vendor claims by the redemption codes its teachers gave it (`api.codes`), only for holds
placed at it; an unknown code counts against its guessing allowance, as on capture. The
operator rejects lines (each returned to claimable or cancelled), decides the disputes a
vendor raises on cancelled lines within `DISPUTE_WINDOW_DAYS`, and approves the claim.
Approved claims are then paid in batches (`api.payments_api`).

Rejections and disputes carry keys derived from what they name (a line is rejected once
and disputed once), so a retry is recognised without an Idempotency-Key header.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any
from uuid import UUID

from sqlalchemy import select

from api import schemas as s
from api.common import (
    OPERATOR,
    VENDOR,
    VENDOR_OR_STAFF,
    body_uuid,
    iso,
    own_vendor,
    page,
    paging,
    path_uuid,
    scoped_key,
)
from api.spec import Call, Operation, Reply, Role
from ledger.claims import (
    CANCEL,
    OVERTURNED,
    RETURN_TO_CLAIMABLE,
    UPHELD,
    Claim,
    LineStatus,
)
from ledger.errors import Forbidden, HoldNotFound
from ledger.reimbursement import MAX_CLAIM_LINES, Redemption
from projections.schema import vendor_statement_claim_lines

MAX_CLAIMS_LISTED = 200


# Claims -------------------------------------------------------------------------------


def claim_json(claim: Claim, with_lines: bool = True) -> dict[str, Any]:
    lines = list(claim.lines.values())
    body = {
        "claim_id": str(claim.id),
        "vendor_id": claim.vendor_id,
        "status": claim.status.value,
        "submitted_at": iso(claim.submitted_at),
        "lines_count": len(lines),
        "captured_cents": sum(line.captured_cents for line in lines),
        "claimed_cents": sum(line.reimbursed_cents for line in lines),
        "payable_cents": claim.payable_cents,
        "batch_id": None if claim.batch_id is None else str(claim.batch_id),
        "bank_reference": claim.bank_reference,
    }
    if with_lines:
        body["lines"] = [
            {
                "hold_id": str(line.hold_id),
                "captured_cents": line.captured_cents,
                "reimbursed_cents": line.reimbursed_cents,
                "rule_id": line.rule_id,
                "status": line.status.value,
                "rejected_at": iso(line.rejected_at),
                "dispute_until": iso(Claim.dispute_deadline(line))
                if line.status is LineStatus.CANCELLED
                else None,
            }
            for line in lines
        ]
    return body


def caller_claim(call: Call) -> Claim:
    """The claim in the path (blocking); a vendor reaches its own claims only."""
    claim = call.services.desk.get_claim(path_uuid(call, "claim_id"))
    if call.caller.role is Role.VENDOR and claim.vendor_id != call.caller.subject:
        raise Forbidden("this claim is another vendor's")
    return claim


def decoded(call: Call, codes: list[str]) -> list[tuple[UUID, UUID]]:
    """The (account, hold) of each code; an unknown code counts as a guess."""
    services, who = call.services, call.caller.name
    found = []
    for code in codes:
        now = time.monotonic()
        services.code_guesses.check(who, now)
        try:
            found.append(services.codes.decode(code))
        except HoldNotFound:
            services.code_guesses.take(who, now)
            raise
    return found


async def submit_claim(call: Call) -> Reply:
    vendor = str(own_vendor(call))
    holds = decoded(call, call.body["redemption_codes"])
    services = call.services

    def submitted() -> Claim:
        redemptions: list[Redemption] = []
        for account_id, hold_id in holds:
            redemption = services.vouchers.redemption(account_id, hold_id)
            if redemption.vendor_id != vendor:
                raise Forbidden("a redemption code names a hold placed at another vendor")
            redemptions.append(redemption)
        claim_id = services.desk.submit_claim(
            vendor,
            scoped_key(call.caller, call.idempotency_key),
            redemptions,
            by=call.caller.name,
            now=call.now,
        )
        return services.desk.get_claim(claim_id)

    return Reply(claim_json(await services.run(submitted)), status=201)


async def get_claim(call: Call) -> Reply:
    return Reply(claim_json(await call.services.run(caller_claim, call)))


def vendor_claims(call: Call, vendor: str, limit: int, offset: int) -> list[Claim]:
    """A page of the vendor's claims, by id, from the statements' record of claim lines."""
    call.services.catch_up("vendor_statements")
    table = vendor_statement_claim_lines
    query = (
        select(table.c.claim_id)
        .where(table.c.vendor_id == vendor)
        .group_by(table.c.claim_id)
        .order_by(table.c.claim_id)
        .limit(limit)
        .offset(offset)
    )
    with call.services.engine.connect() as conn:
        ids = [UUID(claim_id) for claim_id in conn.execute(query).scalars()]
    return [call.services.desk.get_claim(claim_id) for claim_id in ids]


async def list_vendor_claims(call: Call) -> Reply:
    vendor = str(own_vendor(call))
    limit, offset = page(call)
    claims = await call.services.run(vendor_claims, call, vendor, limit, offset)
    return Reply(
        {
            "items": [claim_json(c, with_lines=False) for c in claims],
            "limit": limit,
            "offset": offset,
        }
    )


async def dispute_claim_line(call: Call) -> Reply:
    hold_id = path_uuid(call, "hold_id")
    desk = call.services.desk

    def disputed() -> Claim:
        claim = caller_claim(call)
        desk.dispute_line(
            claim.id,
            hold_id,
            key=f"dispute:{hold_id}",
            reason=call.body["reason"],
            by=call.caller.name,
            now=call.now,
        )
        return desk.get_claim(claim.id)

    return Reply(claim_json(await call.services.run(disputed)))


async def reject_claim_lines(call: Call) -> Reply:
    claim_id = path_uuid(call, "claim_id")
    rejections = sorted(
        (body_uuid(line["hold_id"], "hold_id"), line["reason"], line["outcome"])
        for line in call.body["lines"]
    )
    names = ",".join(str(hold_id) for hold_id, _, _ in rejections)
    key = "reject:" + hashlib.sha256(names.encode()).hexdigest()[:40]
    desk = call.services.desk

    def rejected() -> Claim:
        desk.reject_lines(
            claim_id, key=key, rejections=rejections, by=call.caller.name, now=call.now
        )
        return desk.get_claim(claim_id)

    return Reply(claim_json(await call.services.run(rejected)))


async def approve_claim(call: Call) -> Reply:
    claim_id = path_uuid(call, "claim_id")
    desk = call.services.desk

    def approved() -> Claim:
        desk.approve_claim(claim_id, by=call.caller.name, now=call.now)
        return desk.get_claim(claim_id)

    return Reply(claim_json(await call.services.run(approved)))


async def decide_dispute(call: Call) -> Reply:
    claim_id, hold_id = path_uuid(call, "claim_id"), path_uuid(call, "hold_id")
    desk, decision = call.services.desk, call.body["decision"]

    def decided() -> Claim:
        desk.decide_dispute(claim_id, hold_id, decision=decision, by=call.caller.name, now=call.now)
        return desk.get_claim(claim_id)

    return Reply(claim_json(await call.services.run(decided)))


# Schemas and examples -----------------------------------------------------------------

CODE = {"type": "string", "pattern": "^rc1[a-z2-7]{68}$"}
EXAMPLE_CODE = "rc1" + "a" * 68
CLAIM_ID = "7e6d5c4b-3a29-5817-8f6e-5d4c3b2a1908"
HOLD_ID = "0b6a3c5e-5d07-5f0e-9b1b-8c1f7d8e2a10"
VENDOR_ID = "3f1e2a4b-6c7d-5e8f-9a0b-1c2d3e4f5a6b"
LINE_STATUS = s.enum(*(status.value for status in LineStatus))
CLAIM_FIELDS = {
    "claim_id": s.UUID,
    "vendor_id": s.TEXT,
    "status": s.enum("submitted", "approved", "batched", "paid"),
    "submitted_at": s.DATETIME,
    "lines_count": s.COUNT,
    "captured_cents": s.CENTS_OR_ZERO,
    "claimed_cents": s.CENTS_OR_ZERO,
    "payable_cents": s.CENTS_OR_ZERO,
    "batch_id": s.nullable(s.UUID),
    "bank_reference": s.nullable(s.TEXT),
}
LINE = s.obj(
    {
        "hold_id": s.UUID,
        "captured_cents": s.CENTS_OR_ZERO,
        "reimbursed_cents": s.CENTS_OR_ZERO,
        "rule_id": s.TEXT,
        "status": LINE_STATUS,
        "rejected_at": s.nullable(s.DATETIME),
        "dispute_until": s.nullable(s.DATETIME),
    }
)
CLAIM = s.obj({**CLAIM_FIELDS, "lines": s.array(LINE, max_items=MAX_CLAIM_LINES)})
EXAMPLE_SUMMARY = {
    "claim_id": CLAIM_ID,
    "vendor_id": VENDOR_ID,
    "status": "submitted",
    "submitted_at": "2027-10-01T09:00:00+00:00",
    "lines_count": 2,
    "captured_cents": 3980,
    "claimed_cents": 3980,
    "payable_cents": 0,
    "batch_id": None,
    "bank_reference": None,
}
EXAMPLE_LINE = {
    "hold_id": HOLD_ID,
    "captured_cents": 1990,
    "reimbursed_cents": 1990,
    "rule_id": "programme-2024",
    "status": "submitted",
    "rejected_at": None,
    "dispute_until": None,
}
EXAMPLE_CLAIM = {
    **EXAMPLE_SUMMARY,
    "lines": [EXAMPLE_LINE, {**EXAMPLE_LINE, "hold_id": "1c7b4d6f-6e18-5a1f-8c2c-9d2e8f9e3b21"}],
}
CANCELLED_LINE = {
    **EXAMPLE_LINE,
    "status": "cancelled",
    "rejected_at": "2027-10-03T09:00:00+00:00",
    "dispute_until": "2027-11-02T09:00:00+00:00",
}


def with_first_line(**changes: Any) -> dict[str, Any]:
    """The example claim, its first line rejected and then changed so."""
    first = {**CANCELLED_LINE, **changes}
    return {**EXAMPLE_CLAIM, "lines": [first, *EXAMPLE_CLAIM["lines"][1:]]}


CANCELLED_CLAIM = with_first_line()
APPROVED_CLAIM = {
    **EXAMPLE_CLAIM,
    "status": "approved",
    "payable_cents": 3980,
    "lines": [{**line, "status": "approved"} for line in EXAMPLE_CLAIM["lines"]],
}


def claim_operation(operation_id: str, path: str, summary: str, **fields: Any) -> Operation:
    """An operation on one claim, answering the claim as it now stands."""
    defaults: dict[str, Any] = {
        "method": "POST",
        "tag": "operator",
        "roles": OPERATOR,
        "response": CLAIM,
        "ownership": "any",
    }
    return Operation(
        operation_id=operation_id,
        path=f"/v1/claims/{{claim_id}}{path}",
        summary=summary,
        **{**defaults, **fields},
    )


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        operation_id="submit_claim",
        method="POST",
        path="/v1/vendors/{vendor_id}/claims",
        summary="Claim reimbursement of captured redemptions, by their redemption codes",
        description="Each line claims what was captured net of refunds; what it is paid back "
        "follows the reimbursement rule in force at capture. A redemption is claimed once.",
        tag="vendor",
        roles=VENDOR,
        handler=submit_claim,
        status=201,
        body=s.obj({"redemption_codes": s.array(CODE, max_items=MAX_CLAIM_LINES, min_items=1)}),
        response=CLAIM,
        moves_money=True,
        example_body={"redemption_codes": [EXAMPLE_CODE]},
        example_response=EXAMPLE_CLAIM,
        ownership="self",
    ),
    Operation(
        operation_id="list_vendor_claims",
        method="GET",
        path="/v1/vendors/{vendor_id}/claims",
        summary="A vendor's claims, without their lines",
        tag="vendor",
        roles=VENDOR_OR_STAFF,
        handler=list_vendor_claims,
        query={"type": "object", "properties": paging(50, MAX_CLAIMS_LISTED)},
        response=s.obj(
            {
                "items": s.array(s.obj(CLAIM_FIELDS), max_items=MAX_CLAIMS_LISTED),
                "limit": s.COUNT,
                "offset": s.COUNT,
            }
        ),
        example_response={"items": [EXAMPLE_SUMMARY], "limit": 50, "offset": 0},
        ownership="self",
    ),
    claim_operation(
        "get_claim",
        "",
        "A claim and its lines (a vendor reads its own)",
        method="GET",
        tag="vendor",
        roles=VENDOR_OR_STAFF,
        handler=get_claim,
        example_response=EXAMPLE_CLAIM,
        ownership="self",
    ),
    claim_operation(
        "dispute_claim_line",
        "/lines/{hold_id}/dispute",
        "Dispute the cancellation of a line of my claim, within the dispute window",
        tag="vendor",
        roles=VENDOR,
        handler=dispute_claim_line,
        body=s.REASON,
        example_body={"reason": "la facture a été envoyée le 2 octobre"},
        example_response=with_first_line(status="disputed", dispute_until=None),
        ownership="self",
    ),
    claim_operation(
        "reject_claim_lines",
        "/rejections",
        "Reject lines of a claim under review: returned to claimable, or cancelled",
        description="A cancelled line gives the teacher the credit back when the claim is "
        "approved, unless the vendor disputes it in time and the dispute is overturned.",
        handler=reject_claim_lines,
        body=s.obj(
            {
                "lines": s.array(
                    s.obj(
                        {
                            "hold_id": s.UUID,
                            "reason": s.TEXT,
                            "outcome": s.enum(RETURN_TO_CLAIMABLE, CANCEL),
                        }
                    ),
                    max_items=MAX_CLAIM_LINES,
                    min_items=1,
                )
            }
        ),
        example_body={
            "lines": [{"hold_id": HOLD_ID, "reason": "commande en double", "outcome": CANCEL}]
        },
        example_response=CANCELLED_CLAIM,
    ),
    claim_operation(
        "approve_claim",
        "/approve",
        "Approve a claim, once no dispute is open or still possible",
        handler=approve_claim,
        example_response=APPROVED_CLAIM,
    ),
    claim_operation(
        "decide_dispute",
        "/lines/{hold_id}/decision",
        "Uphold or overturn a disputed rejection",
        handler=decide_dispute,
        body=s.obj({"decision": s.enum(UPHELD, OVERTURNED)}),
        example_body={"decision": OVERTURNED},
        example_response=with_first_line(status="overturned", dispute_until=None),
    ),
)
