"""Vendors over HTTP: onboarding, review and bank details (statements: `api.vendor_statements_api`).

A vendor is an EdTech company; its token's subject is its vendor id (`str(Vendor.id)`).
The operator admits it (`apply`, then `approve` or `reject`), may `suspend` and
`reinstate` it, and reviews every change of its bank details: money goes only to an IBAN
the operator has reviewed (`ledger.vendors`). A vendor reads its own profile and statement;
the operator and the auditor read any. A full IBAN is shown to no one else: the catalogue
(`api.catalogue_api`), which every role reads, names vendors by id only.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from api import schemas as s
from api.common import (
    OPERATOR,
    VENDOR,
    VENDOR_OR_STAFF,
    body_uuid,
    iso,
    own_vendor,
    path_uuid,
    scoped_key,
)
from api.spec import Call, Handler, Operation, Reply
from ledger.errors import MalformedRequest
from ledger.vendors import Vendor
from projections.vendors import VendorStatementProjection

MAX_BANK_CHANGES_SHOWN = 100
STATEMENTS = VendorStatementProjection.name


# Vendors ------------------------------------------------------------------------------


def vendor_json(vendor: Vendor) -> dict[str, Any]:
    reviewed = vendor.bank_history[-1] if vendor.bank_history else None
    changes = list(vendor.bank_changes.values())[-MAX_BANK_CHANGES_SHOWN:]
    return {
        "vendor_id": str(vendor.id),
        "legal_name": vendor.legal_name,
        "siren": vendor.siren,
        "siret": vendor.siret,
        "contact_ref": vendor.contact_ref,
        "status": vendor.status.value,
        "applied_at": iso(vendor.created_on),
        "applied_iban": vendor.applied_iban,
        "iban": reviewed.iban if reviewed else None,
        "iban_in_force_from": iso(reviewed.in_force_from) if reviewed else None,
        "bank_changes": [
            {
                "change_id": str(c.change_id),
                "iban": c.iban,
                "status": c.status.value,
                "requested_by": c.requested_by,
            }
            for c in changes
        ],
    }


async def vendor_reply(call: Call, vendor_id: UUID, status: int = 200) -> Reply:
    vendor = await call.services.run(call.services.vendors.get_vendor, vendor_id)
    return Reply(vendor_json(vendor), status=status)


async def apply_vendor(call: Call) -> Reply:
    services, body = call.services, call.body
    vendor_id = await services.run(
        lambda: services.vendors.apply_vendor(
            legal_name=body["legal_name"],
            siren=body["siren"],
            siret=body["siret"],
            contact_ref=body["contact_ref"],
            iban=body["iban"],
            by=call.caller.name,
            now=call.now,
        )
    )
    return await vendor_reply(call, vendor_id, status=201)


async def get_vendor(call: Call) -> Reply:
    return await vendor_reply(call, own_vendor(call))


def lifecycle(command: str, with_reason: bool) -> Handler:
    """The handler of one move of the vendor's lifecycle (`ledger.vendors.TRANSITIONS`)."""

    async def handler(call: Call) -> Reply:
        vendor_id = path_uuid(call, "vendor_id")
        act = getattr(call.services.vendors, command)
        extra = {"reason": call.body["reason"]} if with_reason else {}
        await call.services.run(lambda: act(vendor_id, by=call.caller.name, now=call.now, **extra))
        return await vendor_reply(call, vendor_id)

    handler.__name__ = f"{command}_vendor"
    return handler


async def request_bank_change(call: Call) -> Reply:
    vendor_id = own_vendor(call)
    if call.idempotency_key is None:
        raise MalformedRequest(
            "a bank details change is keyed: send an Idempotency-Key header",
            field="Idempotency-Key",
        )
    services = call.services
    change_id = await services.run(
        lambda: services.vendors.request_bank_change(
            vendor_id,
            key=scoped_key(call.caller, call.idempotency_key),
            iban=call.body["iban"],
            by=call.caller.name,
            now=call.now,
        )
    )
    reply = await vendor_reply(call, vendor_id, status=201)
    return Reply({"change_id": str(change_id), "vendor": reply.body}, status=201)


async def review_bank_change(call: Call) -> Reply:
    """Approve or reject a pending bank details change; a rejection says why."""
    vendor_id, body = path_uuid(call, "vendor_id"), call.body
    change_id = body_uuid(body["change_id"], "change_id")
    vendors, by, now = call.services.vendors, call.caller.name, call.now
    if body["decision"] == "approve":
        await call.services.run(
            lambda: vendors.approve_bank_change(vendor_id, change_id, by=by, now=now)
        )
    else:
        reason = body.get("reason", "")
        await call.services.run(
            lambda: vendors.reject_bank_change(vendor_id, change_id, reason=reason, by=by, now=now)
        )
    return await vendor_reply(call, vendor_id)


# Schemas and examples -----------------------------------------------------------------

TYPED = {"type": "string", "minLength": 1, "maxLength": 64, "description": "as typed"}
BANK_CHANGE = s.obj(
    {
        "change_id": s.UUID,
        "iban": s.TEXT,
        "status": s.enum("pending", "approved", "rejected"),
        "requested_by": s.TEXT,
    }
)
VENDOR_PROFILE = s.obj(
    {
        "vendor_id": s.UUID,
        "legal_name": s.TEXT,
        "siren": s.TEXT,
        "siret": s.TEXT,
        "contact_ref": s.TEXT,
        "status": s.enum("applied", "approved", "rejected", "suspended"),
        "applied_at": s.DATETIME,
        "applied_iban": s.TEXT,
        "iban": s.nullable(s.TEXT),
        "iban_in_force_from": s.nullable(s.DATETIME),
        "bank_changes": s.array(BANK_CHANGE, max_items=MAX_BANK_CHANGES_SHOWN),
    }
)
VENDOR_ID = "3f1e2a4b-6c7d-5e8f-9a0b-1c2d3e4f5a6b"
CHANGE_ID = "5c4b3a29-1807-5f6e-8d7c-6b5a49382716"
EXAMPLE_VENDOR = {
    "vendor_id": VENDOR_ID,
    "legal_name": "Les Petits Savants",
    "siren": "732829320",
    "siret": "73282932000074",
    "contact_ref": "contact-732829320",
    "status": "approved",
    "applied_at": "2027-09-01T08:00:00+00:00",
    "applied_iban": "FR7630006000011234567890189",
    "iban": "FR7630006000011234567890189",
    "iban_in_force_from": "2027-09-02T10:00:00+00:00",
    "bank_changes": [],
}


def vendor_move(command: str, summary: str, with_reason: bool) -> Operation:
    return Operation(
        operation_id=f"{command}_vendor",
        method="POST",
        path=f"/v1/vendors/{{vendor_id}}/{command}",
        summary=summary,
        tag="operator",
        roles=OPERATOR,
        handler=lifecycle(command, with_reason),
        body=s.REASON if with_reason else None,
        response=VENDOR_PROFILE,
        example_body={"reason": "pièces justificatives manquantes"} if with_reason else None,
        example_response=EXAMPLE_VENDOR,
        ownership="any",
    )


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        operation_id="apply_vendor",
        method="POST",
        path="/v1/vendors",
        summary="Record a company's application to be listed, with its SIREN, SIRET and IBAN",
        description="The vendor's id derives from its SIREN: the same application again "
        "answers the same vendor; other details under the same SIREN are refused.",
        tag="operator",
        roles=OPERATOR,
        handler=apply_vendor,
        status=201,
        body=s.obj(
            {
                "legal_name": s.TITLE,
                "siren": TYPED,
                "siret": TYPED,
                "contact_ref": s.OPAQUE_ID,
                "iban": TYPED,
            }
        ),
        response=VENDOR_PROFILE,
        example_body={
            "legal_name": "Les Petits Savants",
            "siren": "732 829 320",
            "siret": "732 829 320 00074",
            "contact_ref": "contact-732829320",
            "iban": "FR76 3000 6000 0112 3456 7890 189",
        },
        example_response={
            **EXAMPLE_VENDOR,
            "status": "applied",
            "iban": None,
            "iban_in_force_from": None,
        },
    ),
    Operation(
        operation_id="get_vendor",
        method="GET",
        path="/v1/vendors/{vendor_id}",
        summary="A vendor's profile, status and bank details (a vendor reads its own)",
        tag="vendor",
        roles=VENDOR_OR_STAFF,
        handler=get_vendor,
        response=VENDOR_PROFILE,
        example_response=EXAMPLE_VENDOR,
        ownership="self",
    ),
    vendor_move("approve", "Approve an application: its IBAN is reviewed with it", False),
    vendor_move("reject", "Reject an application, with the reason", True),
    vendor_move("suspend", "Suspend an approved vendor: no new orders, no payments", True),
    vendor_move("reinstate", "Reinstate a suspended vendor", False),
    Operation(
        operation_id="request_bank_change",
        method="POST",
        path="/v1/vendors/{vendor_id}/bank-changes",
        summary="Ask to be paid on a new IBAN, from when the operator approves it",
        description="Keyed: send an Idempotency-Key header; a retry answers the same change. "
        "One change is pending at a time; payments go to the reviewed IBAN meanwhile.",
        tag="vendor",
        roles=VENDOR,
        handler=request_bank_change,
        status=201,
        body=s.obj({"iban": TYPED}),
        response=s.obj({"change_id": s.UUID, "vendor": VENDOR_PROFILE}),
        example_body={"iban": "FR14 2004 1010 0505 0001 3M02 606"},
        example_response={
            "change_id": CHANGE_ID,
            "vendor": {
                **EXAMPLE_VENDOR,
                "bank_changes": [
                    {
                        "change_id": CHANGE_ID,
                        "iban": "FR1420041010050500013M02606",
                        "status": "pending",
                        "requested_by": f"vendor:{VENDOR_ID}",
                    }
                ],
            },
        },
        ownership="self",
    ),
    Operation(
        operation_id="review_bank_change",
        method="POST",
        path="/v1/vendors/{vendor_id}/bank-change-reviews",
        summary="Approve or reject a vendor's pending bank details change",
        description="An approved IBAN is paid from now on; a rejection needs a reason. The "
        "reviewer is never the change's requester. The same decision again changes nothing.",
        tag="operator",
        roles=OPERATOR,
        handler=review_bank_change,
        body=s.obj(
            {"change_id": s.UUID, "decision": s.enum("approve", "reject")},
            {"reason": s.TEXT},
        ),
        response=VENDOR_PROFILE,
        example_body={"change_id": CHANGE_ID, "decision": "reject", "reason": "RIB illisible"},
        example_response={
            **EXAMPLE_VENDOR,
            "bank_changes": [
                {
                    "change_id": CHANGE_ID,
                    "iban": "FR1420041010050500013M02606",
                    "status": "rejected",
                    "requested_by": f"vendor:{VENDOR_ID}",
                }
            ],
        },
        ownership="any",
    ),
)

# Listed after the catalogue (`api.catalogue_api`), where the docs have always listed it.
