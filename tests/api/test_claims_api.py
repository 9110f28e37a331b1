"""Claims and payments over real HTTP, on each store: a vendor claims by redemption codes,
the operator reviews, batches, pays and reconciles; refunds after approval raise debit notes
on the vendor's statement."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ledger.claims import DISPUTE_WINDOW_DAYS
from ledger.sepa import check_pain001
from ledger.statements import CSV_COLUMNS

VENDOR_IBAN = "FR7630006000011234567890189"  # the conftest's seeded vendors'


async def captured(world: Any, campaign: str, teacher: str, resource: str, seller: Any) -> str:
    """A teacher's hold on a resource, captured in full by its vendor: its code."""
    order = {"resource_id": resource, "order_ref": f"commande-{world.serial}"}
    status, hold = await world.call(
        "POST",
        f"/v1/campaigns/{campaign}/holds",
        world.token("teacher", teacher),
        money=True,
        json=order,
    )
    assert status == 201
    code = hold["redemption_code"]
    status, _ = await world.call(
        "POST",
        f"/v1/redemptions/{code}/capture",
        seller,
        money=True,
        json={"amount_cents": hold["amount_cents"]},
    )
    assert status == 200
    return code


def statement_csv(batch: dict[str, Any], booked_on: str) -> bytes:
    """The bank's CSV export for the day the batch left: its transfers and a fee."""
    rows = [";".join(CSV_COLUMNS)]
    for n, transfer in enumerate(batch["transfers"], start=1):
        cents = transfer["amount_cents"]
        amount = f"-{cents // 100},{cents % 100:02d}"
        iban = transfer["creditor_iban"]
        rows.append(f"{booked_on};{amount};EUR;{transfer['end_to_end_id']};{iban};REL-{n}")
    rows.append(f"{booked_on};-12,50;EUR;FRAIS TENUE DE COMPTE;;REL-FRAIS")
    return ("\n".join(rows) + "\n").encode()


async def test_a_claim_goes_from_redemption_codes_to_a_reconciled_payment(api):
    vendor = api.vendor()
    seller, operator = api.token("vendor", vendor), api.token("operator", "op-1")
    lecture, atlas = api.resource(vendor, "lecture-cp", 1990), api.resource(vendor, "atlas", 1500)
    campaign = api.campaign()
    codes = [
        await captured(api, campaign, "t1", lecture, seller),
        await captured(api, campaign, "t1", atlas, seller),
        await captured(api, campaign, "t2", lecture, seller),
    ]

    claims = f"/v1/vendors/{vendor}/claims"
    body = {"redemption_codes": codes}
    status, claim = await api.call("POST", claims, seller, key="c1", json=body)
    assert status == 201 and (claim["status"], claim["lines_count"]) == ("submitted", 3)
    assert (claim["captured_cents"], claim["claimed_cents"]) == (5480, 5480)
    assert await api.call("POST", claims, seller, key="c1", json=body) == (201, claim)
    path = f"/v1/claims/{claim['claim_id']}"
    assert await api.call("GET", path, seller) == (200, claim)
    status, listed = await api.call("GET", claims, seller)
    assert status == 200 and [c["claim_id"] for c in listed["items"]] == [claim["claim_id"]]

    cancelled = claim["lines"][2]["hold_id"]
    rejection = {
        "lines": [{"hold_id": cancelled, "reason": "commande en double", "outcome": "cancel"}]
    }
    status, reviewed = await api.call("POST", f"{path}/rejections", operator, json=rejection)
    assert status == 200
    line = next(x for x in reviewed["lines"] if x["hold_id"] == cancelled)
    assert line["status"] == "cancelled" and line["dispute_until"] is not None
    assert await api.call("POST", f"{path}/rejections", operator, json=rejection) == (200, reviewed)
    status, problem = await api.call("POST", f"{path}/approve", operator)
    assert (status, problem["code"]) == (409, "claim_awaiting_disputes")

    api.clock.now += timedelta(days=DISPUTE_WINDOW_DAYS + 1)
    status, problem = await api.call(
        "POST", f"{path}/lines/{cancelled}/dispute", seller, json={"reason": "trop tard"}
    )
    assert (status, problem["code"]) == (409, "dispute_window_closed")
    status, approved = await api.call("POST", f"{path}/approve", operator)
    assert (status, approved["status"], approved["payable_cents"]) == (200, "approved", 3490)
    _, credit = await api.call(
        "GET", f"/v1/campaigns/{campaign}/credit", api.token("teacher", "t2")
    )
    assert credit["available_cents"] == 7800  # the cancelled line's credit is back

    value_date = (api.clock.now + timedelta(days=2)).date().isoformat()
    order = {"claim_ids": [claim["claim_id"]], "value_date": value_date}
    status, batch = await api.call("POST", "/v1/payment-batches", operator, key="b1", json=order)
    assert status == 201 and (batch["status"], batch["total_cents"]) == ("created", 3490)
    [transfer] = batch["transfers"]
    assert (transfer["creditor_iban"], transfer["creditor_name"], transfer["amount_cents"]) == (
        VENDOR_IBAN,
        "Les Petits Savants",
        3490,
    )
    batch_path = f"/v1/payment-batches/{batch['batch_id']}"
    assert await api.call("GET", batch_path, api.token("auditor", "a1")) == (200, batch)
    status, problem = await api.call("GET", batch_path, seller)
    assert (status, problem["code"]) == (403, "forbidden")

    response = await api.client.get(f"{batch_path}/pain001", headers=operator)
    xml = await response.read()
    assert response.status == 200 and response.content_type == "application/xml"
    check_pain001(xml)
    assert batch["batch_id"].replace("-", "").encode() in xml and b"34.90" in xml
    assert (await api.call("GET", f"{batch_path}/pain001", operator))[1] == xml  # same file

    paid = {"bank_reference": "BQ-2027-0001"}
    status, batch = await api.call("POST", f"{batch_path}/paid", operator, money=True, json=paid)
    assert (status, batch["status"], batch["bank_reference"]) == (200, "paid", "BQ-2027-0001")
    _, claim = await api.call("GET", path, seller)
    assert (claim["status"], claim["bank_reference"]) == ("paid", "BQ-2027-0001")

    statement = statement_csv(batch, value_date)
    headers = {**operator, "Content-Type": "text/csv"}
    status, found = await api.call("POST", f"{batch_path}/statements", headers, data=statement)
    assert status == 200 and found["matched"] == [
        {"end_to_end_id": transfer["end_to_end_id"], "line_number": 2, "bank_reference": "REL-1"}
    ]
    assert found["unmatched"] == [{"line_number": 3, "reason": "unknown_reference"}]
    assert (found["missing"], found["duplicates"], found["is_complete"]) == ([], [], False)
    again = await api.call("POST", f"{batch_path}/statements", headers, data=statement)
    assert again == (200, found)
    _, batch = await api.call("GET", batch_path, operator)
    assert batch["statements_read"] == 1


async def test_a_vendor_disputes_a_cancelled_line_and_the_operator_overturns_it(api):
    vendor = api.vendor()
    seller, operator = api.token("vendor", vendor), api.token("operator", "op-1")
    resource, campaign = api.resource(vendor, "lecture-cp", 1990), api.campaign()
    codes = [await captured(api, campaign, t, resource, seller) for t in ("t1", "t2")]
    _, claim = await api.call(
        "POST", f"/v1/vendors/{vendor}/claims", seller, money=True, json={"redemption_codes": codes}
    )
    path, hold = f"/v1/claims/{claim['claim_id']}", claim["lines"][0]["hold_id"]
    rejection = {"lines": [{"hold_id": hold, "reason": "facture absente", "outcome": "cancel"}]}
    await api.call("POST", f"{path}/rejections", operator, json=rejection)

    dispute = {"reason": "facture envoyée le 2 octobre"}
    other = api.token("vendor", api.vendor("Géo Junior", "552100554", "55210055400013"))
    status, problem = await api.call("POST", f"{path}/lines/{hold}/dispute", other, json=dispute)
    assert (status, problem["code"]) == (403, "forbidden")
    status, disputed = await api.call("POST", f"{path}/lines/{hold}/dispute", seller, json=dispute)
    assert status == 200 and disputed["lines"][0]["status"] == "disputed"
    assert await api.call("POST", f"{path}/lines/{hold}/dispute", seller, json=dispute) == (
        200,
        disputed,
    )
    status, problem = await api.call("POST", f"{path}/approve", operator)
    assert (status, problem["code"]) == (409, "claim_awaiting_disputes")
    decision = {"decision": "overturned"}
    status, decided = await api.call("POST", f"{path}/lines/{hold}/decision", seller, json=decision)
    assert (status, decided["code"]) == (403, "forbidden")
    status, decided = await api.call(
        "POST", f"{path}/lines/{hold}/decision", operator, json=decision
    )
    assert status == 200 and decided["lines"][0]["status"] == "overturned"
    status, approved = await api.call("POST", f"{path}/approve", operator)
    assert (status, approved["payable_cents"]) == (200, 3980)


async def test_a_refund_after_approval_shows_as_a_debit_note_on_the_vendor_statement(api):
    vendor = api.vendor()
    seller, operator = api.token("vendor", vendor), api.token("operator", "op-1")
    resource, campaign = api.resource(vendor, "lecture-cp", 1990), api.campaign()
    code = await captured(api, campaign, "t1", resource, seller)
    _, claim = await api.call(
        "POST",
        f"/v1/vendors/{vendor}/claims",
        seller,
        money=True,
        json={"redemption_codes": [code]},
    )
    await api.call("POST", f"/v1/claims/{claim['claim_id']}/approve", operator)
    status, _ = await api.call(
        "POST", f"/v1/redemptions/{code}/refunds", seller, money=True, json={"amount_cents": 500}
    )
    assert status == 201

    period = f"from=2027-09-01&to={api.clock.now.date().isoformat()}"
    path = f"/v1/vendors/{vendor}/statement?{period}"
    status, statement = await api.call("GET", path, seller)
    assert status == 200
    assert (statement["captured_cents"], statement["refunded_cents"]) == (1990, 500)
    assert (statement["claims_approved_cents"], statement["paid_cents"]) == (1990, 0)
    assert (statement["debit_notes_count"], statement["debit_notes_cents"]) == (1, 500)
    assert (statement["balance_owed_cents"], statement["open_debit_notes_cents"]) == (1490, 500)
    [note] = statement["debit_notes"]
    assert (note["claim_id"], note["debit_cents"], note["batch_id"]) == (
        claim["claim_id"],
        500,
        None,
    )
    assert await api.call("GET", path, api.token("auditor", "a1")) == (200, statement)
    other = api.token("vendor", api.vendor("Géo Junior", "552100554", "55210055400013"))
    status, problem = await api.call("GET", path, other)
    assert (status, problem["code"]) == (403, "forbidden")
    status, problem = await api.call(
        "GET", f"/v1/vendors/{vendor}/statement?from=2027-10-01&to=2027-09-01", seller
    )
    assert (status, problem["code"]) == (422, "invalid_period")


async def test_claims_refused_change_nothing(api):
    vendor = api.vendor()
    other = api.vendor("Géo Junior", "552100554", "55210055400013")
    seller, stranger = api.token("vendor", vendor), api.token("vendor", other)
    resource, campaign = api.resource(vendor, "lecture-cp", 1990), api.campaign()
    code, second = [await captured(api, campaign, t, resource, seller) for t in ("t1", "t2")]
    _, pending = await api.call(
        "POST",
        f"/v1/campaigns/{campaign}/holds",
        api.token("teacher", "t1"),
        money=True,
        json={"resource_id": resource, "order_ref": "pas encore livré"},
    )
    mine, theirs = f"/v1/vendors/{vendor}/claims", f"/v1/vendors/{other}/claims"
    forged = code[:-1] + ("a" if code[-1] != "a" else "b")
    before = api.vouchers.recorder.max_notification_id()
    for who, path, codes, expected in (
        (stranger, mine, [code], (403, "forbidden")),  # another vendor's path
        (stranger, theirs, [code], (403, "forbidden")),  # a hold placed at another vendor
        (seller, mine, [forged], (404, "hold_not_found")),
        (seller, mine, [pending["redemption_code"]], (409, "hold_not_captured")),
        (seller, mine, [code, code], (422, "invalid_claim")),
        (api.token("operator", "op-1"), mine, [code], (403, "forbidden")),
    ):
        status, problem = await api.call(
            "POST", path, who, money=True, json={"redemption_codes": codes}
        )
        assert (status, problem["code"]) == expected
    status, problem = await api.call("POST", mine, seller, json={"redemption_codes": [code]})
    assert (status, problem["code"]) == (400, "malformed_request")  # no Idempotency-Key
    assert api.vouchers.recorder.max_notification_id() == before

    status, claim = await api.call(
        "POST", mine, seller, key="c1", json={"redemption_codes": [code]}
    )
    assert status == 201
    after = api.vouchers.recorder.max_notification_id()
    status, problem = await api.call(
        "POST", mine, seller, key="c1", json={"redemption_codes": [second]}
    )
    assert (status, problem["code"]) == (422, "idempotency_key_reused")
    status, problem = await api.call(
        "POST", mine, seller, key="c2", json={"redemption_codes": [code]}
    )
    assert (status, problem["code"]) == (409, "redemption_already_claimed")
    status, problem = await api.call("GET", f"/v1/claims/{claim['claim_id']}", stranger)
    assert (status, problem["code"]) == (403, "forbidden")
    status, problem = await api.call("GET", mine, stranger)
    assert (status, problem["code"]) == (403, "forbidden")
    status, problem = await api.call(
        "POST",
        "/v1/payment-batches",
        api.token("operator", "op-1"),
        money=True,
        json={"claim_ids": ["00000000-0000-4000-8000-000000000000"], "value_date": "2027-12-01"},
    )
    assert (status, problem["code"]) == (404, "claim_not_found")
    assert api.vouchers.recorder.max_notification_id() == after


async def test_a_claim_under_review_cannot_be_batched(api):
    vendor = api.vendor()
    seller = api.token("vendor", vendor)
    resource, campaign = api.resource(vendor, "lecture-cp", 1990), api.campaign()
    code = await captured(api, campaign, "t1", resource, seller)
    _, claim = await api.call(
        "POST",
        f"/v1/vendors/{vendor}/claims",
        seller,
        money=True,
        json={"redemption_codes": [code]},
    )
    status, problem = await api.call(
        "POST",
        "/v1/payment-batches",
        api.token("operator", "op-1"),
        money=True,
        json={"claim_ids": [claim["claim_id"]], "value_date": "2027-12-01"},
    )
    assert (status, problem["code"], problem["status"]) == (409, "claim_status_conflict", 409)
    assert problem["current_status"] == "submitted"
