"""The device pipeline over HTTP: what the operator and auditors watch, and donors' receipts.

These read the pipeline read model (`projections.device_pipeline`), caught up with the log
before each answer: devices per stage, the yield, what each delivered device cost against
the 60 € the programme pays, lead times per stage, and the devices stuck too long in a
stage. A donor's receipt says what became of what it gave, with no pupil and no school.
A place is named by its territory code and, for the pipeline, by a refurbisher's SIRET.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from api import schemas as s
from api.common import POSITION, STAFF, iso
from api.parties import caller_party
from api.past import AS_OF_TEXT, as_of, as_of_query, read_models
from api.spec import Call, Operation, Reply, Role
from ledger.device_records import DeviceStage
from ledger.identifiers import check_siret
from ledger.parties import organisation
from ledger.territories import MAX_CHARGE_PER_DEVICE_CENTS, territory_id
from projections.device_pipeline import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    DevicePipeline,
    DonorReceipt,
)
from projections.devices import DevicePipelineProjection

PIPELINE = DevicePipelineProjection.name
STAGES = tuple(stage.value for stage in DeviceStage)


def place(call: Call) -> tuple[UUID | None, str | None]:
    code, siret = call.query.get("territory"), call.query.get("refurbisher")
    territory = territory_id(code) if code else None
    return territory, organisation(check_siret(siret)) if siret else None


def seconds(span: Any) -> int:
    return int(span.total_seconds())


def pipeline_json(view: DevicePipeline, call: Call, now: datetime) -> dict[str, Any]:
    territory, refurbisher = place(call)
    made, cost = view.yield_(territory), view.cost_per_delivered(territory)
    lead = view.lead_times(territory, refurbisher)
    stuck = view.stuck_counts(now, territory=territory, refurbisher=refurbisher)
    return {
        "territory": call.query.get("territory"),
        "refurbisher": refurbisher,
        "by_stage": {stage.value: n for stage, n in view.by_stage(territory, refurbisher).items()},
        "pledged": made.pledged,
        "delivered": made.delivered,
        "scrapped": made.scrapped,
        "charged_cents": cost.charged_cents,
        "cost_per_delivered_cents": cost.cost_per_delivered_cents,
        "budget_per_delivered_cents": cost.budget_cents,
        "within_budget": cost.within_budget,
        "lead_times": [
            {"stage": t.stage.value, "stays": t.stays, "median_s": seconds(t.median)}
            | {"p90_s": seconds(t.p90)}
            for t in lead.values()
        ],
        "stuck": {stage.value: n for stage, n in stuck.items() if n},
    }


async def get_device_pipeline(call: Call) -> Reply:
    services, point = call.services, as_of(call.query)

    def read() -> dict[str, Any]:
        with read_models(services, point, PIPELINE) as models:
            pipeline = pipeline_json(DevicePipeline(models.engine), call, models.when(call.now))
        return {**pipeline, "position": models.position}

    return Reply(await services.run(read))


async def list_stuck_devices(call: Call) -> Reply:
    services, point = call.services, as_of(call.query)
    territory, refurbisher = place(call)
    limit, offset = call.query["limit"], call.query["offset"]

    def read() -> tuple[list[Any], int]:
        with read_models(services, point, PIPELINE) as models:
            view, now = DevicePipeline(models.engine), models.when(call.now)
            found = view.stuck(
                now, territory=territory, refurbisher=refurbisher, limit=limit, offset=offset
            )
        return found, models.position

    stuck, position = await services.run(read)
    return Reply(
        {
            "position": position,
            "devices": [
                {
                    "device_id": str(d.device_id),
                    "stage": d.stage.value,
                    "territory_id": str(d.territory_id),
                    "refurbisher": d.refurbisher,
                    "entered_at": iso(d.entered_at),
                    "waited_s": seconds(d.waited),
                }
                for d in stuck
            ],
        }
    )


def receipt_json(receipt: DonorReceipt) -> dict[str, Any]:
    return {
        "donor": receipt.donor,
        "pledged": receipt.pledged,
        "delivered": receipt.delivered,
        "recycled": receipt.recycled,
        "by_stage": {stage.value: n for stage, n in receipt.by_stage.items()},
        "devices": [
            {
                "device_id": str(d.device_id),
                "serial_number": d.serial_number,
                "kind": d.kind.value,
                "make": d.make,
                "model": d.model,
                "stage": d.stage.value,
                "outcome": d.outcome.value,
                "certificate_id": d.certificate_id,
                "times_delivered": d.times_delivered,
            }
            for d in receipt.devices
        ],
    }


async def get_my_receipt(call: Call) -> Reply:
    services, donor = call.services, caller_party(call.caller)
    limit, offset = call.query["limit"], call.query["offset"]

    def read() -> DonorReceipt:
        services.catch_up(PIPELINE)
        return DevicePipeline(services.engine).donor_receipt(donor, limit=limit, offset=offset)

    return Reply(receipt_json(await services.run(read)))


# Operations ---------------------------------------------------------------------------

PLACE = {
    "territory": {**s.OPAQUE_ID, "description": "a territory's code"},
    "refurbisher": {"type": "string", "pattern": "^[0-9]{14}$", "description": "its SIRET"},
}
PAGE = {
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": 100},
    "offset": {"type": "integer", "minimum": 0, "maximum": 1_000_000, "default": 0},
}
assert DEFAULT_PAGE_SIZE <= MAX_PAGE_SIZE
STAGE_COUNTS = {
    "type": "object",
    "propertyNames": {"enum": list(STAGES)},
    "additionalProperties": s.COUNT,
}
LEAD_TIME = s.obj(
    {"stage": s.enum(*STAGES), "stays": s.COUNT, "median_s": s.COUNT, "p90_s": s.COUNT}
)
AS_OF = as_of_query("The pipeline")
EXAMPLE_STAGES = dict.fromkeys(STAGES, 0) | {"delivered": 17, "recycled": 3}
EXAMPLE_PIPELINE = {
    "position": 1207,
    "territory": "lyon",
    "refurbisher": None,
    "by_stage": EXAMPLE_STAGES,
    "pledged": 20,
    "delivered": 17,
    "scrapped": 3,
    "charged_cents": 64_600,
    "cost_per_delivered_cents": 3800,
    "budget_per_delivered_cents": MAX_CHARGE_PER_DEVICE_CENTS,
    "within_budget": True,
    "lead_times": [{"stage": "received", "stays": 20, "median_s": 111_600, "p90_s": 205_200}],
    "stuck": {},
}
EXAMPLE_DEVICE_ID = "6f1c2b9e-2d4a-5c1e-9a53-0d6a3f0b7c11"

OPERATIONS = (
    Operation(
        operation_id="get_device_pipeline",
        method="GET",
        path="/v1/device-pipeline",
        summary="The refurbishment pipeline: devices per stage, yield, cost, lead times",
        description="Over every territory, or one (`territory`, its code); stage counts and "
        "lead times also for one refurbisher (`refurbisher`, its SIRET). Delivered counts "
        "devices delivered to a pupil at least once; the cost per delivered device is what "
        "refurbishments and repairs were charged, over the devices delivered, against the "
        "60 € the programme pays. Lead times are the median and 90th percentile, by nearest "
        "rank, of the finished stays in each stage; `stuck` counts devices in a stage for "
        "longer than its limit (30 days; 14 while the donor's data is not yet wiped), at the "
        "time of the request or, as of the past, at the time then." + AS_OF_TEXT,
        tag="operator",
        roles=STAFF,
        handler=get_device_pipeline,
        query=s.obj({}, {**PLACE, **AS_OF}),
        response=s.obj(
            {
                "position": POSITION,
                "territory": s.nullable(s.OPAQUE_ID),
                "refurbisher": s.nullable(s.TEXT),
                "by_stage": STAGE_COUNTS,
                "pledged": s.COUNT,
                "delivered": s.COUNT,
                "scrapped": s.COUNT,
                "charged_cents": s.CENTS_OR_ZERO,
                "cost_per_delivered_cents": s.nullable(s.CENTS_OR_ZERO),
                "budget_per_delivered_cents": s.CENTS,
                "within_budget": s.BOOLEAN,
                "lead_times": s.array(LEAD_TIME, len(STAGES)),
                "stuck": STAGE_COUNTS,
            }
        ),
        example_response=EXAMPLE_PIPELINE,
        ownership="any",
    ),
    Operation(
        operation_id="list_stuck_devices",
        method="GET",
        path="/v1/device-pipeline/stuck",
        summary="Devices waiting in a stage longer than its limit, longest first",
        description="The same limits as the pipeline's `stuck` counts, at the time of the "
        "request; filtered by `territory` (its code) and `refurbisher` (its SIRET)." + AS_OF_TEXT,
        tag="operator",
        roles=STAFF,
        handler=list_stuck_devices,
        query=s.obj({}, {**PLACE, **PAGE, **AS_OF}),
        response=s.obj(
            {
                "position": POSITION,
                "devices": s.array(
                    s.obj(
                        {
                            "device_id": s.UUID,
                            "stage": s.enum(*STAGES),
                            "territory_id": s.UUID,
                            "refurbisher": s.nullable(s.TEXT),
                            "entered_at": s.DATETIME,
                            "waited_s": s.COUNT,
                        }
                    ),
                    MAX_PAGE_SIZE,
                ),
            }
        ),
        example_response={
            "position": 1207,
            "devices": [
                {
                    "device_id": EXAMPLE_DEVICE_ID,
                    "stage": "received",
                    "territory_id": "1c9d7c52-58f0-5b8e-9f7e-2f4b0c1a6e33",
                    "refurbisher": "organisation:55210055400013",
                    "entered_at": "2027-10-05T09:00:00+00:00",
                    "waited_s": 1_728_000,
                }
            ],
        },
        ownership="any",
    ),
    Operation(
        operation_id="get_my_donor_receipt",
        method="GET",
        path="/v1/device-receipt",
        summary="The calling donor's receipt: what it gave and what became of it",
        description="Counts over every device the donor pledged, and one page of them by "
        "serial number, each with its stage, its outcome (in progress, delivered, scrapped, "
        "recycled) and its erasure certificate's id. No pupil and no school.",
        tag="donor",
        roles=frozenset({Role.DONOR}),
        handler=get_my_receipt,
        query=s.obj({}, PAGE),
        response=s.obj(
            {
                "donor": s.TEXT,
                "pledged": s.COUNT,
                "delivered": s.COUNT,
                "recycled": s.COUNT,
                "by_stage": STAGE_COUNTS,
                "devices": s.array(
                    s.obj(
                        {
                            "device_id": s.UUID,
                            "serial_number": s.TEXT,
                            "kind": s.TEXT,
                            "make": s.TEXT,
                            "model": s.TEXT,
                            "stage": s.enum(*STAGES),
                            "outcome": s.TEXT,
                            "certificate_id": s.nullable(s.TEXT),
                            "times_delivered": s.COUNT,
                        }
                    ),
                    MAX_PAGE_SIZE,
                ),
            }
        ),
        example_response={
            "donor": "company:81055667000018",
            "pledged": 1,
            "delivered": 1,
            "recycled": 0,
            "by_stage": dict.fromkeys(STAGES, 0) | {"delivered": 1},
            "devices": [
                {
                    "device_id": EXAMPLE_DEVICE_ID,
                    "serial_number": "SN-5CG7341XYZ",
                    "kind": "laptop",
                    "make": "HP",
                    "model": "EliteBook 840 G5",
                    "stage": "delivered",
                    "outcome": "delivered",
                    "certificate_id": "EC-2027-000117",
                    "times_delivered": 1,
                }
            ],
        },
        ownership="token",
    ),
)
