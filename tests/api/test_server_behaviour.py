"""What every operation shares: the document, concurrent keys, failures that are not ours
to show, and limits on what a client may send."""

from __future__ import annotations

import asyncio
import time

from openapi_spec_validator import validate

from api.openapi import build_document, check_examples
from api.routes import ROUTES
from api.services import SERVICES


def test_every_operation_is_documented_with_examples_that_keep_to_its_schemas():
    assert check_examples(ROUTES) == []
    validate(build_document(ROUTES, version="test"))


async def test_a_second_request_with_a_key_still_in_flight_is_a_conflict(api):
    vendor = api.vendor()
    resource, campaign = api.resource(vendor, "lecture"), api.campaign()
    services = api.client.server.app[SERVICES]
    slow = services.redemptions.hold_command

    def slowly(**kwargs):  # type: ignore[no-untyped-def]
        time.sleep(0.3)
        return slow(**kwargs)

    services.redemptions.hold_command = slowly
    teacher = api.token("teacher", "t1")
    order = {"resource_id": resource, "order_ref": "commande-1"}
    path = f"/v1/campaigns/{campaign}/holds"
    first, second = await asyncio.gather(
        api.call("POST", path, teacher, key="same", json=order),
        api.call("POST", path, teacher, key="same", json=order),
    )
    assert sorted([first[0], second[0]]) == [201, 409]
    conflict = first[1] if first[0] == 409 else second[1]
    assert conflict["code"] == "request_in_flight"
    # Once the first is done, the same request answers as it did.
    again = await api.call("POST", path, teacher, key="same", json=order)
    assert again[0] == 201


async def test_an_unforeseen_failure_is_a_bare_500_without_a_trace(api, caplog):
    services = api.client.server.app[SERVICES]

    def broken(_account_id):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret internals: /srv/tirelire/db password=hunter2")

    services.vouchers.get_account = broken
    campaign = "00000000-0000-4000-8000-000000000000"
    status, problem = await api.call(
        "GET", f"/v1/campaigns/{campaign}/credit", api.token("teacher", "t1")
    )
    assert (status, problem["code"]) == (500, "internal_error")
    assert "hunter2" not in str(problem) and "Traceback" not in str(problem)
    assert "hunter2" in caplog.text  # the log has it, for the operator


async def test_a_body_beyond_the_limit_is_refused_before_it_is_read(api):
    vendor = api.vendor()
    code = "rc1" + "a" * 68
    big = b'{"amount_cents": 1, "pad": "' + b"x" * (api.settings.max_body_bytes + 10) + b'"}'
    status, problem = await api.call(
        "POST",
        f"/v1/redemptions/{code}/capture",
        api.token("vendor", vendor),
        money=True,
        data=big,
        headers={"Content-Type": "application/json"},
    )
    assert (status, problem["code"]) == (413, "payload_too_large")
