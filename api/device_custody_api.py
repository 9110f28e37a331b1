"""Custody over HTTP: devices change hands in two steps, one device or a lot at a time.

The giver *hands over* a device (its holder: the donor to a collector, the collector to a
refurbisher, a refurbisher to a collector for recycling); the receiver *confirms*, and
only then holds it; until then the giver may *revoke* the handover. A refurbisher
*delivers* an allocated device to the school of its pupil (`api.devices_api`, or here a
whole lot), and the school confirms with the reference of the person who received it; a
school *returns* a device to a refurbisher, with a reason. The stage a device is in says
who may receive it (`ledger.custody`); the domain refuses anything else (409) and names,
in a lot, the device that refused.

A **lot** gathers devices that travel together (a collection round, a delivery batch):
the caller forms it from the devices it holds or is asked to receive, under its
`Idempotency-Key`, which is the lot's key (scoped to the caller: `api.common.scoped_key`),
so the same request again answers the same lot and the same key with other devices is
refused (422). An action on a lot applies to each of its devices, all or none. A party
acts only on devices and lots it deals with (403 otherwise).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from api import device_examples as e
from api import device_views as v
from api import schemas as s
from api.common import body_uuid, path_uuid, scoped_key
from api.parties import caller_party
from api.spec import Call, Handler, Operation, Reply, Role
from ledger.device_bank import DeviceBank
from ledger.devices import Device
from ledger.errors import Forbidden, InvalidIdentifier, LotNotFound, NotCustodian
from ledger.lots import MAX_LOT_DEVICES, Lot, lot_id
from ledger.parties import ORGANISATION, check_party, party_kind, party_ref

GIVERS = frozenset({Role.DONOR, Role.COLLECTOR, Role.REFURBISHER})
RECEIVERS = frozenset({Role.COLLECTOR, Role.REFURBISHER, Role.SCHOOL})
REVOKERS = GIVERS | {Role.SCHOOL}
REFURBISHER = frozenset({Role.REFURBISHER})
SCHOOL = frozenset({Role.SCHOOL})

# A custody command on a target (a device or a lot id): (bank, target, party, body, call).
Command = Callable[[DeviceBank, UUID, str, dict[str, Any], Call], None]


def _hand_over(bank: DeviceBank, target: UUID, party: str, body: Any, call: Call) -> None:
    receiver, reason = body["receiver"], body.get("reason", "")
    bank.hand_over(
        target, giver=party, receiver=receiver, reason=reason, by=call.caller.name, now=call.now
    )


def _confirm(bank: DeviceBank, target: UUID, party: str, body: Any, call: Call) -> None:
    ref = body.get("receiver_ref", "")
    bank.confirm_handover(
        target, receiver=party, receiver_ref=ref, by=call.caller.name, now=call.now
    )


def _revoke(bank: DeviceBank, target: UUID, party: str, body: Any, call: Call) -> None:
    bank.revoke_handover(
        target, giver=party, reason=body["reason"], by=call.caller.name, now=call.now
    )


def _deliver(bank: DeviceBank, target: UUID, party: str, _: Any, call: Call) -> None:
    bank.deliver(target, refurbisher=party_ref(party), by=call.caller.name, now=call.now)


def _return(bank: DeviceBank, target: UUID, party: str, body: Any, call: Call) -> None:
    receiver = check_party(body["receiver"])
    if party_kind(receiver) != ORGANISATION:
        raise InvalidIdentifier("a device is returned to organisation:{SIRET}", field="receiver")
    bank.return_device(
        target,
        school_uai=party_ref(party),
        refurbisher=party_ref(receiver),
        reason=body["reason"],
        by=call.caller.name,
        now=call.now,
    )


def on_device(command: Command) -> Handler:
    """The handler of a custody command on the device in the path, answering the device."""

    async def handler(call: Call) -> Reply:
        party, device_id = caller_party(call.caller), path_uuid(call, "device_id")
        bank = call.services.devices

        def act() -> Device:
            v.check_involved(bank.get_device(device_id), party)  # a device, not a lot
            command(bank, device_id, party, call.body or {}, call)
            return bank.get_device(device_id)

        return Reply(v.device_json(await call.services.run(act), call.caller.role))

    return handler


def on_lot(command: Command) -> Handler:
    """The handler of a custody command on each device of the lot in the path."""

    async def handler(call: Call) -> Reply:
        party, target = caller_party(call.caller), path_uuid(call, "lot_id")
        bank = call.services.devices

        def act() -> dict[str, Any]:
            lot = bank.get_lot(target)
            for device_id in lot.device_ids:
                if not v.involved(bank.get_device(device_id), party):
                    raise Forbidden(f"lot {lot.id} holds devices that are no concern of {party}")
            command(bank, target, party, call.body or {}, call)
            return v.lot_json(lot, [bank.get_device(d) for d in lot.device_ids])

        return Reply(await call.services.run(act))

    return handler


def gather(bank: DeviceBank, key: str, device_ids: list[UUID], party: str, call: Call) -> Lot:
    """Blocking: form the lot, of devices the party holds or is asked to receive; a lot
    formed already under this key is answered by the domain (the same devices or 422)."""
    try:
        bank.get_lot(lot_id(key))
    except LotNotFound:
        for device_id in device_ids:
            device = bank.get_device(device_id)
            awaiting = device.awaiting
            if device.holder != party and (awaiting is None or awaiting.receiver != party):
                raise NotCustodian(
                    f"device {device_id} is neither held by {party} nor handed over to it",
                    device_id=str(device_id),
                ) from None
    formed = bank.form_lot(key=key, device_ids=device_ids, by=call.caller.name, now=call.now)
    return bank.get_lot(formed)


async def form_lot(call: Call) -> Reply:
    party, bank = caller_party(call.caller), call.services.devices
    key = scoped_key(call.caller, call.idempotency_key)
    ids = [body_uuid(device, "device_ids") for device in call.body["device_ids"]]

    def formed() -> dict[str, Any]:
        lot = gather(bank, key, ids, party, call)
        return v.lot_json(lot, [bank.get_device(d) for d in lot.device_ids])

    return Reply(await call.services.run(formed), status=201)


# Operations -----------------------------------------------------------------------------

HANDOVER_BODY = s.obj({"receiver": v.RECEIVER}, {"reason": s.TEXT})
CONFIRM_BODY = s.obj({}, {"receiver_ref": s.OPAQUE_ID})
HANDED_OVER = {
    **e.seen_by(e.PLEDGED_DEVICE, Role.DONOR),
    "awaiting": {
        "giver": e.DONOR,
        "receiver": e.COLLECTOR,
        "receiver_role": "collector",
        "lot_id": None,
        "reason": "",
        "handed_over_at": "2027-09-02T09:00:00+00:00",
    },
}
COLLECTED = {
    **e.seen_by(e.PLEDGED_DEVICE, Role.COLLECTOR),
    "stage": "collected",
    "holder": e.COLLECTOR,
    "custody_chain": [
        {**e.PLEDGED_DEVICE["custody_chain"][0], "until": "2027-09-03T09:00:00+00:00"},
        {
            "holder": e.COLLECTOR,
            "role": "collector",
            "since": "2027-09-03T09:00:00+00:00",
            "until": None,
        },
    ],
}
RETURNING = {
    **e.seen_by(e.EXAMPLE_DEVICE, Role.SCHOOL),
    "stage": "delivered",
    "holder": e.SCHOOL,
    "awaiting": {
        "giver": e.SCHOOL,
        "receiver": e.REFURBISHER,
        "receiver_role": "refurbisher",
        "lot_id": None,
        "reason": "l'élève a quitté l'établissement",
        "handed_over_at": "2028-01-05T09:00:00+00:00",
    },
}
LOT_HANDED_OVER = {
    **e.EXAMPLE_LOT,
    "devices": [{**e.EXAMPLE_LOT["devices"][0], "awaiting_receiver": e.REFURBISHER}],
}
LOT_DELIVERING = {
    **e.EXAMPLE_LOT,
    "devices": [
        {
            **e.EXAMPLE_LOT["devices"][0],
            "stage": "allocated",
            "holder": e.REFURBISHER,
            "awaiting_receiver": e.SCHOOL,
        }
    ],
}
LOT_CONFIRMED = {
    **e.EXAMPLE_LOT,
    "devices": [{**e.EXAMPLE_LOT["devices"][0], "stage": "received", "holder": e.REFURBISHER}],
}


def custody_operation(
    operation_id: str, target: str, path: str, summary: str, **fields: Any
) -> Operation:
    """A custody move on a device (`/v1/devices/{device_id}/…`) or a lot (`/v1/lots/…`)."""
    if target == "lot":
        path, handler, response = f"/v1/lots/{{lot_id}}/{path}", on_lot, v.LOT
    else:
        path, handler, response = f"/v1/devices/{{device_id}}/{path}", on_device, v.DEVICE
    return Operation(
        operation_id=operation_id,
        method="POST",
        path=path,
        summary=summary,
        tag="custody",
        handler=handler(fields.pop("command")),
        response=response,
        moves_money=True,
        ownership="self",
        **fields,
    )


def handover_operations(
    target: str, receiver: str, revoked: Any, confirmed: Any, handed: Any
) -> list[Operation]:
    """Hand over, confirm and revoke, on a device or a lot, with their examples."""
    return [
        custody_operation(
            f"hand_over_{target}",
            target,
            "handover",
            f"Hand a {target} over to the next party of its way; the receiver confirms",
            description="The receiver is `organisation:{SIRET}` (an approved collector or "
            "refurbisher, as the stage requires) or `school:{UAI}` (the school of the "
            "device's pupil). The same handover again records nothing.",
            roles=GIVERS,
            command=_hand_over,
            body=HANDOVER_BODY,
            example_body={"receiver": receiver},
            example_response=handed,
        ),
        custody_operation(
            f"confirm_{target}_handover",
            target,
            "handover/confirmation",
            f"Confirm the receipt of a {target} handed over to the caller",
            description="The caller then holds it. A school names who received it "
            "(`receiver_ref`, an opaque reference: the proof of delivery); others may omit "
            "it and send `{}`.",
            roles=RECEIVERS,
            command=_confirm,
            body=CONFIRM_BODY,
            example_body={},
            example_response=confirmed,
        ),
        custody_operation(
            f"revoke_{target}_handover",
            target,
            "handover/revocation",
            f"Take back a handover of a {target} its receiver has not confirmed",
            roles=REVOKERS,
            command=_revoke,
            body=s.REASON,
            example_body={"reason": "collecte reportée"},
            example_response=revoked,
        ),
    ]


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        operation_id="form_lot",
        method="POST",
        path="/v1/lots",
        summary="Gather devices that travel together into a lot",
        description="Of the devices the caller holds or is asked to receive (409 "
        "`not_custodian` otherwise), each once, at most "
        f"{MAX_LOT_DEVICES}. The Idempotency-Key is the lot's key: the same request again "
        "answers the same lot; the same key with other devices is refused (422).",
        tag="custody",
        roles=GIVERS,
        handler=form_lot,
        status=201,
        body=s.obj({"device_ids": s.array(s.UUID, MAX_LOT_DEVICES, 1)}),
        response=v.LOT,
        moves_money=True,
        example_body={"device_ids": [e.DEVICE_ID]},
        example_response=e.EXAMPLE_LOT,
        ownership="token",
    ),
    *handover_operations(
        "device", e.COLLECTOR, e.seen_by(e.PLEDGED_DEVICE, Role.DONOR), COLLECTED, HANDED_OVER
    ),
    custody_operation(
        "return_device",
        "device",
        "return",
        "Give a delivered device back to a refurbisher, with the reason",
        description="The receiver is the refurbisher, `organisation:{SIRET}`; its "
        "confirmation ends the pupil's allocation, and the device may be repaired and "
        "allocated again.",
        roles=SCHOOL,
        command=_return,
        body=s.obj({"receiver": v.RECEIVER, "reason": s.TEXT}),
        example_body={"receiver": e.REFURBISHER, "reason": "l'élève a quitté l'établissement"},
        example_response=RETURNING,
    ),
    *handover_operations("lot", e.REFURBISHER, e.EXAMPLE_LOT, LOT_CONFIRMED, LOT_HANDED_OVER),
    custody_operation(
        "deliver_lot",
        "lot",
        "delivery",
        "Hand each device of a lot over to its pupil's school, all or none",
        description="Each device must be allocated; each goes to the school of its "
        "pupil, which confirms the devices it receives.",
        roles=REFURBISHER,
        command=_deliver,
        example_response=LOT_DELIVERING,
    ),
)
