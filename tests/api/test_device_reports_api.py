"""The device pipeline and donors' receipts over HTTP, on each store, after the demo's
donation drive: the figures the endpoints answer are the devices' own."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from eventsourcing.utils import get_topic

from api.demo_devices import COMPANY_DONORS, DRIVE_START, TIGHT_TERRITORY, run_drive
from ledger.device_records import DeviceStage
from ledger.devices import Device
from ledger.territories import MAX_CHARGE_PER_DEVICE_CENTS, territory_id

RUN = "http"


def drive(api) -> list[Device]:  # type: ignore[no-untyped-def]
    run_drive(api.devices, 6, seed=3, run_key=RUN)
    topic = get_topic(Device.Pledged)
    pledges = api.devices.recorder.select_notifications(start=None, limit=1000, topics=[topic])
    return [api.devices.get_device(n.originator_id) for n in pledges]


async def test_the_pipeline_counts_each_stage_as_the_devices_say(api):
    devices = drive(api)
    operator, auditor = api.token("operator", "op-1"), api.token("auditor", "cour-des-comptes")
    status, whole = await api.call("GET", "/v1/device-pipeline", operator)
    assert status == 200
    stages = Counter(d.stage.value for d in devices)
    assert {k: n for k, n in whole["by_stage"].items() if n} == stages
    assert whole["pledged"] == len(devices)
    delivered = [d for d in devices if d.stage is DeviceStage.DELIVERED]
    assert whole["delivered"] == len(delivered)
    charged = sum(d.charged_cents for d in devices)
    assert whole["charged_cents"] == charged
    assert whole["cost_per_delivered_cents"] == (2 * charged + len(delivered)) // (
        2 * len(delivered)
    )
    assert whole["within_budget"] == (charged <= MAX_CHARGE_PER_DEVICE_CENTS * len(delivered))
    assert {t["stage"] for t in whole["lead_times"]} >= {"pledged", "received", "wiped"}
    assert all(t["median_s"] <= t["p90_s"] for t in whole["lead_times"])
    assert await api.call("GET", "/v1/device-pipeline", auditor) == (200, whole)

    code = f"{TIGHT_TERRITORY}-{RUN}"
    status, tight = await api.call("GET", f"/v1/device-pipeline?territory={code}", auditor)
    mine = [d for d in devices if d.territory_id == territory_id(code)]
    assert status == 200 and tight["pledged"] == len(mine)
    assert tight["by_stage"]["wiped"] == sum(d.stage is DeviceStage.WIPED for d in mine) > 0


async def test_devices_waiting_beyond_their_stage_s_limit_are_listed_longest_first(api):
    devices = drive(api)
    operator = api.token("operator", "op-1")
    waiting = {str(d.id) for d in devices if d.stage is DeviceStage.WIPED}
    api.clock.now = DRIVE_START + timedelta(days=10)
    status, early = await api.call("GET", "/v1/device-pipeline/stuck", operator)
    assert (status, early["devices"]) == (200, [])
    api.clock.now = DRIVE_START + timedelta(days=60)
    status, late = await api.call("GET", "/v1/device-pipeline/stuck?limit=50", operator)
    stuck = late["devices"]
    assert status == 200 and {d["device_id"] for d in stuck} >= waiting
    assert all(d["stage"] not in ("delivered", "recycled") for d in stuck)
    waits = [d["waited_s"] for d in stuck]
    assert waits == sorted(waits, reverse=True) and waits[-1] > 30 * 24 * 3600
    _, pipeline = await api.call("GET", "/v1/device-pipeline", operator)
    assert sum(pipeline["stuck"].values()) == len(stuck)


async def test_a_donor_s_receipt_says_what_became_of_its_devices_and_names_no_pupil(api):
    devices = drive(api)
    donor = COMPANY_DONORS[0]
    status, receipt = await api.call("GET", "/v1/device-receipt", api.token("donor", donor))
    given = [d for d in devices if d.donor == donor]
    assert status == 200 and receipt["donor"] == donor
    assert receipt["pledged"] == len(given) == len(receipt["devices"])
    assert receipt["delivered"] == sum(len(d.allocations) > 0 for d in given)
    assert receipt["recycled"] == sum(d.stage is DeviceStage.RECYCLED for d in given)
    by_id = {str(d.id): d for d in given}
    for line in receipt["devices"]:
        device = by_id[line["device_id"]]
        assert line["stage"] == device.stage.value
        assert line["certificate_id"] == device.wipe_certificate.certificate_id
    text = str(receipt)
    assert "eleve-" not in text and "pupil" not in text and "school" not in text
    other = api.token("donor", COMPANY_DONORS[1])
    status, theirs = await api.call("GET", "/v1/device-receipt", other)
    assert status == 200 and not {line["device_id"] for line in theirs["devices"]} & set(by_id)


async def test_a_pipeline_asked_for_a_bad_place_is_refused(api):
    operator = api.token("operator", "op-1")
    status, problem = await api.call(
        "GET", "/v1/device-pipeline?refurbisher=12345678901234", operator
    )
    assert (status, problem["code"]) == (422, "invalid_siret")
    status, problem = await api.call("GET", "/v1/device-pipeline?territory=a%20b", operator)
    assert status == 422
    status, problem = await api.call(
        "GET", "/v1/device-pipeline", api.token("donor", COMPANY_DONORS[0])
    )
    assert (status, problem["code"]) == (403, "forbidden")
