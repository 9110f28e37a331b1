"""Lots: devices that travel together, such as a collection round or a delivery batch.

A lot is a named set of devices, formed under a client key (its id derives from the key,
so forming it again with the same devices answers the same lot; the same key with other
devices is refused). An action on a lot, a handover, its confirmation or its revocation,
applies to every device of the lot at once: the application records all their events in
one transaction, or none when one device refuses, and the error names that device.

A lot records no action itself: each device's events name the lot they moved in, so the
devices' histories say which lot carried them.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from ledger.errors import IdempotencyKeyReused, InvalidInput, TooManyDevices
from ledger.ids import TIRELIRE_NAMESPACE, check_key, request_digest

MAX_LOT_DEVICES = 500


def lot_id(key: str) -> UUID:
    return uuid5(TIRELIRE_NAMESPACE, f"lot:{check_key(key, 'lot key')}")


class Lot(Aggregate):
    """Devices that move together. The id is `lot_id(key)`."""

    class Formed(Aggregate.Created):
        lot_key: str
        device_ids: tuple[UUID, ...]
        request_digest: str
        formed_by: str
        formed_at: datetime

        def apply(self, lot: Lot) -> None:
            lot.lot_key = self.lot_key
            lot.device_ids = self.device_ids
            lot.request_digest = self.request_digest

    @classmethod
    def form(cls, *, key: str, device_ids: tuple[UUID, ...], by: str, now: datetime) -> Lot:
        device_ids = check_devices(device_ids)
        return cls._create(
            cls.Formed,
            id=lot_id(key),
            timestamp=now,
            lot_key=key,
            device_ids=device_ids,
            request_digest=lot_digest(device_ids),
            formed_by=by,
            formed_at=now,
        )

    def check_same_request(self, digest: str) -> None:
        if digest != self.request_digest:
            raise IdempotencyKeyReused(
                f"lot key {self.lot_key!r} was used for other devices", key=self.lot_key
            )


def check_devices(device_ids: tuple[UUID, ...]) -> tuple[UUID, ...]:
    """The devices of a lot, sorted: at least one, each once, at most `MAX_LOT_DEVICES`."""
    ids = tuple(sorted(device_ids))
    if len(ids) > MAX_LOT_DEVICES:
        raise TooManyDevices(f"a lot has at most {MAX_LOT_DEVICES} devices", field="device_ids")
    if not ids or len(set(ids)) != len(ids):
        raise InvalidInput("a lot has at least one device, each once", field="device_ids")
    return ids


def lot_digest(device_ids: tuple[UUID, ...]) -> str:
    return request_digest("form_lot", device_ids)
