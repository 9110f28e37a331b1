"""Examples of the device banks' answers, for the OpenAPI document and the docs page: one
device on its way from a company donor to a Paris lycée, as each reader sees it
(`api.device_views`). The operations' tests check each example against its schema."""

from __future__ import annotations

from typing import Any

from api.device_views import ALLOCATION_READERS, PUPIL_READERS
from api.spec import Role

# The device -------------------------------------------------------------------------------

DONOR = "company:38012986646850"
COLLECTOR = "organisation:73282932000074"
REFURBISHER = "organisation:55210055400013"
EDUCATION_SERVICE = "organisation:44306184100047"
SCHOOL = "school:0750655E"
DEVICE_ID = "2b7c4e1a-9d3f-5a6b-8c2d-1e0f9a8b7c6d"
LOT_ID = "8e1d2c3b-4a59-5687-9a0b-c1d2e3f4a5b6"
TERRITORY_ID = "5a4b3c2d-1e0f-5a9b-8c7d-6e5f4a3b2c1d"
SHA256_EXAMPLE = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
EXAMPLE_PLEDGE = {
    "territory": "lyon",
    "kind": "laptop",
    "serial_number": "5CG7341XYZ",
    "make": "HP",
    "model": "EliteBook 840 G5",
    "specs": {"ram_gb": "8", "storage_gb": "256"},
}
PLEDGED_DEVICE = {
    "device_id": DEVICE_ID,
    "donor": DONOR,
    "territory_id": TERRITORY_ID,
    **{k: v for k, v in EXAMPLE_PLEDGE.items() if k != "territory"},
    "stage": "pledged",
    "holder": DONOR,
    "pledged_at": "2027-09-01T09:00:00+00:00",
    "custody_chain": [
        {"holder": DONOR, "role": "donor", "since": "2027-09-01T09:00:00+00:00", "until": None}
    ],
    "awaiting": None,
    "diagnosis": None,
    "wipe_certificate": None,
    "works": [],
    "charged_cents": 0,
    "scrap_reason": None,
}
EXAMPLE_DEVICE = {
    **PLEDGED_DEVICE,
    "stage": "allocated",
    "holder": REFURBISHER,
    "custody_chain": [
        {**spell, "since": f"2027-09-{day}T09:00:00+00:00", "until": until}
        for spell, day, until in (
            ({"holder": DONOR, "role": "donor"}, "01", "2027-09-03T09:00:00+00:00"),
            ({"holder": COLLECTOR, "role": "collector"}, "03", "2027-09-06T09:00:00+00:00"),
            ({"holder": REFURBISHER, "role": "refurbisher"}, "06", None),
        )
    ],
    "diagnosis": {"grade": "B", "findings": "battery at 71 %"},
    "wipe_certificate": {
        "method": "crypto_erase",
        "certificate_id": "BL-2027-000123",
        "certificate_sha256": SHA256_EXAMPLE,
        "refurbisher": REFURBISHER,
        "wiped_at": "2027-09-07T10:00:00+00:00",
    },
    "works": [
        {
            "work": "refurbishment",
            "parts": ["battery"],
            "cost_cents": 4500,
            "refurbisher": REFURBISHER,
            "done_at": "2027-09-08T10:00:00+00:00",
        }
    ],
    "charged_cents": 4500,
    "allocation": {
        "pupil_id": "ine-7f3a",
        "school_uai": "0750655E",
        "education_service": EDUCATION_SERVICE,
        "allocated_at": "2027-09-10T10:00:00+00:00",
    },
    "allocations": [
        {
            "pupil_id": "ine-7f3a",
            "school_uai": "0750655E",
            "education_service": EDUCATION_SERVICE,
            "allocated_at": "2027-09-10T10:00:00+00:00",
        }
    ],
}
EXAMPLE_LOT = {
    "lot_id": LOT_ID,
    "lot_key": "collector:organisation:73282932000074:round-42",
    "devices": [
        {
            "device_id": DEVICE_ID,
            "serial_number": "5CG7341XYZ",
            "stage": "collected",
            "holder": COLLECTOR,
            "awaiting_receiver": None,
        }
    ],
}


def seen_by(example: dict[str, Any], reader: Role) -> dict[str, Any]:
    """An example device as `reader` sees it: the same rule as `device_json`."""
    shown = {k: v for k, v in example.items() if k not in ("allocation", "allocations")}
    if reader in ALLOCATION_READERS:
        current = example.get("allocation")
        if current is not None and reader not in PUPIL_READERS:
            current = {k: v for k, v in current.items() if k != "pupil_id"}
        shown["allocation"] = current
    if reader in PUPIL_READERS:
        shown["allocations"] = example.get("allocations", [])
    return shown
