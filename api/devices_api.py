"""Devices over HTTP: donors pledge them and follow them, refurbishers work on them,
education services allocate them to pupils, and whoever deals with a device reads it.

Every command answers the device as the caller may see it (`api.device_views`). Each is
keyed (an `Idempotency-Key` is required, and a second request with the same key while the
first runs is refused, 409), and each retry answers as the first did because the domain
is idempotent by what it records: a device's id derives from its donor and serial number,
so a pledge sent again answers the same device (other details are refused, 422
`idempotency_key_reused`), and a command whose outcome is already recorded (the same
diagnosis, the same certificate, the same allocation) records nothing.

A party acts only on the devices it deals with (`api.device_views.involved`: 403
otherwise), and the domain then checks custody itself: a refurbisher works only on a
device it holds (409 `not_custodian`), in the stage the work needs (409
`device_stage_conflict`), while approved for it (409 `organisation_not_approved`).
Handovers and lots are in `api.device_custody_api`, the CSV uploads in
`api.device_uploads`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from api import device_examples as e
from api import device_views as v
from api import schemas as s
from api.common import FOLD_PAGE_SIZE, POSITION, STAFF, path_uuid
from api.parties import PARTY_ROLES, caller_party
from api.spec import Call, Handler, Operation, Reply, Role
from ledger.device_bank import DeviceBank
from ledger.device_records import DeviceGrade, DeviceKind, WipeMethod
from ledger.devices import Device
from ledger.parties import party_ref

MAX_DEVICES_LISTED = 100
MAX_PLEDGES_SCANNED = 10_000  # pledges one page of a donor's devices reads, at most
DONOR = frozenset({Role.DONOR})
REFURBISHER = frozenset({Role.REFURBISHER})
EDUCATION_SERVICE = frozenset({Role.EDUCATION_SERVICE})

Fields = Mapping[str, Any]


# The refurbisher's work: each action is the bank's method of that name ------------------

# The fields each action takes: (required, optional); the CSV upload's columns too.
WORK_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "diagnose": (frozenset({"grade"}), frozenset({"findings"})),
    "wipe": (frozenset({"method", "certificate_id", "certificate_sha256"}), frozenset()),
    "refurbish": (frozenset({"cost_cents"}), frozenset({"parts"})),
    "repair": (frozenset({"cost_cents"}), frozenset({"parts"})),
    "scrap": (frozenset({"reason"}), frozenset()),
    "deliver": (frozenset(), frozenset()),
}


def do_work(
    bank: DeviceBank,
    action: str,
    device_id: UUID,
    party: str,
    fields: Fields,
    by: str,
    now: datetime,
) -> Device:
    """Blocking: a refurbisher's action on a device it deals with; the device after it."""
    assert action in WORK_FIELDS, action
    v.check_involved(bank.get_device(device_id), party)
    required, optional = WORK_FIELDS[action]
    arguments = {k: fields[k] for k in required | optional if k in fields}
    if action in ("refurbish", "repair"):
        arguments["parts"] = tuple(arguments.get("parts", ()))  # none listed: none changed
    act = getattr(bank, action)
    act(device_id, refurbisher=party_ref(party), **arguments, by=by, now=now)
    return bank.get_device(device_id)


def refurbisher_work(action: str) -> Handler:
    async def handler(call: Call) -> Reply:
        party, device_id = caller_party(call.caller), path_uuid(call, "device_id")
        device = await call.services.run(
            do_work,
            call.services.devices,
            action,
            device_id,
            party,
            call.body or {},
            call.caller.name,
            call.now,
        )
        return Reply(v.device_json(device, call.caller.role))

    handler.__name__ = f"{action}_device"
    return handler


# Education services ---------------------------------------------------------------------


def allocation(command: str) -> Handler:
    """`allocate` or `reallocate`: any approved education service, as the domain rules."""

    async def handler(call: Call) -> Reply:
        party, device_id = caller_party(call.caller), path_uuid(call, "device_id")
        bank, by = call.services.devices, call.caller.name
        pupil = {"pupil_id": call.body["pupil_id"], "school_uai": call.body["school_uai"]}

        def allocate() -> Device:
            act = getattr(bank, command)
            act(device_id, education_service=party_ref(party), **pupil, by=by, now=call.now)
            return bank.get_device(device_id)

        return Reply(v.device_json(await call.services.run(allocate), call.caller.role))

    handler.__name__ = f"{command}_device"
    return handler


# Donors and readers ---------------------------------------------------------------------


async def pledge_device(call: Call) -> Reply:
    donor, body, bank = caller_party(call.caller), call.body, call.services.devices

    def pledge() -> Device:
        device_id = bank.pledge_device(
            donor=donor,
            territory=body["territory"],
            kind=body["kind"],
            serial_number=body["serial_number"],
            make=body["make"],
            model=body["model"],
            specs=tuple(sorted(body.get("specs", {}).items())),
            by=call.caller.name,
            now=call.now,
        )
        return bank.get_device(device_id)

    return Reply(v.device_json(await call.services.run(pledge), call.caller.role), status=201)


def donor_devices(bank: DeviceBank, donor: str, after: int, limit: int) -> dict[str, Any]:
    """A page of a donor's devices in the order they were pledged, read from the log's
    pledges after position `after`; a page reads at most `MAX_PLEDGES_SCANNED` of them, so
    it may be short while `more` is true."""
    topic, found, cursor, scanned = get_topic(Device.Pledged), [], after, 0
    head = bank.recorder.max_notification_id() or 0
    while scanned < MAX_PLEDGES_SCANNED:
        ask = min(FOLD_PAGE_SIZE, MAX_PLEDGES_SCANNED - scanned)
        page = bank.recorder.select_notifications(
            start=cursor, limit=ask, topics=[topic], inclusive_of_start=False
        )
        for notification in page:
            if len(found) == limit:
                return {"devices": found, "next_after": cursor, "more": True}
            cursor, scanned = notification.id, scanned + 1
            if bank.mapper.to_domain_event(notification).donor == donor:
                device = bank.get_device(notification.originator_id)
                found.append(v.device_json(device, Role.DONOR))
        if len(page) < ask:
            return {"devices": found, "next_after": max(cursor, head), "more": False}
    return {"devices": found, "next_after": cursor, "more": True}


async def list_my_devices(call: Call) -> Reply:
    donor, bank = caller_party(call.caller), call.services.devices
    after, limit = call.query["after"], call.query["limit"]
    return Reply(await call.services.run(donor_devices, bank, donor, after, limit))


async def get_device(call: Call) -> Reply:
    device_id, bank = path_uuid(call, "device_id"), call.services.devices
    device = await call.services.run(bank.get_device, device_id)
    if call.caller.role in PARTY_ROLES:
        v.check_involved(device, caller_party(call.caller))
    return Reply(v.device_json(device, call.caller.role))


# Operations -----------------------------------------------------------------------------

AT_REFURBISHER = {
    **e.EXAMPLE_DEVICE,
    "wipe_certificate": None,
    "works": [],
    "charged_cents": 0,
    "allocation": None,
    "allocations": [],
}
DIAGNOSED = {**AT_REFURBISHER, "stage": "diagnosed"}
WIPED = {**DIAGNOSED, "stage": "wiped", "wipe_certificate": e.EXAMPLE_DEVICE["wipe_certificate"]}
REFURBISHED = {**e.EXAMPLE_DEVICE, "stage": "refurbished", "allocation": None, "allocations": []}
REPAIR = {**e.EXAMPLE_DEVICE["works"][0], "work": "repair", "done_at": "2028-01-10T10:00:00+00:00"}
REPAIRED = {**REFURBISHED, "works": [*REFURBISHED["works"], REPAIR], "charged_cents": 6000}
SCRAPPED = {**WIPED, "stage": "scrapped", "scrap_reason": "carte mère hors service"}
DELIVERING = {
    **e.EXAMPLE_DEVICE,
    "awaiting": {
        "giver": e.REFURBISHER,
        "receiver": e.SCHOOL,
        "receiver_role": "school",
        "lot_id": None,
        "reason": "",
        "handed_over_at": "2027-09-12T08:00:00+00:00",
    },
}
PUPIL = s.obj({"pupil_id": s.OPAQUE_ID, "school_uai": v.UAI})
WORK_BODY = s.obj({"parts": v.PARTS, "cost_cents": v.COST})
WORK_BODIES: dict[str, tuple[dict[str, Any] | None, Any]] = {
    "diagnose": (
        s.obj({"grade": s.enum(*(g.value for g in DeviceGrade))}, {"findings": s.TEXT}),
        {"grade": "B", "findings": "battery at 71 %"},
    ),
    "wipe": (
        s.obj(
            {
                "method": s.enum(*(m.value for m in WipeMethod)),
                "certificate_id": s.OPAQUE_ID,
                "certificate_sha256": v.SHA256,
            }
        ),
        {k: e.EXAMPLE_DEVICE["wipe_certificate"][k] for k in WORK_FIELDS["wipe"][0]},
    ),
    "refurbish": (WORK_BODY, {"parts": ["battery"], "cost_cents": 4500}),
    "repair": (WORK_BODY, {"parts": ["battery"], "cost_cents": 1500}),
    "scrap": (s.REASON, {"reason": "carte mère hors service"}),
    "deliver": (None, None),
}


def work_operation(action: str, path: str, summary: str, answer: dict[str, Any]) -> Operation:
    body, example = WORK_BODIES[action]
    return Operation(
        operation_id=f"{action}_device",
        method="POST",
        path=f"/v1/devices/{{device_id}}/{path}",
        summary=summary,
        tag="refurbisher",
        roles=REFURBISHER,
        handler=refurbisher_work(action),
        body=body,
        response=v.DEVICE,
        moves_money=True,
        example_body=example,
        example_response=e.seen_by(answer, Role.REFURBISHER),
        ownership="self",
    )


def allocation_operation(command: str, path: str, summary: str, description: str) -> Operation:
    return Operation(
        operation_id=f"{command}_device",
        method="POST",
        path=f"/v1/devices/{{device_id}}/{path}",
        summary=summary,
        description=description,
        tag="education_service",
        roles=EDUCATION_SERVICE,
        handler=allocation(command),
        body=PUPIL,
        response=v.DEVICE,
        moves_money=True,
        example_body={"pupil_id": "ine-7f3a", "school_uai": "0750655E"},
        example_response=e.seen_by(e.EXAMPLE_DEVICE, Role.EDUCATION_SERVICE),
        ownership="any",
    )


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        operation_id="pledge_device",
        method="POST",
        path="/v1/devices",
        summary="Pledge a device to the device bank of a territory",
        description="The donor is the caller (`company:{SIRET}` or `individual:{ref}`). "
        "The device's id derives from its donor and serial number: the same pledge again "
        "answers the same device; other details for the same serial number are refused "
        "(422). Many devices at once: `POST /v1/device-pledges` with a CSV file.",
        tag="donor",
        roles=DONOR,
        handler=pledge_device,
        status=201,
        body=s.obj(
            {
                "territory": v.TERRITORY_CODE,
                "kind": s.enum(*(k.value for k in DeviceKind)),
                "serial_number": v.SERIAL,
                "make": v.NAME,
                "model": v.NAME,
            },
            {"specs": v.SPECS},
        ),
        response=v.DEVICE,
        moves_money=True,
        example_body=e.EXAMPLE_PLEDGE,
        example_response=e.PLEDGED_DEVICE,
        ownership="token",
    ),
    Operation(
        operation_id="list_my_devices",
        method="GET",
        path="/v1/devices",
        summary="The caller's pledged devices and what became of them (no pupil data)",
        description="In the order they were pledged, paged by log position: pass "
        "`next_after` as `after` for the next page (`more` is false at the end). A page "
        f"reads at most {MAX_PLEDGES_SCANNED} pledges, so it may be short while `more` is "
        "true.",
        tag="donor",
        roles=DONOR,
        handler=list_my_devices,
        query=s.obj(
            {},
            {
                "after": {**POSITION, "default": 0},
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_DEVICES_LISTED,
                    "default": MAX_DEVICES_LISTED,
                },
            },
        ),
        response=s.obj(
            {
                "devices": s.array(v.DEVICE, MAX_DEVICES_LISTED),
                "next_after": POSITION,
                "more": s.BOOLEAN,
            }
        ),
        example_response={
            "devices": [e.seen_by(e.EXAMPLE_DEVICE, Role.DONOR)],
            "next_after": 42,
            "more": False,
        },
        ownership="token",
    ),
    Operation(
        operation_id="get_device",
        method="GET",
        path="/v1/devices/{device_id}",
        summary="A device: its stage, custody chain, erasure certificate, works and pupil",
        description="The operator and the auditor read any device; a party reads the "
        "devices it deals with (403 otherwise). Pupil ids are shown to education services, "
        "schools and staff only; a donor sees no allocation at all.",
        tag="auditor",
        roles=STAFF | PARTY_ROLES,
        handler=get_device,
        response=v.DEVICE,
        example_response=e.EXAMPLE_DEVICE,
        ownership="self",
    ),
    work_operation("diagnose", "diagnosis", "Grade a received device: A, B, C or unfit", DIAGNOSED),
    work_operation(
        "wipe", "wipe", "Record the wipe of its data and the erasure certificate", WIPED
    ),
    work_operation(
        "refurbish",
        "refurbishment",
        "Refurbish a wiped device; its cost is charged to its territory's budget",
        REFURBISHED,
    ),
    work_operation(
        "repair",
        "repair",
        "Repair a returned device; its cost is charged to its territory's budget",
        REPAIRED,
    ),
    work_operation("scrap", "scrap", "Scrap a wiped or returned device, with the reason", SCRAPPED),
    work_operation(
        "deliver",
        "delivery",
        "Hand an allocated device over to its pupil's school, which confirms it",
        DELIVERING,
    ),
    allocation_operation(
        "allocate",
        "allocation",
        "Allocate a refurbished, wiped device to a pupil (an opaque id) of a school",
        "The school is named by its UAI. The same allocation again records nothing.",
    ),
    allocation_operation(
        "reallocate",
        "reallocation",
        "Allocate the device to another pupil",
        "Of any school until the device is delivered; of the same school afterwards (a "
        "device at a school goes elsewhere only through a return).",
    ),
)
