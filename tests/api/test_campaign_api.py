"""Operators, the labelling committee and local authorities over real HTTP, on each store."""

from __future__ import annotations

from uuid import UUID

from tests import helpers

CSV = {"Content-Type": "text/csv"}
NO_SUCH_RESOURCE = "00000000-0000-4000-8000-000000000000"
TERMS = {
    "name": "Rentrée 2027",
    "face_value_cents": 7800,
    "valid_from": "2027-09-01T00:00:00+00:00",
    "valid_until": "2028-06-28T00:00:00+02:00",
    "budget_cents": 7800 * 200,
    "funders": [{"funder_id": "etat", "weight": 7}, {"funder_id": "region-idf", "weight": 3}],
}


def csv_of(*teachers: str, header: bool = True) -> bytes:
    return ("teacher_id\n" * header + "".join(f"{t}\n" for t in teachers)).encode()


async def open_campaign(api, key: str = "rentree-2027") -> str:
    status, campaign = await api.call(
        "POST", "/v1/campaigns", api.token("operator", "op-1"), key=key, json=TERMS
    )
    assert status == 201, campaign
    return campaign["campaign_id"]


async def test_an_operator_opens_a_campaign_and_a_file_with_a_bad_line_grants_nothing(api):
    operator = api.token("operator", "op-1")
    status, campaign = await api.call("POST", "/v1/campaigns", operator, key="c1", json=TERMS)
    assert status == 201 and campaign["is_open"] and campaign["remaining_cents"] == 7800 * 200
    assert [f["contribution_cents"] for f in campaign["funders"]] == [7800 * 140, 7800 * 60]
    assert campaign["valid_until"] == "2028-06-27T22:00:00+00:00"
    assert await api.call("POST", "/v1/campaigns", operator, key="c1", json=TERMS) == (
        201,
        campaign,
    )
    other = {**TERMS, "budget_cents": 7800}
    status, problem = await api.call("POST", "/v1/campaigns", operator, key="c1", json=other)
    assert (status, problem["code"]) == (422, "idempotency_key_reused")
    path = f"/v1/campaigns/{campaign['campaign_id']}"
    for reader in (operator, api.token("auditor", "cour-des-comptes")):
        assert await api.call("GET", path, reader) == (200, campaign)
    status, problem = await api.call("GET", path, api.token("teacher", "t1"))
    assert (status, problem["code"]) == (403, "forbidden")

    before = api.vouchers.recorder.max_notification_id()
    bad = csv_of("t1", "t 2", "t3")
    status, problem = await api.call(
        "POST", f"{path}/grants", operator, key="g1", data=bad, headers=CSV
    )
    assert (status, problem["code"], problem["line"]) == (422, "invalid_input", 3)
    assert problem["detail"].startswith("line 3: ")
    status, problem = await api.call(
        "POST", f"{path}/grants", operator, key="g1", data=b"t1,t2\n", headers=CSV
    )
    assert (status, problem["line"]) == (422, 1)
    assert api.vouchers.recorder.max_notification_id() == before
    assert not api.vouchers.has_account(UUID(campaign["campaign_id"]), "t1")

    good = csv_of("t1", "t2", "t3", "t1")
    status, report = await api.call(
        "POST", f"{path}/grants", operator, key="g1", data=good, headers=CSV
    )
    assert (status, report) == (
        200,
        {
            "campaign_id": campaign["campaign_id"],
            "teachers": 3,
            "granted": 3,
            "already_granted": 0,
            "chunks": 1,
        },
    )
    status, credit = await api.call("GET", f"{path}/credit", api.token("teacher", "t2"))
    assert (status, credit["available_cents"]) == (200, 7800)


async def test_a_retried_grant_upload_answers_the_same_and_grants_once(api):
    operator = api.token("operator", "op-1")
    campaign = await open_campaign(api)
    grants = f"/v1/campaigns/{campaign}/grants"
    teachers = [f"t{n:03d}" for n in range(120)]  # three chunks of at most 50
    first = await api.call(
        "POST", grants, operator, key="g1", data=csv_of(*teachers, header=False), headers=CSV
    )
    assert first[0] == 200 and (first[1]["granted"], first[1]["chunks"]) == (120, 3)
    log = api.vouchers.recorder.max_notification_id()
    again = await api.call("POST", grants, operator, key="g1", data=csv_of(*teachers), headers=CSV)
    assert again == first
    assert api.vouchers.recorder.max_notification_id() == log
    _, seen = await api.call("GET", f"/v1/campaigns/{campaign}", operator)
    assert (seen["teachers_granted"], seen["granted_cents"]) == (120, 120 * 7800)

    status, problem = await api.call(
        "POST", grants, operator, key="g1", data=csv_of("t999"), headers=CSV
    )
    assert (status, problem["code"]) == (422, "idempotency_key_reused")
    status, report = await api.call(
        "POST", grants, operator, key="g2", data=csv_of("t000", "t999"), headers=CSV
    )
    assert (status, report["granted"], report["already_granted"]) == (200, 1, 1)
    status, problem = await api.call("POST", grants, operator, data=csv_of("t5"), headers=CSV)
    assert (status, problem["code"]) == (400, "malformed_request")  # no Idempotency-Key


async def test_the_operator_sets_what_the_credit_may_buy(api):
    vendor = api.vendor()
    resource = api.resource(vendor, "lecture-cp", 1990)
    campaign = api.campaign()
    operator, teacher = api.token("operator", "op-1"), api.token("teacher", "t1")
    path = f"/v1/campaigns/{campaign}/eligibility"
    rule = {"required_labels": ["francais"], "kind_caps_cents": {"digital_textbook": 5000}}
    assert await api.call("PUT", path, operator, json=rule) == (
        200,
        {"campaign_id": campaign, **rule},
    )
    _, seen = await api.call("GET", f"/v1/campaigns/{campaign}", operator)
    assert seen["eligibility"] == rule
    status, problem = await api.call("PUT", path, operator, json={"required_labels": ["rouge"]})
    assert (status, problem["code"]) == (422, "invalid_input")
    status, problem = await api.call("PUT", path, teacher, json=rule)
    assert (status, problem["code"]) == (403, "forbidden")

    order = {"resource_id": resource, "order_ref": "commande-1"}
    holds = f"/v1/campaigns/{campaign}/holds"
    status, problem = await api.call("POST", holds, teacher, money=True, json=order)
    assert (status, problem["code"], problem["reason"]) == (
        409,
        "resource_not_eligible",
        "missing_labels",
    )
    assert await api.call("PUT", path, operator, json={}) == (
        200,
        {"campaign_id": campaign, "required_labels": [], "kind_caps_cents": {}},
    )
    status, _ = await api.call("POST", holds, teacher, money=True, json=order)
    assert status == 201


async def test_the_committee_grants_and_withdraws_labels(api):
    resource = api.resource(api.vendor(), "lecture-cp")
    committee = api.token("committee", "comite-1")
    decision = {"label": "francais", "reason": "Avis du comité", "decided_on": "2027-09-10"}
    labels = f"/v1/resources/{resource}/labels"
    status, problem = await api.call("POST", labels, api.token("teacher", "t1"), json=decision)
    assert (status, problem["code"]) == (403, "forbidden")
    assert api.catalogue.get_resource(UUID(resource)).current.labels == ()

    assert await api.call("POST", labels, committee, json=decision) == (
        200,
        {"resource_id": resource, "labels": ["francais"]},
    )
    status, problem = await api.call("POST", labels, committee, json=decision)
    assert (status, problem["code"]) == (409, "label_already_granted")
    later = {**decision, "label": "reconnu_interet_pedagogique", "decided_on": "2027-09-12"}
    status, problem = await api.call("POST", labels, committee, json=later)
    assert (status, problem["code"]) == (422, "invalid_period")  # decided after "now"
    assert [x.value for x in api.catalogue.get_resource(UUID(resource)).current.labels] == [
        "francais"
    ]

    withdraw = f"{labels}/withdraw"
    assert await api.call("POST", withdraw, committee, json=decision) == (
        200,
        {"resource_id": resource, "labels": []},
    )
    status, problem = await api.call("POST", withdraw, committee, json=decision)
    assert (status, problem["code"]) == (409, "label_not_granted")
    missing = f"/v1/resources/{NO_SUCH_RESOURCE}/labels"
    status, problem = await api.call("POST", missing, committee, json=decision)
    assert (status, problem["code"]) == (404, "resource_not_found")


async def test_an_authority_tops_up_a_teacher_who_sees_it_in_their_credit(api):
    campaign = api.campaign()
    authority = api.token("authority", "commune-75056")
    path = f"/v1/campaigns/{campaign}/teachers/t1/top-ups"
    body = {"amount_cents": 2000, "kind": "commune"}
    status, topup = await api.call("POST", path, authority, key="tu-1", json=body)
    assert status == 201 and (topup["authority_id"], topup["amount_cents"]) == (
        "commune-75056",
        2000,
    )
    assert await api.call("POST", path, authority, key="tu-1", json=body) == (201, topup)
    status, credit = await api.call(
        "GET", f"/v1/campaigns/{campaign}/credit", api.token("teacher", "t1")
    )
    assert (status, credit["topped_up_cents"], credit["available_cents"]) == (200, 2000, 9800)
    assert credit["account_id"] == topup["account_id"]

    before = api.vouchers.recorder.max_notification_id()
    status, problem = await api.call(
        "POST", path, api.token("operator", "op-1"), money=True, json=body
    )
    assert (status, problem["code"]) == (403, "forbidden")
    status, problem = await api.call(
        "POST", f"/v1/campaigns/{campaign}/teachers/t9/top-ups", authority, money=True, json=body
    )
    assert (status, problem["code"]) == (404, "credit_account_not_found")
    assert api.vouchers.recorder.max_notification_id() == before


async def test_an_authority_tops_up_only_the_teachers_of_its_territory_as_the_grant_file_says(
    api,
):
    operator = api.token("operator", "op-1")
    campaign = await open_campaign(api)
    grant_file = (
        b"teacher_id,territories\n"
        b"paris-1,commune:75056 departement:75 region:11\n"
        b"reunion-1,commune:97411 departement:974 region:04\n"
        b"nowhere-1\n"
    )
    grants = f"/v1/campaigns/{campaign}/grants"
    status, report = await api.call(
        "POST", grants, operator, key="g1", data=grant_file, headers=CSV
    )
    assert (status, report["granted"]) == (200, 3)
    body = {"amount_cents": 1500, "kind": "departement"}
    reunion = api.token("authority", "departement-974")

    def top_up(teacher: str) -> str:
        return f"/v1/campaigns/{campaign}/teachers/{teacher}/top-ups"

    status, topup = await api.call("POST", top_up("reunion-1"), reunion, money=True, json=body)
    assert (status, topup["authority_id"]) == (201, "departement-974")
    before = api.vouchers.recorder.max_notification_id()
    for teacher in ("paris-1", "nowhere-1"):
        status, problem = await api.call("POST", top_up(teacher), reunion, money=True, json=body)
        assert (status, problem["code"], problem["territory"]) == (
            403,
            "outside_territory",
            "departement:974",
        )
    status, problem = await api.call(
        "POST", top_up("reunion-1"), reunion, money=True, json={**body, "kind": "region"}
    )
    assert (status, problem["code"]) == (422, "invalid_input")
    assert api.vouchers.recorder.max_notification_id() == before

    status, problem = await api.call(
        "POST", grants, operator, key="g2", data=b"t9,commune:75056 canton:12\n", headers=CSV
    )
    assert (status, problem["line"]) == (422, 1)
    listed_twice = b"t9,commune:75056\nt9,commune:69123\n"
    status, problem = await api.call(
        "POST", grants, operator, key="g2", data=listed_twice, headers=CSV
    )
    assert (status, problem["line"]) == (422, 2)
    assert api.vouchers.recorder.max_notification_id() == before


async def test_the_operator_closes_the_campaign_and_expires_credit_after_its_end(api):
    campaign = api.campaign(("t1", "t2"))
    operator, teacher = api.token("operator", "op-1"), api.token("teacher", "t1")
    path = f"/v1/campaigns/{campaign}"
    status, closed = await api.call("POST", f"{path}/close", operator, money=True)
    unspent = 98 * 7800
    assert (status, closed["returned_cents"]) == (200, unspent)
    assert closed["returned"] == [
        {"funder_id": "etat", "returned_cents": unspent * 7 // 10},
        {"funder_id": "region-idf", "returned_cents": unspent * 3 // 10},
    ]
    status, problem = await api.call(
        "POST", f"{path}/grants", operator, money=True, data=csv_of("t3"), headers=CSV
    )
    assert (status, problem["code"]) == (409, "campaign_not_open")

    status, problem = await api.call("POST", f"{path}/year-end-expiry", operator, money=True)
    assert (status, problem["code"]) == (409, "campaign_still_running")
    _, credit = await api.call("GET", f"{path}/credit", teacher)
    assert (credit["available_cents"], credit["is_expired"]) == (7800, False)

    api.clock.now = helpers.AFTER
    status, expiry = await api.call("POST", f"{path}/year-end-expiry", operator, key="ye")
    assert (status, expiry) == (
        200,
        {
            "campaign_id": campaign,
            "credit_returned_cents": 2 * 7800,
            "budget_returned_cents": unspent,
        },
    )
    _, credit = await api.call("GET", f"{path}/credit", teacher)
    assert (credit["available_cents"], credit["returned_cents"], credit["is_expired"]) == (
        0,
        7800,
        True,
    )
    status, again = await api.call("POST", f"{path}/year-end-expiry", operator, key="ye")
    assert (status, again["credit_returned_cents"]) == (200, 0)  # nothing left to return
