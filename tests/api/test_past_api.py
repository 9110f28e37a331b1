"""Read models as of the past over real HTTP, on each store: a vendor's statement, the
device pipeline and the internet fund, each as it stood at a log position or a moment."""

from __future__ import annotations

from uuid import UUID

from tests import helpers

SEPTEMBER = {"from": "2027-09-01", "to": "2027-09-30"}


async def test_a_vendor_statement_is_read_as_of_a_position_and_a_moment(api):
    vendor = api.vendor()
    campaign = UUID(api.campaign(("t1",)))
    hold = api.vouchers.execute(helpers.place(campaign, "t1", "h1", 1990, vendor=vendor))
    before = api.vouchers.recorder.max_notification_id()
    api.vouchers.execute(helpers.capture(campaign, "t1", "c1", hold.hold_id, 1990))
    auditor, path = api.token("auditor", "cour-des-comptes"), f"/v1/vendors/{vendor}/statement"

    status, now = await api.call("GET", path, auditor, params=SEPTEMBER)
    assert (status, now["captured_cents"]) == (200, 1990)
    assert now["position"] == api.vouchers.recorder.max_notification_id()
    status, then = await api.call("GET", path, auditor, params={**SEPTEMBER, "position": before})
    assert (status, then["captured_cents"], then["position"]) == (200, 0, before)
    assert then.keys() == now.keys()
    own = api.token("vendor", vendor)
    at = {**SEPTEMBER, "at": helpers.START.isoformat()}  # granted at START, captured after
    status, dated = await api.call("GET", path, own, params=at)
    assert (status, dated["captured_cents"]) == (200, 0) and dated["position"] <= before


async def test_the_pipeline_and_the_fund_are_read_as_of_the_past_and_not_beyond_the_log(api):
    api.campaign(("t1",))
    head = api.vouchers.recorder.max_notification_id()
    auditor = api.token("auditor", "cour-des-comptes")
    for path in (
        "/v1/device-pipeline",
        "/v1/device-pipeline/stuck",
        "/v1/audit/fund",
        "/v1/audit/fund/levies",
        "/v1/audit/fund/subsidies",
    ):
        status, now = await api.call("GET", path, auditor)
        assert status == 200, (path, now)
        status, then = await api.call("GET", path, auditor, params={"position": 0})
        assert (status, then["position"]) == (200, 0) and then.keys() == now.keys(), path
        status, problem = await api.call("GET", path, auditor, params={"position": head + 1})
        assert (status, problem["field"]) == (422, "/position"), path
    status, pipeline = await api.call(
        "GET", "/v1/device-pipeline", auditor, params={"at": helpers.END.isoformat()}
    )
    assert (status, pipeline["position"], pipeline["pledged"]) == (200, head, 0)
    status, problem = await api.call("GET", "/v1/audit/fund/cofinancing/lyon", auditor)
    assert (status, problem["code"]) == (404, "cofinancing_not_found")
    status, problem = await api.call("GET", "/v1/audit/fund", api.token("teacher", "t1"))
    assert status == 403
