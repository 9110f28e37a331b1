"""The device banks over real HTTP, on each store: donors, collectors, refurbishers,
education services and schools, each with a token naming its party."""

from __future__ import annotations

from typing import Any

from ledger.devices import device_id
from tests import helpers

DONOR, OTHER_DONOR = "company:38012986646850", "individual:donor-81f2"
COLLECTOR = "organisation:73282932000074"
REFURBISHER, OTHER_REFURBISHER = "organisation:55210055400013", "organisation:48223541300010"
EDUCATION = "organisation:44306184100047"
UAI = "0750655E"
SCHOOL = f"school:{UAI}"
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
CSV = {"Content-Type": "text/csv"}
BUDGET_CENTS = 20_000
ROLES = {
    DONOR: "donor",
    OTHER_DONOR: "donor",
    COLLECTOR: "collector",
    REFURBISHER: "refurbisher",
    OTHER_REFURBISHER: "refurbisher",
    EDUCATION: "education_service",
    SCHOOL: "school",
}


def siret(party: str) -> str:
    return party.split(":", 1)[1]


def laptop(serial: str) -> dict[str, Any]:
    return {
        "territory": "lyon",
        "kind": "laptop",
        "serial_number": serial,
        "make": "Dell",
        "model": "Latitude 5490",
        "specs": {"ram_gb": "8"},
    }


class Bank:
    """The device bank's parties over HTTP, and the programme seeded directly."""

    def __init__(self, api) -> None:
        self.api = api

    def seed(self) -> Bank:
        devices = self.api.devices
        devices.register_territory(
            code="lyon",
            name="Métropole de Lyon",
            kind="metropolis",
            budget_cents=BUDGET_CENTS,
            funder_id="banque-des-territoires",
            by="operator",
            now=helpers.START,
        )
        for party in (COLLECTOR, REFURBISHER, OTHER_REFURBISHER, EDUCATION):
            devices.approve_organisation(
                siret=siret(party), name=party, role=ROLES[party], by="op", now=helpers.START
            )
        return self

    def log(self) -> int:
        return self.api.vouchers.recorder.max_notification_id()

    async def post(self, party: str, path: str, body: Any = None, **kwargs: Any):
        who = self.api.token(ROLES.get(party, "operator"), party)
        if body is not None:
            kwargs["json"] = body
        if "key" not in kwargs:
            kwargs["money"] = True
        return await self.api.call("POST", path, who, **kwargs)

    async def ok(self, party: str, path: str, body: Any = None, status: int = 200, **kw):
        answer_status, answer = await self.post(party, path, body, **kw)
        assert answer_status == status, answer
        return answer

    async def get(self, party: str, path: str) -> tuple[int, Any]:
        return await self.api.call("GET", path, self.api.token(ROLES.get(party, party), party))

    async def pledge(self, serial: str, donor: str = DONOR) -> str:
        device = await self.ok(donor, "/v1/devices", laptop(serial), status=201)
        return device["device_id"]

    async def handed(self, device: str, giver: str, receiver: str) -> dict[str, Any]:
        path = f"/v1/devices/{device}/handover"
        await self.ok(giver, path, {"receiver": receiver})
        return await self.ok(receiver, f"{path}/confirmation", {})

    async def received(self, serial: str) -> str:
        """A device pledged, collected, and received by the refurbisher."""
        device = await self.pledge(serial)
        await self.handed(device, DONOR, COLLECTOR)
        await self.handed(device, COLLECTOR, REFURBISHER)
        return device

    async def wipe(self, device: str) -> dict[str, Any]:
        certificate = {"method": "overwrite", "certificate_id": f"C-{device[:8]}"}
        return await self.ok(
            REFURBISHER, f"/v1/devices/{device}/wipe", {**certificate, "certificate_sha256": SHA256}
        )

    async def wiped(self, device: str) -> dict[str, Any]:
        await self.ok(REFURBISHER, f"/v1/devices/{device}/diagnosis", {"grade": "A"})
        return await self.wipe(device)


# The operator ----------------------------------------------------------------------------


async def test_the_operator_registers_a_territory_and_approves_and_withdraws_organisations(api):
    bank, operator = Bank(api), "operator"
    terms = {
        "code": "lyon",
        "name": "Métropole de Lyon",
        "kind": "metropolis",
        "budget_cents": BUDGET_CENTS,
        "funder_id": "banque-des-territoires",
    }
    territory = await bank.ok(operator, "/v1/territories", terms, status=201)
    assert (territory["remaining_cents"], territory["spent_cents"]) == (BUDGET_CENTS, 0)
    assert await bank.post(operator, "/v1/territories", terms) == (201, territory)
    status, problem = await bank.post(operator, "/v1/territories", {**terms, "budget_cents": 1})
    assert (status, problem["code"]) == (422, "idempotency_key_reused")
    assert await bank.get("auditor", "/v1/territories/lyon") == (200, territory)

    path = f"/v1/organisations/{siret(REFURBISHER)}"
    approval = {"name": "Ateliers du Bocage", "role": "refurbisher"}
    org = await bank.ok(operator, f"{path}/approvals", approval)
    both = await bank.ok(operator, f"{path}/approvals", {**approval, "role": "collector"})
    assert (org["roles"], both["roles"]) == (["refurbisher"], ["collector", "refurbisher"])
    status, problem = await bank.post(operator, f"{path}/approvals", {**approval, "name": "X"})
    assert (status, problem["code"]) == (422, "idempotency_key_reused")
    withdrawal = {"role": "collector", "reason": "agrément expiré"}
    assert (await bank.ok(operator, f"{path}/withdrawals", withdrawal))["roles"] == ["refurbisher"]
    before = bank.log()
    assert (await bank.ok(operator, f"{path}/withdrawals", withdrawal))["roles"] == ["refurbisher"]
    assert bank.log() == before  # withdrawn already: a retry
    assert await bank.get(REFURBISHER, path) == (200, {**org, "roles": ["refurbisher"]})
    status, problem = await bank.get(OTHER_REFURBISHER, path)
    assert (status, problem["code"]) == (403, "forbidden")


# Donors ----------------------------------------------------------------------------------


async def test_a_pledge_retried_answers_the_same_device_and_other_details_are_refused(api):
    bank = Bank(api).seed()
    first = await bank.ok(DONOR, "/v1/devices", laptop("sn-1"), status=201, key="p1")
    assert first["device_id"] == str(device_id(DONOR, "SN-1"))
    assert (first["serial_number"], first["stage"], first["holder"]) == ("SN-1", "pledged", DONOR)
    before = bank.log()
    assert await bank.post(DONOR, "/v1/devices", laptop("sn-1"), key="p1") == (201, first)
    assert await bank.post(DONOR, "/v1/devices", laptop(" sn-1 ")) == (201, first)
    status, problem = await bank.post(DONOR, "/v1/devices", {**laptop("SN-1"), "kind": "tablet"})
    assert (status, problem["code"]) == (422, "idempotency_key_reused")
    status, problem = await bank.post(DONOR, "/v1/devices", laptop("SN-2"), key=None)
    assert (status, problem["code"]) == (400, "malformed_request")  # no Idempotency-Key
    status, problem = await bank.post(
        DONOR, "/v1/devices", {**laptop("SN-3"), "territory": "lille"}
    )
    assert (status, problem["code"]) == (404, "territory_not_found")
    assert bank.log() == before


async def test_a_pledge_file_keeps_its_good_lines_and_reports_each_bad_one(api):
    bank = Bank(api).seed()
    await bank.pledge("OLD-1")  # pledged before as a Dell laptop
    rows = [
        "territory,kind,serial_number,make,model,specs",
        "lyon,laptop,A-1,HP,EliteBook 840,ram_gb=8|storage_gb=256",
        "lyon,phone,A-2,Samsung,Galaxy A52,",
        "lyon,tablet,A-3,Apple,iPad 6,",
        "lyon,laptop,a-1,HP,EliteBook 840,",
        "lille,laptop,A-4,HP,EliteBook 840,",
        "lyon,tablet,OLD-1,Apple,iPad 6,",
        "lyon,laptop,A 5 é,HP,EliteBook 840,",
        "",
        "lyon,desktop,A-6,Lenovo,ThinkCentre,cpu",
    ]
    upload = ("\n".join(rows) + "\n").encode()
    before = bank.log()
    status, report = await bank.post(DONOR, "/v1/device-pledges", data=upload, headers=CSV)
    assert status == 200, report
    assert (report["lines"], report["pledged"], report["refused"]) == (8, 2, 6)
    assert [(r["line"], r["serial_number"]) for r in report["results"]] == [(2, "A-1"), (4, "A-3")]
    assert [(e["line"], e["code"]) for e in report["errors"]] == [
        (3, "invalid_input"),
        (5, "invalid_input"),
        (6, "territory_not_found"),
        (7, "idempotency_key_reused"),
        (8, "invalid_identifier"),
        (10, "invalid_input"),
    ]
    assert "line 2" in report["errors"][1]["message"]
    assert bank.log() == before + 2
    status, device = await bank.get(DONOR, f"/v1/devices/{report['results'][0]['device_id']}")
    assert device["specs"] == {"ram_gb": "8", "storage_gb": "256"}

    again = await bank.post(DONOR, "/v1/device-pledges", data=upload, headers=CSV)
    assert again == (200, report) and bank.log() == before + 2
    unknown = b"territory,kind,serial_number,make,model,colour\nlyon,laptop,B-1,HP,X,grey\n"
    status, problem = await bank.post(DONOR, "/v1/device-pledges", data=unknown, headers=CSV)
    assert (status, problem["code"], problem["line"]) == (422, "invalid_input", 1)
    assert bank.log() == before + 2


async def test_a_donor_follows_its_own_devices_and_sees_no_pupil(api):
    bank = Bank(api).seed()
    ours = [await bank.pledge(f"D-{i}") for i in range(3)]
    await bank.pledge("THEIRS", donor=OTHER_DONOR)
    await bank.handed(ours[0], DONOR, COLLECTOR)
    status, page = await bank.get(DONOR, "/v1/devices?limit=2")
    assert status == 200 and page["more"] is True
    assert [d["device_id"] for d in page["devices"]] == ours[:2]
    assert page["devices"][0]["stage"] == "collected"
    assert "allocation" not in page["devices"][0] and "allocations" not in page["devices"][0]
    status, rest = await bank.get(DONOR, f"/v1/devices?after={page['next_after']}")
    assert [d["device_id"] for d in rest["devices"]] == ours[2:] and rest["more"] is False
    status, problem = await bank.get(OTHER_DONOR, f"/v1/devices/{ours[0]}")
    assert (status, problem["code"]) == (403, "forbidden")


# Refurbishers ----------------------------------------------------------------------------


async def test_a_refused_work_records_nothing_and_answers_its_stable_code(api):
    bank = Bank(api).seed()
    device = await bank.received("R-1")
    path = f"/v1/devices/{device}"
    before = bank.log()
    certificate = {"method": "overwrite", "certificate_id": "C-1", "certificate_sha256": SHA256}
    status, problem = await bank.post(REFURBISHER, f"{path}/wipe", certificate)
    assert (status, problem["code"], problem["stage"]) == (409, "device_stage_conflict", "received")
    status, problem = await bank.post(COLLECTOR, f"{path}/handover", {"receiver": COLLECTOR})
    assert (status, problem["code"]) == (409, "not_custodian")
    status, problem = await bank.post(OTHER_REFURBISHER, f"{path}/diagnosis", {"grade": "A"})
    assert (status, problem["code"]) == (403, "forbidden")
    assert bank.log() == before
    api.devices.withdraw_approval(
        siret=siret(REFURBISHER), role="refurbisher", reason="audit", by="op", now=helpers.START
    )
    before = bank.log()
    status, problem = await bank.post(REFURBISHER, f"{path}/diagnosis", {"grade": "A"})
    assert (status, problem["code"]) == (409, "organisation_not_approved")
    assert bank.log() == before
    status, device_now = await bank.get("auditor", path)
    assert (device_now["stage"], device_now["diagnosis"]) == ("received", None)


async def test_work_retried_records_nothing_and_another_refurbisher_learns_nothing(api):
    bank = Bank(api).seed()
    device = await bank.received("R-2")
    path = f"/v1/devices/{device}/diagnosis"
    diagnosed = await bank.ok(REFURBISHER, path, {"grade": "B", "findings": "worn"}, key="d1")
    before = bank.log()
    retried = await bank.post(REFURBISHER, path, {"grade": "B", "findings": "worn"}, key="d1")
    assert retried == (200, diagnosed) and bank.log() == before
    # The same grade sent by a refurbisher that never held the device is refused, not
    # answered as a retry: it would tell the device's diagnosis.
    status, problem = await bank.post(OTHER_REFURBISHER, path, {"grade": "B", "findings": "worn"})
    assert (status, problem["code"]) == (403, "forbidden")
    wiped = await bank.wipe(device)
    assert wiped["wipe_certificate"]["certificate_sha256"] == SHA256
    work = {"parts": ["SSD"], "cost_cents": 4500}
    done = await bank.ok(REFURBISHER, f"/v1/devices/{device}/refurbishment", work)
    assert (done["stage"], done["charged_cents"]) == ("refurbished", 4500)
    before = bank.log()
    assert await bank.post(REFURBISHER, f"/v1/devices/{device}/refurbishment", work) == (200, done)
    assert bank.log() == before
    status, territory = await bank.get("operator", "/v1/territories/lyon")
    assert territory["remaining_cents"] == BUDGET_CENTS - 4500


async def test_a_stage_file_applies_its_good_lines_in_order_and_reports_each_bad_one(api):
    bank = Bank(api).seed()
    ours, other = await bank.received("S-1"), await bank.received("S-2")
    elsewhere = await bank.pledge("S-3")
    rows = [
        "device_id,donor,serial_number,action,grade,method,certificate_id,"
        "certificate_sha256,parts,cost_cents,reason",
        f"{ours},,,diagnose,B,,,,,,",
        f",{DONOR},s-1,wipe,,crypto_erase,CERT-1,{SHA256},,,",
        f"{ours},,,refurbish,,,,,SSD|battery,4500,",
        f"{other},,,polish,,,,,,,",
        f"{other},,,refurbish,,,,,,lots,",
        f"{other},,,diagnose,unfit,,,,,,too old",
        f"{elsewhere},,,diagnose,A,,,,,,",
        f"{other},,,diagnose,unfit,,,,,,",
        f"{other},,,refurbish,,,,,,100,",
        "not-a-uuid,,,diagnose,A,,,,,,",
    ]
    upload = ("\n".join(rows) + "\n").encode()
    status, report = await bank.post(
        REFURBISHER, "/v1/device-stage-updates", data=upload, headers=CSV
    )
    assert status == 200, report
    assert (report["lines"], report["applied"], report["refused"]) == (10, 4, 6)
    assert [(r["line"], r["action"], r["device_id"]) for r in report["results"]] == [
        (2, "diagnose", ours),
        (3, "wipe", ours),
        (4, "refurbish", ours),
        (9, "diagnose", other),
    ]
    assert [(e["line"], e["code"], e.get("field")) for e in report["errors"]] == [
        (5, "invalid_input", "action"),
        (6, "invalid_amount", "cost_cents"),
        (7, "invalid_input", "reason"),
        (8, "forbidden", None),
        (10, "device_stage_conflict", None),
        (11, "invalid_identifier", "device_id"),
    ]
    assert report["errors"][3]["device_id"] == elsewhere
    status, device = await bank.get(REFURBISHER, f"/v1/devices/{ours}")
    assert (device["stage"], device["works"][0]["parts"]) == ("refurbished", ["SSD", "battery"])
    assert device["wipe_certificate"]["certificate_id"] == "CERT-1"
    before = bank.log()
    again = await bank.post(REFURBISHER, "/v1/device-stage-updates", data=upload, headers=CSV)
    assert again == (200, report) and bank.log() == before


# Lots ------------------------------------------------------------------------------------


async def test_a_lot_moves_all_its_devices_or_none_and_its_key_answers_the_same_lot(api):
    bank = Bank(api).seed()
    devices = [await bank.pledge(f"L-{i}") for i in range(3)]
    lot = await bank.ok(DONOR, "/v1/lots", {"device_ids": devices[:2]}, status=201, key="r1")
    assert sorted(d["device_id"] for d in lot["devices"]) == sorted(devices[:2])
    again = await bank.post(DONOR, "/v1/lots", {"device_ids": devices[1::-1]}, key="r1")
    assert again == (201, lot)
    status, problem = await bank.post(DONOR, "/v1/lots", {"device_ids": devices}, key="r1")
    assert (status, problem["code"]) == (422, "idempotency_key_reused")
    status, problem = await bank.post(COLLECTOR, "/v1/lots", {"device_ids": devices[2:]})
    assert (status, problem["code"]) == (409, "not_custodian")

    await bank.handed(devices[0], DONOR, COLLECTOR)  # one device of the lot moves on alone
    await bank.handed(devices[0], COLLECTOR, REFURBISHER)
    path = f"/v1/lots/{lot['lot_id']}/handover"
    before = bank.log()
    status, problem = await bank.post(DONOR, path, {"receiver": COLLECTOR})
    assert (status, problem["code"], problem["device_id"]) == (409, "not_custodian", devices[0])
    assert bank.log() == before
    whole = await bank.ok(DONOR, "/v1/lots", {"device_ids": devices[1:]}, status=201)
    path = f"/v1/lots/{whole['lot_id']}/handover"
    handed = await bank.ok(DONOR, path, {"receiver": COLLECTOR})
    assert {d["awaiting_receiver"] for d in handed["devices"]} == {COLLECTOR}
    revoked = await bank.ok(DONOR, f"{path}/revocation", {"reason": "collecte reportée"})
    assert {d["awaiting_receiver"] for d in revoked["devices"]} == {None}
    await bank.ok(DONOR, path, {"receiver": COLLECTOR})
    confirmed = await bank.ok(COLLECTOR, f"{path}/confirmation", {})
    assert {(d["stage"], d["holder"]) for d in confirmed["devices"]} == {("collected", COLLECTOR)}


# The whole way ---------------------------------------------------------------------------


async def test_a_device_goes_from_its_donor_to_a_pupil_and_back_over_http(api):
    bank, operator = Bank(api), "operator"
    await bank.ok(
        operator,
        "/v1/territories",
        {"code": "lyon", "name": "Lyon", "kind": "metropolis", "budget_cents": BUDGET_CENTS}
        | {"funder_id": "banque-des-territoires"},
        status=201,
    )
    for party in (COLLECTOR, REFURBISHER, EDUCATION):
        body = {"name": f"{ROLES[party]} {siret(party)}", "role": ROLES[party]}
        await bank.ok(operator, f"/v1/organisations/{siret(party)}/approvals", body)
    devices = [await bank.pledge(serial) for serial in ("J-1", "J-2")]
    lot = (await bank.ok(DONOR, "/v1/lots", {"device_ids": devices}, status=201))["lot_id"]
    for giver, receiver in ((DONOR, COLLECTOR), (COLLECTOR, REFURBISHER)):
        await bank.ok(giver, f"/v1/lots/{lot}/handover", {"receiver": receiver})
        await bank.ok(receiver, f"/v1/lots/{lot}/handover/confirmation", {})
    device, path = devices[0], f"/v1/devices/{devices[0]}"
    await bank.wiped(device)
    await bank.ok(REFURBISHER, f"{path}/refurbishment", {"parts": ["SSD"], "cost_cents": 4500})
    await bank.ok(EDUCATION, f"{path}/allocation", {"pupil_id": "ine-1", "school_uai": UAI})
    await bank.ok(EDUCATION, f"{path}/reallocation", {"pupil_id": "ine-2", "school_uai": UAI})
    delivering = await bank.ok(REFURBISHER, f"{path}/delivery")
    assert delivering["awaiting"]["receiver"] == SCHOOL
    assert "pupil_id" not in delivering["allocation"]  # a refurbisher never sees the pupil
    status, problem = await bank.post(SCHOOL, f"{path}/handover/confirmation", {})
    assert (status, problem["code"]) == (422, "invalid_identifier")  # who received it?
    received = await bank.ok(SCHOOL, f"{path}/handover/confirmation", {"receiver_ref": "cpe-42"})
    assert (received["stage"], received["allocation"]["pupil_id"]) == ("delivered", "ine-2")

    status, audited = await bank.get("auditor", path)
    assert [(s["holder"], s["role"]) for s in audited["custody_chain"]] == [
        (DONOR, "donor"),
        (COLLECTOR, "collector"),
        (REFURBISHER, "refurbisher"),
        (SCHOOL, "school"),
    ]
    assert audited["wipe_certificate"]["refurbisher"] == REFURBISHER
    assert [a["pupil_id"] for a in audited["allocations"]] == ["ine-1", "ine-2"]
    status, seen = await bank.get(DONOR, path)
    assert seen["stage"] == "delivered" and "allocation" not in seen

    back = {"receiver": REFURBISHER, "reason": "l'élève a quitté l'établissement"}
    await bank.ok(SCHOOL, f"{path}/return", back)
    returned = await bank.ok(REFURBISHER, f"{path}/handover/confirmation", {})
    assert (returned["stage"], returned["allocation"]) == ("returned", None)
    repaired = await bank.ok(REFURBISHER, f"{path}/repair", {"parts": [], "cost_cents": 1500})
    assert (repaired["stage"], repaired["charged_cents"]) == ("refurbished", 6000)
    status, problem = await bank.post(
        REFURBISHER, f"/v1/devices/{devices[1]}/refurbishment", {"parts": [], "cost_cents": 6001}
    )
    assert (status, problem["code"]) == (409, "device_stage_conflict")  # never wiped
    status, territory = await bank.get(operator, "/v1/territories/lyon")
    assert territory["spent_cents"] == 6000
