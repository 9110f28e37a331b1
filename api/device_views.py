"""What the device banks show over HTTP, and to whom: a device, a lot, an organisation, a
territory, as JSON, with their schemas and examples.

**Who reads a device.** The operator and the auditor read any device: its custody chain,
its erasure certificate, its works, its pupils. A party reads the devices it is involved
in (`involved`): a donor its own; a collector, a refurbisher or a school the devices it
holds, held, or is asked to receive; an education service the devices it allocated; a
school those allocated to its pupils. Pupils are opaque ids, and still only those who deal
with them see them: the education services and the schools (and the staff). A collector
or a refurbisher sees the school a device goes to, not the pupil; a donor sees what became
of its device (its stage, who held it, its works) and nothing of its allocation.
"""

from __future__ import annotations

from typing import Any

from api import schemas as s
from api.common import iso
from api.spec import Role
from ledger.device_records import (
    MAX_NAME_LENGTH,
    MAX_PARTS,
    MAX_SPECS,
    DeviceGrade,
    DeviceKind,
    DeviceStage,
    WipeMethod,
)
from ledger.devices import Device
from ledger.errors import Forbidden
from ledger.lots import MAX_LOT_DEVICES, Lot
from ledger.organisations import Organisation
from ledger.parties import APPROVED_ROLES, PartyRole, school
from ledger.territories import Territory, TerritoryKind

PUPIL_READERS = frozenset({Role.OPERATOR, Role.AUDITOR, Role.EDUCATION_SERVICE, Role.SCHOOL})
ALLOCATION_READERS = PUPIL_READERS | {Role.COLLECTOR, Role.REFURBISHER}
MAX_ALLOCATIONS_SHOWN = 50
MAX_CUSTODY_SPELLS_SHOWN = 100


def involved(device: Device, party: str) -> bool:
    """Whether a party deals with this device: its donor, a holder past or present, the
    receiver of its handover, or the education service and school of one of its pupils."""
    if party == device.donor or any(spell.holder == party for spell in device.custody_chain):
        return True
    if device.awaiting is not None and device.awaiting.receiver == party:
        return True
    return any(
        party in (allocation.education_service, school(allocation.school_uai))
        for allocation in device.allocations
    )


def check_involved(device: Device, party: str) -> Device:
    if not involved(device, party):
        raise Forbidden(f"device {device.id} is no concern of {party}")
    return device


# Rendering ------------------------------------------------------------------------------


def device_json(device: Device, reader: Role) -> dict[str, Any]:
    """A device as `reader` may see it (see the module's docstring)."""
    d, awaiting, diagnosis, wipe = device.description, device.awaiting, device.diagnosis, None
    if device.wipe_certificate is not None:
        w = device.wipe_certificate
        wipe = {
            "method": w.method.value,
            "certificate_id": w.certificate_id,
            "certificate_sha256": w.sha256,
            "refurbisher": w.refurbisher,
            "wiped_at": iso(w.wiped_at),
        }
    body = {
        "device_id": str(device.id),
        "donor": device.donor,
        "territory_id": str(device.territory_id),
        "kind": d.kind.value,
        "serial_number": d.serial_number,
        "make": d.make,
        "model": d.model,
        "specs": dict(d.specs),
        "stage": device.stage.value,
        "holder": device.holder,
        "pledged_at": iso(device.custody_chain[0].since),
        "custody_chain": [
            {
                "holder": spell.holder,
                "role": spell.role.value,
                "since": iso(spell.since),
                "until": iso(spell.until),
            }
            for spell in device.custody_chain[-MAX_CUSTODY_SPELLS_SHOWN:]
        ],
        "awaiting": None
        if awaiting is None
        else {
            "giver": awaiting.giver,
            "receiver": awaiting.receiver,
            "receiver_role": awaiting.receiver_role.value,
            "lot_id": None if awaiting.lot_id is None else str(awaiting.lot_id),
            "reason": awaiting.reason,
            "handed_over_at": iso(awaiting.handed_over_at),
        },
        "diagnosis": None
        if diagnosis is None
        else {"grade": diagnosis[0].value, "findings": diagnosis[1]},
        "wipe_certificate": wipe,
        "works": [
            {
                "work": "repair" if work.is_repair else "refurbishment",
                "parts": list(work.parts),
                "cost_cents": work.cost_cents,
                "refurbisher": work.refurbisher,
                "done_at": iso(work.done_at),
            }
            for work in device.works
        ],
        "charged_cents": device.charged_cents,
        "scrap_reason": device.scrap_reason,
    }
    if reader in ALLOCATION_READERS:
        pupils = reader in PUPIL_READERS
        current = device.allocation
        body["allocation"] = None if current is None else allocation_json(current, pupils)
    if reader in PUPIL_READERS:
        shown = device.allocations[-MAX_ALLOCATIONS_SHOWN:]
        body["allocations"] = [allocation_json(a, True) for a in shown]
    return body


def allocation_json(allocation: Any, with_pupil: bool) -> dict[str, Any]:
    body = {
        "school_uai": allocation.school_uai,
        "education_service": allocation.education_service,
        "allocated_at": iso(allocation.allocated_at),
    }
    return {"pupil_id": allocation.pupil_id, **body} if with_pupil else body


def device_summary(device: Device) -> dict[str, Any]:
    awaiting = device.awaiting
    return {
        "device_id": str(device.id),
        "serial_number": device.description.serial_number,
        "stage": device.stage.value,
        "holder": device.holder,
        "awaiting_receiver": None if awaiting is None else awaiting.receiver,
    }


def lot_json(lot: Lot, devices: list[Device]) -> dict[str, Any]:
    return {
        "lot_id": str(lot.id),
        "lot_key": lot.lot_key,
        "devices": [device_summary(d) for d in devices],
    }


def organisation_json(org: Organisation) -> dict[str, Any]:
    return {
        "organisation_id": str(org.id),
        "siret": org.siret,
        "name": org.name,
        "roles": [role.value for role in org.roles],
    }


def territory_json(territory: Territory) -> dict[str, Any]:
    return {
        "territory_id": str(territory.id),
        "code": territory.code,
        "name": territory.name,
        "kind": territory.kind.value,
        "budget_cents": territory.budget_cents,
        "spent_cents": territory.spent_cents,
        "remaining_cents": territory.remaining_cents,
        "funder_id": territory.funder_id,
    }


# Schemas --------------------------------------------------------------------------------

PARTY = {
    "type": "string",
    "pattern": "^(company|individual|organisation|school):[A-Za-z0-9_.:-]{1,64}$",
    "description": "company:{SIRET}, individual:{ref}, organisation:{SIRET} or school:{UAI}",
}
RECEIVER = {
    **PARTY,
    "pattern": "^(organisation|school):[A-Za-z0-9]{1,20}$",
    "description": "organisation:{SIRET} or school:{UAI}",
}
TERRITORY_CODE = s.OPAQUE_ID
NAME = {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH}
SERIAL = {"type": "string", "minLength": 1, "maxLength": 64}
UAI = {"type": "string", "minLength": 1, "maxLength": 64, "description": "as typed"}
SHA256 = {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}
SPECS = {
    "type": "object",
    "maxProperties": MAX_SPECS,
    "propertyNames": {"pattern": "^[a-z][a-z0-9_]{0,31}$"},
    "additionalProperties": NAME,
    "description": "name: value, names in snake_case (ram_gb)",
}
PARTS = s.array(NAME, MAX_PARTS)
COST = {**s.CENTS_OR_ZERO, "description": "euro cents, charged to the territory's budget"}
APPROVED_ROLE = s.enum(*(role.value for role in APPROVED_ROLES))
SPELL = s.obj(
    {
        "holder": PARTY,
        "role": s.enum(*(r.value for r in PartyRole)),
        "since": s.DATETIME,
        "until": s.nullable(s.DATETIME),
    }
)
HANDOVER = s.obj(
    {
        "giver": PARTY,
        "receiver": PARTY,
        "receiver_role": s.enum(*(r.value for r in PartyRole)),
        "lot_id": s.nullable(s.UUID),
        "reason": {"type": "string", "maxLength": 500},
        "handed_over_at": s.DATETIME,
    }
)
WIPE = s.obj(
    {
        "method": s.enum(*(m.value for m in WipeMethod)),
        "certificate_id": s.OPAQUE_ID,
        "certificate_sha256": SHA256,
        "refurbisher": PARTY,
        "wiped_at": s.DATETIME,
    }
)
WORK = s.obj(
    {
        "work": s.enum("refurbishment", "repair"),
        "parts": PARTS,
        "cost_cents": s.CENTS_OR_ZERO,
        "refurbisher": PARTY,
        "done_at": s.DATETIME,
    }
)
ALLOCATION_FIELDS = {"school_uai": UAI, "education_service": PARTY, "allocated_at": s.DATETIME}
ALLOCATION = s.obj(ALLOCATION_FIELDS, {"pupil_id": s.OPAQUE_ID})
DEVICE = s.obj(
    {
        "device_id": s.UUID,
        "donor": PARTY,
        "territory_id": s.UUID,
        "kind": s.enum(*(k.value for k in DeviceKind)),
        "serial_number": SERIAL,
        "make": NAME,
        "model": NAME,
        "specs": SPECS,
        "stage": s.enum(*(stage.value for stage in DeviceStage)),
        "holder": PARTY,
        "pledged_at": s.DATETIME,
        "custody_chain": s.array(SPELL, MAX_CUSTODY_SPELLS_SHOWN, 1),
        "awaiting": s.nullable(HANDOVER),
        "diagnosis": s.nullable(
            s.obj(
                {
                    "grade": s.enum(*(g.value for g in DeviceGrade)),
                    "findings": {"type": "string", "maxLength": 500},
                }
            )
        ),
        "wipe_certificate": s.nullable(WIPE),
        "works": s.array(WORK, 1000),
        "charged_cents": s.CENTS_OR_ZERO,
        "scrap_reason": s.nullable(s.TEXT),
    },
    {
        "allocation": s.nullable(ALLOCATION),
        "allocations": s.array(ALLOCATION, MAX_ALLOCATIONS_SHOWN),
    },
)
DEVICE_SUMMARY = s.obj(
    {
        "device_id": s.UUID,
        "serial_number": SERIAL,
        "stage": s.enum(*(stage.value for stage in DeviceStage)),
        "holder": PARTY,
        "awaiting_receiver": s.nullable(PARTY),
    }
)
LOT = s.obj(
    {
        "lot_id": s.UUID,
        "lot_key": {"type": "string", "minLength": 1, "maxLength": 128},
        "devices": s.array(DEVICE_SUMMARY, MAX_LOT_DEVICES, 1),
    }
)
ORGANISATION = s.obj(
    {
        "organisation_id": s.UUID,
        "siret": {"type": "string", "pattern": "^[0-9]{14}$"},
        "name": s.TITLE,
        "roles": s.array(APPROVED_ROLE, len(APPROVED_ROLES)),
    }
)
TERRITORY = s.obj(
    {
        "territory_id": s.UUID,
        "code": TERRITORY_CODE,
        "name": s.TITLE,
        "kind": s.enum(*(k.value for k in TerritoryKind)),
        "budget_cents": s.CENTS,
        "spent_cents": s.CENTS_OR_ZERO,
        "remaining_cents": s.CENTS_OR_ZERO,
        "funder_id": s.OPAQUE_ID,
    }
)
