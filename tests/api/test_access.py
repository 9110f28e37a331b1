"""Vendors' API keys over real HTTP: issued by the operator, scoped, revocable."""

from __future__ import annotations


async def hold_for(api, campaign: str, resource: str) -> str:
    order = {"resource_id": resource, "order_ref": "commande-1"}
    status, hold = await api.call(
        "POST",
        f"/v1/campaigns/{campaign}/holds",
        api.token("teacher", "t1"),
        money=True,
        json=order,
    )
    assert status == 201
    return hold["redemption_code"]


async def test_a_vendor_system_captures_with_its_key_until_the_key_is_revoked(api):
    vendor = api.vendor()
    resource, campaign = api.resource(vendor, "lecture"), api.campaign()
    operator = api.token("operator", "op-1")
    status, issued = await api.call(
        "POST", f"/v1/vendors/{vendor}/api-keys", operator, json={"scopes": ["capture_redemption"]}
    )
    assert status == 201 and issued["secret"].startswith("tlk_")
    system = {"Authorization": f"Bearer {issued['secret']}"}

    code = await hold_for(api, campaign, resource)
    status, _ = await api.call(
        "POST", f"/v1/redemptions/{code}/capture", system, money=True, json={"amount_cents": 1990}
    )
    assert status == 200
    status, problem = await api.call("GET", f"/v1/redemptions/{code}", system)
    assert (status, problem["code"]) == (403, "forbidden")  # outside its scopes

    status, listed = await api.call(
        "GET", f"/v1/vendors/{vendor}/api-keys", api.token("vendor", vendor)
    )
    assert [k["key_id"] for k in listed["keys"]] == [issued["key_id"]]
    assert issued["secret"] not in str(listed)

    status, revoked = await api.call("POST", f"/v1/api-keys/{issued['key_id']}/revoke", operator)
    assert (status, revoked["revoked"]) == (200, True)
    code = await hold_for(api, campaign, resource)
    status, problem = await api.call(
        "POST", f"/v1/redemptions/{code}/capture", system, money=True, json={"amount_cents": 1990}
    )
    assert (status, problem["code"]) == (401, "invalid_token")


async def test_keys_name_only_operations_a_vendor_may_call(api):
    vendor = api.vendor()
    operator = api.token("operator", "op-1")
    status, problem = await api.call(
        "POST", f"/v1/vendors/{vendor}/api-keys", operator, json={"scopes": ["place_hold"]}
    )
    assert (status, problem["field"]) == (422, "/scopes")
    status, problem = await api.call(
        "POST", "/v1/vendors/00000000-0000-4000-8000-000000000000/api-keys", operator, json={}
    )
    assert (status, problem["code"]) == (404, "vendor_not_found")
