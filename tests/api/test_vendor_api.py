"""Vendors and the catalogue over real HTTP, on each store: onboarding, review, bank
details, listing, updating, withdrawing, searching."""

from __future__ import annotations

from uuid import UUID

APPLICATION = {
    "legal_name": "Géo Junior",
    "siren": "552 100 554",
    "siret": "552 100 554 00013",
    "contact_ref": "contact-552100554",
    "iban": "FR76 2004 1010 0505 0001 3026 052",
}
NEW_IBAN = "FR7610278060000002000140178"


async def test_an_operator_onboards_a_vendor_and_reviews_its_bank_details(api):
    operator, auditor = api.token("operator", "op-1"), api.token("auditor", "audit-1")
    before = api.vouchers.recorder.max_notification_id()
    for field, bad, code in (
        ("siret", "55210055400014", "invalid_siret"),
        ("iban", "FR7620041010050500013026053", "invalid_iban"),
        ("siren", "552100555", "invalid_siren"),
    ):
        status, problem = await api.call(
            "POST", "/v1/vendors", operator, json={**APPLICATION, field: bad}
        )
        assert (status, problem["code"]) == (422, code)
    status, problem = await api.call(
        "POST", "/v1/vendors", api.token("vendor", "v"), json=APPLICATION
    )
    assert (status, problem["code"]) == (403, "forbidden")
    assert api.vouchers.recorder.max_notification_id() == before

    status, vendor = await api.call("POST", "/v1/vendors", operator, json=APPLICATION)
    assert status == 201 and (vendor["status"], vendor["iban"]) == ("applied", None)
    assert (
        vendor["applied_iban"] == "FR7620041010050500013026052" and vendor["siren"] == "552100554"
    )
    assert await api.call("POST", "/v1/vendors", operator, json=APPLICATION) == (201, vendor)
    vendor_id = vendor["vendor_id"]
    path = f"/v1/vendors/{vendor_id}"
    seller = api.token("vendor", vendor_id)

    assert (await api.call("GET", path, seller)) == (200, vendor)
    assert (await api.call("GET", path, auditor))[0] == 200
    for stranger in (api.token("vendor", api.vendor()), api.token("teacher", "t1")):
        status, problem = await api.call("GET", path, stranger)
        assert (status, problem["code"]) == (403, "forbidden")
    status, problem = await api.call("POST", f"{path}/approve", seller)
    assert (status, problem["code"]) == (403, "forbidden")

    status, approved = await api.call("POST", f"{path}/approve", operator)
    assert (status, approved["status"], approved["iban"]) == (
        200,
        "approved",
        vendor["applied_iban"],
    )
    status, problem = await api.call("POST", f"{path}/suspend", operator, json={})
    assert (status, problem["code"], problem["field"]) == (422, "invalid_input", "/reason")
    reason = {"reason": "contrôle en cours"}
    status, suspended = await api.call("POST", f"{path}/suspend", operator, json=reason)
    assert (status, suspended["status"]) == (200, "suspended")
    status, reinstated = await api.call("POST", f"{path}/reinstate", operator)
    assert (status, reinstated["status"]) == (200, "approved")

    changes = f"{path}/bank-changes"
    status, problem = await api.call("POST", changes, seller, json={"iban": NEW_IBAN})
    assert (status, problem["code"]) == (400, "malformed_request")  # keyed
    status, problem = await api.call("POST", changes, seller, key="b1", json={"iban": "FR76 123"})
    assert (status, problem["code"]) == (422, "invalid_iban")
    status, requested = await api.call("POST", changes, seller, key="b1", json={"iban": NEW_IBAN})
    assert status == 201 and requested["vendor"]["bank_changes"][0]["status"] == "pending"
    assert requested["vendor"]["iban"] == vendor["applied_iban"]  # paid as before meanwhile
    again = await api.call("POST", changes, seller, key="b1", json={"iban": NEW_IBAN})
    assert again == (201, requested)
    reviews = f"{path}/bank-change-reviews"
    approval = {"change_id": requested["change_id"], "decision": "approve"}
    status, problem = await api.call("POST", reviews, seller, json=approval)
    assert (status, problem["code"]) == (403, "forbidden")
    status, reviewed = await api.call("POST", reviews, operator, json=approval)
    assert (status, reviewed["iban"]) == (200, NEW_IBAN)
    assert reviewed["bank_changes"][0]["status"] == "approved"

    status, second = await api.call(
        "POST", changes, seller, key="b2", json={"iban": vendor["applied_iban"]}
    )
    refusal = {"change_id": second["change_id"], "decision": "reject"}
    status, problem = await api.call("POST", reviews, operator, json=refusal)
    assert (status, problem["code"], problem["field"]) == (422, "invalid_input", "reason")
    refusal["reason"] = "RIB illisible"
    status, reviewed = await api.call("POST", reviews, operator, json=refusal)
    assert status == 200 and reviewed["iban"] == NEW_IBAN
    assert [c["status"] for c in reviewed["bank_changes"]] == ["approved", "rejected"]


async def test_an_operator_rejects_an_application(api):
    operator = api.token("operator", "op-1")
    _, vendor = await api.call("POST", "/v1/vendors", operator, json=APPLICATION)
    path = f"/v1/vendors/{vendor['vendor_id']}"
    status, rejected = await api.call(
        "POST", f"{path}/reject", operator, json={"reason": "SIRET radié"}
    )
    assert (status, rejected["status"], rejected["iban"]) == (200, "rejected", None)
    assert await api.call("POST", f"{path}/reject", operator, json={"reason": "SIRET radié"}) == (
        200,
        rejected,
    )  # a retry


async def test_a_move_outside_the_vendor_lifecycle_is_a_conflict(api):
    operator = api.token("operator", "op-1")
    _, vendor = await api.call("POST", "/v1/vendors", operator, json=APPLICATION)
    path = f"/v1/vendors/{vendor['vendor_id']}"
    await api.call("POST", f"{path}/reject", operator, json={"reason": "SIRET radié"})
    status, problem = await api.call("POST", f"{path}/approve", operator)
    assert (status, problem["code"], problem["status"]) == (409, "vendor_status_conflict", 409)
    assert problem["current_status"] == "rejected"  # the vendor's, beside the HTTP status


LISTING = {
    "reference": "maths-cycle-3",
    "title": "Maths cycle 3",
    "kind": "online_service",
    "levels": ["college", "elementaire"],
    "price_cents": 2400,
}


async def test_a_vendor_keeps_its_catalogue_and_every_role_searches_it(api):
    vendor = api.vendor()
    other_id = api.vendor("Géo Junior", "552100554", "55210055400013")
    other = api.token("vendor", other_id)
    seller, teacher = api.token("vendor", vendor), api.token("teacher", "t1")
    resources = f"/v1/vendors/{vendor}/resources"

    status, listed = await api.call("POST", resources, seller, json=LISTING)
    assert status == 201 and (listed["revision"], listed["labels"]) == (1, [])
    assert listed["levels"] == ["elementaire", "college"] and listed["description"] == ""
    assert await api.call("POST", resources, seller, json=LISTING) == (201, listed)
    before = api.vouchers.recorder.max_notification_id()
    for who, body, expected in (
        (other, LISTING, (403, "forbidden")),
        (teacher, LISTING, (403, "forbidden")),
        (seller, {**LISTING, "price_cents": 2500}, (422, "idempotency_key_reused")),
        (seller, {**LISTING, "price_cents": 0}, (422, "invalid_input")),
        (seller, {**LISTING, "levels": ["université"]}, (422, "invalid_input")),
    ):
        status, problem = await api.call("POST", resources, who, json=body)
        assert (status, problem["code"]) == expected
    assert api.vouchers.recorder.max_notification_id() == before

    mine = f"{resources}/{listed['resource_id']}"
    change = {"price_cents": 2190, "if_revision": 1}
    status, updated = await api.call("POST", f"{mine}/terms", seller, json=change)
    assert (status, updated["revision"], updated["price_cents"]) == (200, 2, 2190)
    status, problem = await api.call("POST", f"{mine}/terms", seller, json=change)
    assert (status, problem["code"]) == (409, "resource_revision_mismatch")
    # Another vendor reaches it neither through its own path nor through mine.
    through_theirs = f"/v1/vendors/{other_id}/resources/{listed['resource_id']}/terms"
    for path in (through_theirs, f"{mine}/terms"):
        status, problem = await api.call("POST", path, other, json={"price_cents": 1})
        assert (status, problem["code"]) == (403, "forbidden")
    status, problem = await api.call("GET", resources, other)
    assert (status, problem["code"]) == (403, "forbidden")
    api.catalogue.grant_label(
        UUID(listed["resource_id"]),
        "francais",
        reason="avis favorable",
        decided_on=api.clock.now.date(),
        by="committee",
        now=api.clock.now,
    )

    status, found = await api.call(
        "GET", "/v1/catalogue?label=francais&level=college&kind=online_service", teacher
    )
    assert status == 200 and [r["resource_id"] for r in found["items"]] == [listed["resource_id"]]
    assert (found["items"][0]["price_cents"], found["items"][0]["labels"]) == (2190, ["francais"])
    _, found = await api.call("GET", "/v1/catalogue?level=lycee", teacher)
    assert found["items"] == []
    status, problem = await api.call("GET", "/v1/catalogue?limit=100000", teacher)
    assert (status, problem["code"]) == (422, "invalid_input")
    status, problem = await api.call("GET", "/v1/catalogue?colour=blue", teacher)
    assert (status, problem["code"]) == (422, "invalid_input")
    status, one = await api.call("GET", f"/v1/catalogue/{listed['resource_id']}", teacher)
    assert (status, one["price_cents"], one["labels"], one["revision"]) == (
        200,
        2190,
        ["francais"],
        2,
    )

    withdraw = {"reason": "nouvelle édition en préparation"}
    status, withdrawn = await api.call("POST", f"{mine}/withdraw", seller, json=withdraw)
    assert (status, withdrawn["is_listed"]) == (200, False)
    _, found = await api.call("GET", "/v1/catalogue", api.token("auditor", "a1"))
    assert found["items"] == []
    status, own = await api.call("GET", resources, seller)
    assert status == 200 and [(r["reference"], r["is_listed"]) for r in own["items"]] == [
        ("maths-cycle-3", False)
    ]
    status, problem = await api.call("POST", f"{mine}/terms", seller, json={"title": "Maths"})
    assert (status, problem["code"]) == (409, "resource_withdrawn")
    status, relisted = await api.call("POST", f"{mine}/relist", seller, json={"reason": "prête"})
    assert (status, relisted["is_listed"]) == (200, True)
    _, found = await api.call("GET", "/v1/catalogue?kind=online_service", teacher)
    assert [r["resource_id"] for r in found["items"]] == [listed["resource_id"]]
