"""Teachers and vendors over real HTTP, on each store: hold, capture, release, refund."""

from __future__ import annotations


async def test_a_teacher_holds_and_the_vendor_captures_and_refunds_by_the_code(api):
    vendor = api.vendor()
    resource = api.resource(vendor, "lecture-cp", 1990)
    campaign = api.campaign()
    teacher, seller = api.token("teacher", "t1"), api.token("vendor", vendor)

    status, credit = await api.call("GET", f"/v1/campaigns/{campaign}/credit", teacher)
    assert status == 200 and credit["available_cents"] == 7800 and credit["holds"] == []

    order = {"resource_id": resource, "order_ref": "commande-1"}
    status, hold = await api.call(
        "POST", f"/v1/campaigns/{campaign}/holds", teacher, key="h1", json=order
    )
    assert status == 201 and hold["amount_cents"] == 1990
    code = hold["redemption_code"]
    # A retry with the same key answers the same hold; another body under it is refused.
    again = await api.call("POST", f"/v1/campaigns/{campaign}/holds", teacher, key="h1", json=order)
    assert again == (201, hold)
    other = {**order, "order_ref": "commande-2"}
    status, problem = await api.call(
        "POST", f"/v1/campaigns/{campaign}/holds", teacher, key="h1", json=other
    )
    assert (status, problem["code"]) == (422, "idempotency_key_reused")

    status, seen = await api.call("GET", f"/v1/redemptions/{code}", seller)
    assert (status, seen["status"], seen["amount_cents"]) == (200, "pending", 1990)
    status, captured = await api.call(
        "POST", f"/v1/redemptions/{code}/capture", seller, money=True, json={"amount_cents": 1500}
    )
    assert status == 200 and (captured["captured_cents"], captured["released_cents"]) == (1500, 490)
    status, refund = await api.call(
        "POST", f"/v1/redemptions/{code}/refunds", seller, money=True, json={"amount_cents": 500}
    )
    assert status == 201 and refund["amount_cents"] == 500

    status, credit = await api.call("GET", f"/v1/campaigns/{campaign}/credit", teacher)
    assert (credit["available_cents"], credit["captured_cents"]) == (7800 - 1000, 1000)
    assert [h["status"] for h in credit["holds"]] == ["captured"]
    assert "redemption_code" not in credit["holds"][0]  # only pending holds show one


async def test_a_teacher_cancels_a_pending_hold(api):
    vendor = api.vendor()
    resource = api.resource(vendor, "lecture-cp", 1990)
    campaign = api.campaign()
    teacher = api.token("teacher", "t1")
    order = {"resource_id": resource, "order_ref": "commande-1"}
    _, hold = await api.call(
        "POST", f"/v1/campaigns/{campaign}/holds", teacher, money=True, json=order
    )
    path = f"/v1/campaigns/{campaign}/holds/{hold['hold_id']}/cancel"
    status, released = await api.call("POST", path, teacher, money=True)
    assert (status, released["released_cents"]) == (200, 1990)
    _, credit = await api.call("GET", f"/v1/campaigns/{campaign}/credit", teacher)
    assert credit["available_cents"] == 7800 and credit["holds"][0]["status"] == "released"
    # Another teacher cannot cancel it: it is not on their account.
    status, problem = await api.call("POST", path, api.token("teacher", "t2"), money=True)
    assert (status, problem["code"]) == (404, "hold_not_found")


async def test_refusals_are_problems_with_stable_codes_and_change_nothing(api):
    vendor = api.vendor()
    other_vendor = api.vendor("Géo Junior", "552100554", "55210055400013")
    resource = api.resource(vendor, "lecture-cp", 1990)
    campaign = api.campaign()
    teacher = api.token("teacher", "t1")
    holds = f"/v1/campaigns/{campaign}/holds"
    order = {"resource_id": resource, "order_ref": "commande-1"}
    before = api.vouchers.recorder.max_notification_id()

    status, problem = await api.call("POST", holds, {}, money=True, json=order)
    assert (status, problem["code"]) == (401, "unauthenticated")
    status, problem = await api.call(
        "POST", holds, {"Authorization": "Bearer v1.bad.sig"}, money=True, json=order
    )
    assert (status, problem["code"]) == (401, "invalid_token")
    status, problem = await api.call(
        "POST", holds, api.token("vendor", vendor), money=True, json=order
    )
    assert (status, problem["code"]) == (403, "forbidden")
    status, problem = await api.call("POST", holds, teacher, json=order)
    assert (status, problem["code"]) == (400, "malformed_request")  # no Idempotency-Key
    status, problem = await api.call("POST", holds, teacher, money=True, json={**order, "price": 1})
    assert (status, problem["code"], problem["field"]) == (422, "invalid_input", "/price")
    status, problem = await api.call(
        "POST",
        holds,
        teacher,
        money=True,
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert status == 400
    status, problem = await api.call(
        "POST", holds, api.token("teacher", "t9"), money=True, json=order
    )
    assert (status, problem["code"]) == (404, "credit_account_not_found")
    assert problem["type"].endswith("credit_account_not_found") and "Traceback" not in str(problem)
    assert api.vouchers.recorder.max_notification_id() == before

    _, hold = await api.call("POST", holds, teacher, money=True, json=order)
    code = hold["redemption_code"]
    status, problem = await api.call(
        "GET", f"/v1/redemptions/{code}", api.token("vendor", other_vendor)
    )
    assert (status, problem["code"]) == (403, "forbidden")
    forged = code[:-1] + ("a" if code[-1] != "a" else "b")
    status, problem = await api.call(
        "GET", f"/v1/redemptions/{forged}", api.token("vendor", vendor)
    )
    assert (status, problem["code"]) == (404, "hold_not_found")
    status, problem = await api.call("GET", "/v1/no-such-route", teacher)
    assert (status, problem["code"]) == (404, "route_not_found")


async def test_guessing_redemption_codes_is_rate_limited(api):
    vendor = api.token("vendor", api.vendor())
    statuses = []
    for n in range(api.settings.code_guesses_per_minute + 2):
        status, problem = await api.call("GET", f"/v1/redemptions/rc1{n:068d}", vendor)
        statuses.append(status)
    assert (
        statuses[: api.settings.code_guesses_per_minute]
        == [404] * api.settings.code_guesses_per_minute
    )
    assert statuses[-1] == 429 and problem["code"] == "rate_limited"


async def test_health_readiness_metrics_and_the_openapi_document(api):
    assert (await api.client.get("/healthz")).status == 200
    assert (await api.client.get("/readyz")).status == 200
    await api.call("GET", "/v1/redemptions/x", api.token("vendor", "v"))
    metrics = await (await api.client.get("/metrics")).text()
    assert 'tirelire_requests_total{operation="get_redemption",status="404"} 1.0' in metrics
    document = await (await api.client.get("/openapi.json")).json()
    assert (
        document["openapi"].startswith("3.1")
        and "/v1/redemptions/{code}/capture" in document["paths"]
    )
    docs = await (await api.client.get("/docs")).text()
    assert "capture_redemption" in docs
