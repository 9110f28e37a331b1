"""Vendors' API keys over HTTP: the operator issues them, the vendor or the operator revokes.

The secret is in the answer to the issue, once; only its hash is kept (`api.keys`). A key
may be limited to some of the vendor's operations (scopes); none means all of them.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from api import schemas as s
from api.common import path_uuid
from api.spec import Call, Operation, Reply, Role
from ledger.errors import Forbidden, InvalidInput, NotFound

OPERATION_ID = {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,63}$"}
KEY_ID = {"type": "string", "pattern": "^[0-9a-f]{32}$"}
KEY = s.obj(
    {
        "key_id": KEY_ID,
        "subject": s.TEXT,
        "role": s.TEXT,
        "scopes": s.array(OPERATION_ID, max_items=100),
        "created_at": s.DATETIME,
        "created_by": s.TEXT,
        "revoked_at": s.nullable(s.DATETIME),
        "revoked_by": s.nullable(s.TEXT),
    }
)
VENDOR_ID = "3f1e2a4b-6c7d-5e8f-9a0b-1c2d3e4f5a6b"
EXAMPLE_KEY_ID = "4b1d0c9e8f7a6b5c4d3e2f1a0b9c8d7e"


def vendor_operations() -> set[str]:
    """The operation ids a vendor may call: the scopes a vendor's key may name."""
    from api.routes import ROUTES  # the table lists this module: read it when asked

    return {op.operation_id for op in ROUTES if Role.VENDOR in op.roles}


def key_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "created_at": row["created_at"].isoformat(),
        "revoked_at": None if row["revoked_at"] is None else row["revoked_at"].isoformat(),
    }


async def issue_api_key(call: Call) -> Reply:
    services, vendor_id = call.services, call.path["vendor_id"]
    try:
        await services.run(services.vendors.get_vendor, UUID(vendor_id))
    except ValueError:
        raise NotFound(f"no vendor {vendor_id[:60]!r}") from None
    scopes = call.body.get("scopes", [])
    unknown = sorted(set(scopes) - vendor_operations())
    if unknown:
        raise InvalidInput(f"{unknown[0]!r} is not an operation a vendor may call", field="/scopes")
    key_id, secret = await services.run(
        lambda: services.api_keys.issue(
            subject=vendor_id, role=Role.VENDOR, scopes=scopes, by=call.caller.name, now=call.now
        )
    )
    return Reply({"key_id": key_id, "secret": secret, "scopes": sorted(set(scopes))}, status=201)


async def list_api_keys(call: Call) -> Reply:
    vendor_id = str(path_uuid(call, "vendor_id"))
    if call.caller.role is Role.VENDOR and call.caller.subject != vendor_id:
        raise Forbidden("a vendor sees only its own keys")
    rows = await call.services.run(call.services.api_keys.list_for, vendor_id)
    return Reply({"keys": [key_json(row) for row in rows]})


async def revoke_api_key(call: Call) -> Reply:
    services, key_id = call.services, call.path["key_id"]
    if call.caller.role is Role.VENDOR:
        rows = await services.run(services.api_keys.list_for, call.caller.subject)
        if key_id not in {row["key_id"] for row in rows}:
            raise Forbidden("a vendor revokes only its own keys")
    revoked = await services.run(
        lambda: services.api_keys.revoke(key_id, by=call.caller.name, now=call.now)
    )
    return Reply({"key_id": key_id, "revoked": revoked})


EXAMPLE_ROW = {
    "key_id": EXAMPLE_KEY_ID,
    "subject": VENDOR_ID,
    "role": "vendor",
    "scopes": ["capture_redemption"],
    "created_at": "2027-09-01T08:00:00+00:00",
    "created_by": "operator:op-1",
    "revoked_at": None,
    "revoked_by": None,
}

OPERATIONS = (
    Operation(
        operation_id="issue_api_key",
        method="POST",
        path="/v1/vendors/{vendor_id}/api-keys",
        summary="Issue an API key to a vendor's system; the secret is shown this once",
        tag="operator",
        roles=frozenset({Role.OPERATOR}),
        handler=issue_api_key,
        status=201,
        body=s.obj({}, {"scopes": s.array(OPERATION_ID, max_items=100)}),
        response=s.obj(
            {
                "key_id": KEY_ID,
                "secret": {"type": "string", "pattern": "^tlk_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$"},
                "scopes": s.array(OPERATION_ID, max_items=100),
            }
        ),
        example_body={"scopes": ["capture_redemption", "release_redemption"]},
        example_response={
            "key_id": EXAMPLE_KEY_ID,
            "secret": f"tlk_{EXAMPLE_KEY_ID}_" + "A" * 43,
            "scopes": ["capture_redemption", "release_redemption"],
        },
        ownership="any",
    ),
    Operation(
        operation_id="list_api_keys",
        method="GET",
        path="/v1/vendors/{vendor_id}/api-keys",
        summary="A vendor's API keys, without their secrets",
        tag="vendor",
        roles=frozenset({Role.VENDOR, Role.OPERATOR, Role.AUDITOR}),
        handler=list_api_keys,
        response=s.obj({"keys": s.array(KEY, max_items=1000)}),
        example_response={"keys": [EXAMPLE_ROW]},
        ownership="self",
    ),
    Operation(
        operation_id="revoke_api_key",
        method="POST",
        path="/v1/api-keys/{key_id}/revoke",
        summary="Revoke an API key for good (the vendor's own, or any for the operator)",
        tag="vendor",
        roles=frozenset({Role.VENDOR, Role.OPERATOR}),
        handler=revoke_api_key,
        response=s.obj({"key_id": KEY_ID, "revoked": s.BOOLEAN}),
        example_response={"key_id": EXAMPLE_KEY_ID, "revoked": True},
        ownership="self",
    ),
)
