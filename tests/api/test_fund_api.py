"""The internet fund over HTTP, on each store: the regulator's rate, operators' levies and
their arrears, household subsidies that never show who the household is, and territories'
co-financing from pledge to close. Every refusal is followed by a check that the log did
not grow."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from ledger.parties import company, organisation, school
from tests import helpers

DAY = timedelta(days=1)
ORANGE, FREE = "380129866", "421938861"  # telecom operators (SIREN)
DONOR = company("38012986646850")
COLLECTOR, REFURBISHER, EDUCATION = "73282932000074", "55210055400013", "44306184100047"
UAI = "0750655E"
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
NAME, ADDRESS = "Hélène Dupré-Lenoir", "3 rue de la Paix, 75002 Paris"
RATE = {
    "rate_numerator": 35,
    "rate_denominator": 10_000,
    "reference": "Décision ARCEP n° 2027-0456",
    "decided_on": "2027-02-15",
    "due_on": "2027-12-31",
}
AFTER_DUE = datetime(2028, 1, 15, tzinfo=UTC)


def log_size(api: Any) -> int:
    return api.vouchers.recorder.max_notification_id() or 0


def levy_path(siren: str, what: str = "") -> str:
    return f"/v1/telecom-operators/{siren}/levies/2027{what}"


async def levied(api: Any, paid_cents: int = 350_000) -> None:
    """The 2027 rate decided, and Orange's levy of 3 500 € paid (in part) into the fund."""
    regulator, orange = (
        api.token("regulator", "arcep"),
        api.token("telecom_operator", f"telecom:{ORANGE}"),
    )
    assert (await api.call("POST", "/v1/levy-periods/2027/rate", regulator, money=True, json=RATE))[
        0
    ] == 201
    body = {"revenue_cents": 100_000_000}
    assert (await api.call("POST", levy_path(ORANGE), orange, money=True, json=body))[0] == 201
    if paid_cents:
        payment = {"payment_ref": "VIR-ORANGE-1", "amount_cents": paid_cents}
        status, _ = await api.call(
            "POST", levy_path(ORANGE, "/payments"), orange, money=True, json=payment
        )
        assert status == 200


def seed_territory(api: Any) -> None:
    bank, now = api.devices, helpers.START
    territory = {"code": "lyon", "name": "Lyon", "kind": "metropolis", "funder_id": "bdt"}
    bank.register_territory(**territory, budget_cents=1_000_000, by="o", now=now)
    for siret, role in [
        (COLLECTOR, "collector"),
        (REFURBISHER, "refurbisher"),
        (EDUCATION, "education_service"),
    ]:
        bank.approve_organisation(siret=siret, name=role, role=role, by="o", now=now)


def allocated(api: Any, pupil: str, serial: str) -> UUID:
    """A device taken through the chain and allocated to a pupil of UAI's school."""
    bank, now = api.devices, helpers.START
    device = bank.pledge_device(
        donor=DONOR,
        territory="lyon",
        kind="laptop",
        serial_number=serial,
        make="Dell",
        model="Latitude 5490",
        by="donor",
        now=now,
    )
    for giver, receiver in [(DONOR, COLLECTOR), (organisation(COLLECTOR), REFURBISHER)]:
        bank.hand_over(device, giver=giver, receiver=organisation(receiver), by="u", now=now)
        bank.confirm_handover(device, receiver=organisation(receiver), by="u", now=now)
    bank.diagnose(device, refurbisher=REFURBISHER, grade="A", by="t", now=now)
    wipe = {
        "method": "crypto_erase",
        "certificate_id": f"BL-{serial}",
        "certificate_sha256": SHA256,
    }
    bank.wipe(device, refurbisher=REFURBISHER, **wipe, by="t", now=now)
    bank.refurbish(device, refurbisher=REFURBISHER, parts=["SSD"], cost_cents=4500, by="t", now=now)
    bank.allocate(
        device, education_service=EDUCATION, pupil_id=pupil, school_uai=UAI, by="e", now=now
    )
    return device


def delivered(api: Any, pupil: str, serial: str) -> UUID:
    device = allocated(api, pupil, serial)
    api.devices.deliver(device, refurbisher=REFURBISHER, by="driver", now=helpers.START)
    api.devices.confirm_handover(
        device, receiver=school(UAI), receiver_ref="cpe-42", by="cpe", now=helpers.START
    )
    return device


def subsidy(device: UUID, pupil: str, name: str = NAME, address: str = ADDRESS) -> dict[str, Any]:
    return {
        "household": {"name": name, "address": address},
        "period": "2027",
        "device_id": str(device),
        "pupil_id": pupil,
        "amount_cents": 10_000,
        "payee": "provider",
        "provider_siren": FREE,
    }


# Levies ---------------------------------------------------------------------------------


async def test_a_rate_decided_and_a_declaration_corrected_move_the_levy_by_the_difference(api):
    regulator = api.token("regulator", "arcep")
    orange = api.token("telecom_operator", f"telecom:{ORANGE}")
    status, rate = await api.call(
        "POST", "/v1/levy-periods/2027/rate", regulator, money=True, json=RATE
    )
    assert (status, rate["rate_numerator"], rate["rate_denominator"]) == (201, 7, 2000)
    again = await api.call("POST", "/v1/levy-periods/2027/rate", regulator, money=True, json=RATE)
    assert again == (201, rate)
    before = log_size(api)
    other = {**RATE, "rate_numerator": 40}
    status, problem = await api.call(
        "POST", "/v1/levy-periods/2027/rate", regulator, money=True, json=other
    )
    assert (status, problem["code"]) == (422, "rate_already_decided")
    assert log_size(api) == before

    status, levy = await api.call(
        "POST", levy_path(ORANGE), orange, money=True, json={"revenue_cents": 100_000_000}
    )
    assert (status, levy["levy_cents"], levy["outstanding_cents"]) == (201, 350_000, 350_000)
    correction = {"revenue_cents": 120_000_000, "reason": "chiffre d'affaires audité"}
    status, levy = await api.call(
        "POST", levy_path(ORANGE, "/corrections"), orange, key="c-1", json=correction
    )
    assert (status, levy["revenue_cents"], levy["levy_cents"]) == (200, 120_000_000, 420_000)
    before = log_size(api)
    retried = await api.call(
        "POST", levy_path(ORANGE, "/corrections"), orange, key="c-1", json=correction
    )
    assert retried == (200, levy) and log_size(api) == before
    down = {"revenue_cents": 90_000_000, "reason": "erreur de saisie"}
    status, levy = await api.call(
        "POST", levy_path(ORANGE, "/corrections"), orange, key="c-2", json=down
    )
    assert (status, levy["levy_cents"]) == (200, 315_000)

    free = api.token("telecom_operator", f"telecom:{FREE}")
    before = log_size(api)
    status, problem = await api.call("GET", levy_path(ORANGE), free)
    assert (status, problem["code"]) == (403, "forbidden")
    status, problem = await api.call(
        "POST", levy_path(ORANGE, "/corrections"), free, key="c-3", json=down
    )
    assert status == 403 and log_size(api) == before


async def test_payments_are_matched_and_late_and_missing_levies_are_listed(api):
    await levied(api, paid_cents=0)
    free = api.token("telecom_operator", f"telecom:{FREE}")
    orange = api.token("telecom_operator", f"telecom:{ORANGE}")
    operator, auditor = api.token("operator", "op-1"), api.token("auditor", "cour-des-comptes")
    assert (
        await api.call(
            "POST", levy_path(FREE), free, money=True, json={"revenue_cents": 20_000_000}
        )
    )[0] == 201
    payment = {"payment_ref": "VIR-ORANGE-1", "amount_cents": 350_000}
    status, levy = await api.call(
        "POST", levy_path(ORANGE, "/payments"), orange, key="p-1", json=payment
    )
    assert (status, levy["outstanding_cents"], levy["payments"][0]["late"]) == (200, 0, False)
    before = log_size(api)
    # The fund manager reports the same transfer: matched once.
    assert await api.call(
        "POST", levy_path(ORANGE, "/payments"), operator, key="p-2", json=payment
    ) == (200, levy)
    beyond = {"payment_ref": "VIR-ORANGE-2", "amount_cents": 1}
    status, problem = await api.call(
        "POST", levy_path(ORANGE, "/payments"), orange, key="p-3", json=beyond
    )
    assert (status, problem["code"]) == (409, "payment_exceeds_levy")
    assert log_size(api) == before

    api.clock.now = AFTER_DUE
    status, missing = await api.call("GET", "/v1/levy-periods/2027/levies?show=missing", operator)
    assert status == 200 and [levy["siren"] for levy in missing["levies"]] == [FREE]
    assert missing["levies"][0]["overdue_cents"] == 70_000
    late = {"payment_ref": "VIR-FREE-1", "amount_cents": 70_000}
    status, levy = await api.call(
        "POST", levy_path(FREE, "/payments"), operator, key="p-4", json=late
    )
    assert (status, levy["overdue_cents"], levy["payments"][0]["late"]) == (200, 0, True)
    status, listed = await api.call("GET", "/v1/levy-periods/2027/levies?show=late", auditor)
    assert [levy["siren"] for levy in listed["levies"]] == [FREE]
    status, everything = await api.call("GET", "/v1/levy-periods/2027/levies", auditor)
    assert (everything["total"], everything["operators"]) == (2, 2)
    status, fund = await api.call("GET", "/v1/internet-fund", auditor)
    assert fund == {"balance_cents": 420_000, "paid_in_cents": 420_000, "paid_out_cents": 0}


# Household subsidies --------------------------------------------------------------------


async def test_a_household_is_subsidised_once_a_period_however_its_name_is_typed(api):
    await levied(api)
    seed_territory(api)
    first, second = delivered(api, "pupil-1", "SN1"), delivered(api, "pupil-2", "SN2")
    rectorat = api.token("education_service", organisation(EDUCATION))
    status, paid = await api.call(
        "POST", "/v1/household-subsidies", rectorat, key="s-1", json=subsidy(first, "pupil-1")
    )
    assert (status, paid["amount_cents"], paid["pupil_id"]) == (201, 10_000, "pupil-1")
    before = log_size(api)
    retyped = subsidy(first, "pupil-1", "  helene DUPRE lenoir ", "3, Rue de la Paix 75002  PARIS")
    assert await api.call("POST", "/v1/household-subsidies", rectorat, key="s-2", json=retyped) == (
        201,
        paid,
    )
    sibling = subsidy(second, "pupil-2", "HÉLÈNE  dupré lenoir", "3 RUE DE LA PAIX - 75002 paris")
    status, problem = await api.call(
        "POST", "/v1/household-subsidies", rectorat, key="s-3", json=sibling
    )
    assert (status, problem["code"]) == (422, "household_already_subsidised")
    assert log_size(api) == before
    auditor = api.token("auditor", "cour-des-comptes")
    assert await api.call("GET", f"/v1/household-subsidies/{paid['subsidy_id']}", auditor) == (
        200,
        paid,
    )
    status, fund = await api.call("GET", "/v1/internet-fund", auditor)
    assert fund["balance_cents"] == 340_000


async def test_a_subsidy_naming_a_device_not_delivered_to_the_pupil_is_refused(api):
    await levied(api)
    seed_territory(api)
    device = allocated(api, "pupil-1", "SN1")
    rectorat = api.token("education_service", organisation(EDUCATION))
    before = log_size(api)
    status, problem = await api.call(
        "POST", "/v1/household-subsidies", rectorat, key="s-1", json=subsidy(device, "pupil-1")
    )
    assert (status, problem["code"]) == (409, "device_not_delivered_to_pupil")
    other = api.token("education_service", organisation("48223541300010"))
    status, problem = await api.call(
        "POST", "/v1/household-subsidies", other, key="s-2", json=subsidy(device, "pupil-1")
    )
    assert (status, problem["code"]) == (403, "forbidden")
    assert log_size(api) == before


async def test_the_household_s_name_and_address_appear_in_no_answer_and_no_log(api, caplog):
    caplog.set_level(logging.DEBUG)
    await levied(api)
    seed_territory(api)
    device = delivered(api, "pupil-1", "SN1")
    rectorat = api.token("education_service", organisation(EDUCATION))
    answers = [
        await api.call(
            "POST", "/v1/household-subsidies", rectorat, key="s-1", json=subsidy(device, "pupil-1")
        ),
        await api.call(
            "POST", "/v1/household-subsidies", rectorat, key="s-2", json=subsidy(device, "pupil-9")
        ),
        await api.call(
            "POST",
            "/v1/household-subsidies",
            rectorat,
            key="s-3",
            json={**subsidy(device, "pupil-1"), "amount_cents": 10**6},
        ),
        await api.call(
            "POST",
            "/v1/household-subsidies",
            rectorat,
            key="s-4",
            json=subsidy(device, "pupil-1", NAME * 30),
        ),
        await api.call(
            "POST",
            "/v1/household-subsidies",
            rectorat,
            key="s-5",
            json=subsidy(device, "pupil-1", NAME, ""),
        ),
    ]
    assert [status for status, _ in answers] == [201, 422, 422, 422, 422]
    shown = repr(answers) + caplog.text + "".join(repr(r.__dict__) for r in caplog.records)
    for secret in (NAME, ADDRESS, "Dupré", "rue de la Paix", "dupre", "paix"):
        assert secret not in shown


# Co-financing ---------------------------------------------------------------------------


async def test_cofinancing_is_matched_spent_within_the_match_and_closed_pro_rata(api):
    seed_territory(api)
    operator, auditor = api.token("operator", "op-1"), api.token("auditor", "cour-des-comptes")
    lyon = api.token("authority", "commune-69123")
    acme = api.token("company", "company:38012986646850")
    path = "/v1/territories/lyon/cofinancing"
    status, report = await api.call("POST", path, operator, money=True, json={})
    assert (status, report["ratio"], report["funders"]) == (201, [1, 1, 1], [])
    for who, amount in [(operator, 60_000), (lyon, 30_000), (acme, 50_000)]:
        status, mine = await api.call(
            "POST", f"{path}/pledges", who, key="pledge", json={"amount_cents": amount}
        )
        assert (status, mine["pledged_cents"]) == (201, amount)
    status, mine = await api.call(
        "POST", f"{path}/payments", acme, key="pay", json={"amount_cents": 40_000}
    )
    assert (status, mine["funder_id"], mine["paid_cents"]) == (
        200,
        "company:38012986646850",
        40_000,
    )
    paid = {"amount_cents": 30_000, "funder_id": "authority:commune-69123"}
    assert (await api.call("POST", f"{path}/payments", operator, key="pay-lyon", json=paid))[
        0
    ] == 200
    assert (
        await api.call(
            "POST", f"{path}/payments", operator, key="pay-bdt", json={"amount_cents": 60_000}
        )
    )[0] == 200
    before = log_size(api)
    assert (
        await api.call("POST", f"{path}/payments", acme, key="pay", json={"amount_cents": 40_000})
    )[1] == mine
    status, problem = await api.call(
        "POST", f"{path}/payments", acme, key="pay-2", json={"amount_cents": 20_000}
    )
    assert (status, problem["code"]) == (409, "payment_exceeds_pledge")
    status, problem = await api.call(
        "POST",
        f"{path}/payments",
        lyon,
        key="pay-3",
        json={**paid, "funder_id": "company:38012986646850"},
    )
    assert status == 403
    assert log_size(api) == before

    status, report = await api.call("GET", path, auditor)
    assert (report["paid_cents"], report["matched_cents"]) == (130_000, 90_000)
    spend = {"amount_cents": 60_000, "purpose": "devices", "reference": "lot-1"}
    status, spent = await api.call("POST", f"{path}/spends", operator, key="spend-1", json=spend)
    assert (status, spent["available_cents"]) == (200, 30_000)
    assert sorted(spent["lineage"], key=lambda x: x["funder_id"]) == [
        {"funder_id": "authority:commune-69123", "amount_cents": 20_000},
        {"funder_id": "bdt", "amount_cents": 20_000},
        {"funder_id": "company:38012986646850", "amount_cents": 20_000},
    ]
    before = log_size(api)
    assert await api.call("POST", f"{path}/spends", operator, key="spend-1", json=spend) == (
        200,
        spent,
    )
    beyond = {**spend, "amount_cents": 30_001, "reference": "lot-2"}
    status, problem = await api.call("POST", f"{path}/spends", operator, key="spend-2", json=beyond)
    assert (status, problem["code"]) == (409, "matched_amount_exceeded")
    assert log_size(api) == before

    status, closed = await api.call("POST", f"{path}/closure", operator, key="close")
    returns = {r["funder_id"]: r["amount_cents"] for r in closed["returns"]}
    assert status == 200 and returns == {
        "authority:commune-69123": 10_000,
        "bdt": 40_000,
        "company:38012986646850": 20_000,
    }
    assert closed["report"]["is_closed"] and closed["report"]["returned_cents"] == 70_000
    before = log_size(api)
    assert await api.call("POST", f"{path}/closure", operator, key="close-2") == (200, closed)
    status, problem = await api.call(
        "POST", f"{path}/pledges", acme, key="late", json={"amount_cents": 1}
    )
    assert (status, problem["code"]) == (409, "cofinancing_closed")
    assert log_size(api) == before
