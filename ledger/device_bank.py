"""The device bank: the application through which donated devices go from donors to pupils
(the rules live in `ledger.devices`, `ledger.custody` and `ledger.lots`; the territories
and the organisations' approvals in `ledger.device_programme`).

Parties are named as `ledger.parties` names them (`organisation:{SIRET}`, `school:{UAI}`,
`company:{SIRET}`, `individual:{ref}`); an organisation acting in a role is named by its
SIRET, a school by its UAI. Each command loads the organisations it names and acts with
their approvals in force at that moment.

Every command saves all it changes in one transaction: a refurbishment with its charge to
the territory's budget; an action on a lot with every device of the lot. On a concurrent
write the store refuses the save, and the command loads again and retries: a budget spent
meanwhile then refuses the charge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from ledger.device_programme import DeviceProgramme
from ledger.device_records import DeviceDescription, Parts, Specs, check_reason, check_serial
from ledger.devices import Device
from ledger.errors import (
    DeviceNotFound,
    DomainError,
    InvalidInput,
    LotNotFound,
    TooManyDevices,
)
from ledger.lots import Lot, check_devices, lot_digest, lot_id
from ledger.parties import (
    ORGANISATION,
    SCHOOL,
    Actor,
    check_party,
    organisation,
    party_kind,
    party_ref,
    school,
)
from ledger.territories import territory_id

MAX_DEVICES_PER_PLEDGE = 500

LotCommand = Callable[[Device, UUID | None], None]


class DeviceBank(DeviceProgramme):
    """Solidarity device banks: donated devices, their lots, their way to pupils; and,
    from `DeviceProgramme`, the territories and the approved organisations."""

    # Pledges and lots --------------------------------------------------------------------

    def pledge_device(
        self,
        *,
        donor: str,
        territory: str,
        kind: str,
        serial_number: str,
        make: str,
        model: str,
        specs: Specs = (),
        by: str,
        now: datetime,
    ) -> UUID:
        """A donor's pledge of one device in a territory (by its code); answers its id."""
        description = DeviceDescription(kind, serial_number, make, model, tuple(specs))
        (device,) = self.pledge_devices(
            donor=donor, territory=territory, devices=(description,), by=by, now=now
        )
        return device

    def pledge_devices(
        self,
        *,
        donor: str,
        territory: str,
        devices: Sequence[DeviceDescription],
        by: str,
        now: datetime,
    ) -> tuple[UUID, ...]:
        """A bulk pledge, all or nothing; devices already pledged alike are answered again."""
        if not 0 < len(devices) <= MAX_DEVICES_PER_PLEDGE:
            raise TooManyDevices(
                f"a pledge has 1 to {MAX_DEVICES_PER_PLEDGE} devices", field="devices"
            )
        serials = [check_serial(d.serial_number) for d in devices]
        if len(set(serials)) != len(serials):
            raise InvalidInput("a pledge names each serial number once", field="devices")
        actor = Actor.donor(donor)
        home = self.get_territory(territory_id(territory))

        def attempt() -> tuple[UUID, ...]:
            # Built on each attempt: a failed save has drained the events of the last ones.
            pledged = [
                Device.pledge(donor=actor, territory_id=home.id, description=d, by=by, now=now)
                for d in devices
            ]
            new: list[Device] = []
            for device in pledged:
                existing = self._find(device.id)
                if existing is None:
                    new.append(device)
                else:
                    existing.check_same_request(device.request_digest)
            self.record(*new)
            return tuple(d.id for d in pledged)

        return self.retrying(attempt, "the devices")

    def form_lot(self, *, key: str, device_ids: Sequence[UUID], by: str, now: datetime) -> UUID:
        """Gather devices into a lot under a client key; a retry answers the same lot."""
        ids = check_devices(tuple(device_ids))
        new_id = lot_id(key)

        def attempt() -> UUID:
            existing = self._find(new_id)
            if existing is not None:
                existing.check_same_request(lot_digest(ids))
                return new_id
            for device in ids:
                self.get_device(device)
            self.record(Lot.form(key=key, device_ids=ids, by=by, now=now))
            return new_id

        return self.retrying(attempt, "the lot")

    def get_device(self, device_id: UUID) -> Device:
        return self._get(device_id, Device, DeviceNotFound, "device")

    def get_lot(self, lot_id: UUID) -> Lot:
        return self._get(lot_id, Lot, LotNotFound, "lot")

    # Custody: on one device or on every device of a lot ----------------------------------

    def hand_over(
        self,
        target: UUID,
        *,
        giver: str,
        receiver: str,
        reason: str = "",
        by: str,
        now: datetime,
    ) -> None:
        """The giver hands a device, or each device of a lot, over to the receiver."""

        def command() -> LotCommand:
            giving, receiving = self._actor(giver), self._actor(receiver)
            return lambda device, lot: device.hand_over(
                giver=giving, receiver=receiving, lot_id=lot, reason=reason, by=by, now=now
            )

        self._on_devices(target, command)

    def confirm_handover(
        self, target: UUID, *, receiver: str, receiver_ref: str = "", by: str, now: datetime
    ) -> None:
        """The receiver confirms the handover of a device, or of each device of a lot; a
        school names who received the devices (`receiver_ref`, an opaque reference)."""

        def command() -> LotCommand:
            receiving = self._actor(receiver)
            return lambda device, _: device.confirm_handover(
                receiver=receiving, receiver_ref=receiver_ref, by=by, now=now
            )

        self._on_devices(target, command)

    def revoke_handover(
        self, target: UUID, *, giver: str, reason: str, by: str, now: datetime
    ) -> None:
        """The giver takes back a handover not yet confirmed (of a device or a lot)."""

        def command() -> LotCommand:
            giving = self._actor(giver)
            return lambda device, _: device.revoke_handover(
                giver=giving, reason=reason, by=by, now=now
            )

        self._on_devices(target, command)

    def deliver(self, target: UUID, *, refurbisher: str, by: str, now: datetime) -> None:
        """The refurbisher hands each device over to the school of its pupil."""

        def command() -> LotCommand:
            giving = self._organisation(refurbisher)
            return lambda device, lot: device.deliver(
                refurbisher=giving, lot_id=lot, by=by, now=now
            )

        self._on_devices(target, command)

    def return_device(
        self,
        device_id: UUID,
        *,
        school_uai: str,
        refurbisher: str,
        reason: str,
        by: str,
        now: datetime,
    ) -> None:
        """The school hands a delivered device back to a refurbisher, with a reason; the
        refurbisher's confirmation ends the pupil's allocation."""
        self.hand_over(
            device_id,
            giver=school(school_uai),
            receiver=organisation(refurbisher),
            reason=check_reason(reason),
            by=by,
            now=now,
        )

    # The refurbisher's work --------------------------------------------------------------

    def diagnose(
        self,
        device_id: UUID,
        *,
        refurbisher: str,
        grade: str,
        findings: str = "",
        by: str,
        now: datetime,
    ) -> None:
        """The refurbisher that received the device grades it: A, B, C or unfit."""
        self._by_refurbisher(
            device_id, refurbisher, Device.diagnose, grade=grade, findings=findings, by=by, now=now
        )

    def wipe(
        self,
        device_id: UUID,
        *,
        refurbisher: str,
        method: str,
        certificate_id: str,
        certificate_sha256: str,
        by: str,
        now: datetime,
    ) -> None:
        """Record the wipe of the donor's data and its erasure certificate."""
        certificate = {"certificate_id": certificate_id, "certificate_sha256": certificate_sha256}
        self._by_refurbisher(
            device_id, refurbisher, Device.wipe, method=method, **certificate, by=by, now=now
        )

    def refurbish(
        self,
        device_id: UUID,
        *,
        refurbisher: str,
        parts: Parts,
        cost_cents: int,
        by: str,
        now: datetime,
    ) -> None:
        """Refurbish a wiped device; its cost is charged to its territory in the same save."""
        work = {"parts": tuple(parts), "cost_cents": cost_cents}
        self._by_refurbisher(device_id, refurbisher, Device.refurbish, **work, by=by, now=now)

    def repair(
        self,
        device_id: UUID,
        *,
        refurbisher: str,
        parts: Parts,
        cost_cents: int,
        by: str,
        now: datetime,
    ) -> None:
        """Repair a returned device; its cost is charged to its territory in the same save."""
        work = {"parts": tuple(parts), "cost_cents": cost_cents}
        self._by_refurbisher(device_id, refurbisher, Device.repair, **work, by=by, now=now)

    def scrap(
        self, device_id: UUID, *, refurbisher: str, reason: str, by: str, now: datetime
    ) -> None:
        """Scrap a wiped or returned device, with a reason; a collector recycles it."""
        self._by_refurbisher(device_id, refurbisher, Device.scrap, reason=reason, by=by, now=now)

    # Education services ------------------------------------------------------------------

    def allocate(
        self,
        device_id: UUID,
        *,
        education_service: str,
        pupil_id: str,
        school_uai: str,
        by: str,
        now: datetime,
    ) -> None:
        """An education service allocates a refurbished, wiped device to a pupil (an opaque
        id) of a school (its UAI)."""
        pupil = {"pupil_id": pupil_id, "school_uai": school_uai}
        self._by_education_service(
            device_id, education_service, Device.allocate, **pupil, by=by, now=now
        )

    def reallocate(
        self,
        device_id: UUID,
        *,
        education_service: str,
        pupil_id: str,
        school_uai: str,
        by: str,
        now: datetime,
    ) -> None:
        """Allocate the device to another pupil; once delivered, of the same school."""
        pupil = {"pupil_id": pupil_id, "school_uai": school_uai}
        self._by_education_service(
            device_id, education_service, Device.reallocate, **pupil, by=by, now=now
        )

    # Plumbing ----------------------------------------------------------------------------

    def _actor(self, party: str) -> Actor:
        """A party as it may act now: an organisation with its approvals in force."""
        party = check_party(party)
        if party_kind(party) == ORGANISATION:
            return self._organisation(party_ref(party))
        if party_kind(party) == SCHOOL:
            return Actor.school(party_ref(party))
        return Actor.donor(party)

    def _by_refurbisher(
        self, device_id: UUID, siret: str, command: Callable[..., None], **arguments: Any
    ) -> None:
        """Run a refurbisher's command on a device; a refurbishment or a repair is charged
        to the device's territory, saved with it."""
        charged = command in (Device.refurbish, Device.repair)

        def attempt() -> None:
            device = self.get_device(device_id)
            refurbisher = self._organisation(siret)
            if charged:
                territory = self.get_territory(device.territory_id)
                command(device, refurbisher=refurbisher, territory=territory, **arguments)
                self.record(device, territory)
            else:
                command(device, refurbisher=refurbisher, **arguments)
                self.record(device)

        self.retrying(attempt, "the device and its territory")

    def _by_education_service(
        self, device_id: UUID, siret: str, command: Callable[..., None], **arguments: Any
    ) -> None:
        def attempt() -> None:
            device = self.get_device(device_id)
            command(device, education_service=self._organisation(siret), **arguments)
            self.record(device)

        self.retrying(attempt, "the device")

    def _on_devices(self, target: UUID, command: Callable[[], LotCommand]) -> None:
        """Apply a command to a device, or to each device of a lot, and save all or none.
        `command` resolves the parties (once per attempt) and answers the device command."""

        def attempt() -> None:
            found = self._find(target)
            if isinstance(found, Lot):
                devices, lot = [self.get_device(i) for i in found.device_ids], found.id
            elif isinstance(found, Device):
                devices, lot = [found], None
            else:
                raise DeviceNotFound(f"no device or lot {target}")
            on_device = command()
            for device in devices:
                try:
                    on_device(device, lot)
                except DomainError as refused:
                    raise naming_device(refused, device) from None
            self.record(*devices)

        self.retrying(attempt, "the devices")


def naming_device(refused: DomainError, device: Device) -> DomainError:
    """The same refusal, naming the device that refused (in a lot, which one)."""
    serial = device.description.serial_number
    message = f"device {device.id} ({serial}): {refused.message}"
    return type(refused)(message, **{**refused.details, "device_id": str(device.id)})
