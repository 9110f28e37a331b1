"""Custody and allocation: who holds a device, who it is for, and how it changes hands.

**Two-party custody.** A device changes hands in two steps: the giving side *hands it
over*, and the handover awaits the receiving side, which *confirms* it; until then the
giver still holds the device and may *revoke* the handover. While a handover awaits,
nothing else happens to the device. Each confirmed handover closes a **custody spell** (who
held the device, in which role, from when to when) and opens the next: the device's
custody chain is the tuple of its spells, from its donor onwards.

**Who may receive.** The stage a device is in says who may receive it next, in which
role, and the stage the confirmed handover ends in (`HANDOVERS`): a pledged device goes to
an approved collector, a collected one to an approved refurbisher, an allocated one to the
school of its pupil, a delivered one back to a refurbisher, a scrapped one to a collector
for recycling. The receiver must be approved for that role when it receives the device and
again when it confirms (`ledger.parties`). No delivery without an allocation: a device
goes to a school only once allocated to one of its pupils, and only to that school, which
confirms with the reference of the person who received it.

**Allocation.** An approved education service allocates a refurbished device, once its
erasure certificate is recorded, to a pupil (an opaque id) of a school (its UAI). It may
reallocate it to another pupil: of any school until the device is delivered, of the same
school afterwards (a device at a school goes elsewhere only through a return). A confirmed
return ends the allocation; every allocation stays in the device's history.

`DeviceCustody` is the half of the `Device` aggregate (`ledger.devices`) that says where a
device goes, apart so each half reads whole; its events are the device's
(`Device.HandedOver`, …).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate

from ledger.device_records import (
    Allocation,
    DeviceStage,
    check_pupil,
    check_reason,
    check_receiver_ref,
)
from ledger.errors import (
    DeviceNotAllocated,
    DeviceStageConflict,
    HandoverAwaitingConfirmation,
    NoHandoverAwaiting,
    NotCustodian,
    SchoolMismatch,
    WipeCertificateMissing,
)
from ledger.identifiers import check_uai
from ledger.parties import SCHOOL, Actor, PartyRole, party_kind, school

# The stage a handover starts from: (the role its receiver acts in, the stage it ends in).
HANDOVERS = {
    DeviceStage.PLEDGED: (PartyRole.COLLECTOR, DeviceStage.COLLECTED),
    DeviceStage.COLLECTED: (PartyRole.REFURBISHER, DeviceStage.RECEIVED),
    DeviceStage.ALLOCATED: (PartyRole.SCHOOL, DeviceStage.DELIVERED),
    DeviceStage.DELIVERED: (PartyRole.REFURBISHER, DeviceStage.RETURNED),
    DeviceStage.SCRAPPED: (PartyRole.COLLECTOR, DeviceStage.RECYCLED),
}


@dataclass(frozen=True, slots=True)
class CustodySpell:
    """Who held a device, in which role, from `since` until `until` (None: holds it now)."""

    holder: str
    role: PartyRole
    since: datetime
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Handover:
    """A device handed over and awaiting its receiver's confirmation."""

    giver: str
    receiver: str
    receiver_role: PartyRole
    lot_id: UUID | None
    reason: str
    handed_over_at: datetime


class DeviceCustody(Aggregate):
    """Where a device goes: its custody spells, its handover awaiting confirmation, and
    the pupil it is allocated to."""

    class Event(Aggregate.Event):
        pass

    class HandedOver(Event):
        giver: str
        receiver: str
        receiver_role: PartyRole
        lot_id: UUID | None
        reason: str
        handed_over_by: str
        handed_over_at: datetime

        def apply(self, device: DeviceCustody) -> None:
            device.awaiting = Handover(
                self.giver,
                self.receiver,
                self.receiver_role,
                self.lot_id,
                self.reason,
                self.handed_over_at,
            )

    class HandoverConfirmed(Event):
        receiver: str
        receiver_ref: str  # who received it; at a school, the proof of delivery
        stage: DeviceStage
        confirmed_by: str
        confirmed_at: datetime

        def apply(self, device: DeviceCustody) -> None:
            last = device.custody_chain[-1]
            closed = CustodySpell(last.holder, last.role, last.since, self.confirmed_at)
            opened = CustodySpell(self.receiver, device.awaiting.receiver_role, self.confirmed_at)
            device.custody_chain = (*device.custody_chain[:-1], closed, opened)
            device.stage = self.stage
            device.awaiting = None
            if self.stage is DeviceStage.RETURNED:
                device.allocation = None  # the pupil gave it back

    class HandoverRevoked(Event):
        reason: str
        revoked_by: str
        revoked_at: datetime

        def apply(self, device: DeviceCustody) -> None:
            device.revoked, device.awaiting = device.awaiting, None

    class Allocated(Event):
        education_service: str
        pupil_id: str
        school_uai: str
        allocated_by: str
        allocated_at: datetime

        def apply(self, device: DeviceCustody) -> None:
            device.allocation = Allocation(
                self.pupil_id, self.school_uai, self.education_service, self.allocated_at
            )
            device.allocations = (*device.allocations, device.allocation)
            device.stage = DeviceStage.ALLOCATED

    class Reallocated(Event):
        education_service: str
        pupil_id: str
        school_uai: str
        reallocated_by: str
        reallocated_at: datetime

        def apply(self, device: DeviceCustody) -> None:
            device.allocation = Allocation(
                self.pupil_id, self.school_uai, self.education_service, self.reallocated_at
            )
            device.allocations = (*device.allocations, device.allocation)

    # Commands ----------------------------------------------------------------------------

    def hand_over(
        self,
        *,
        giver: Actor,
        receiver: Actor,
        lot_id: UUID | None = None,
        reason: str = "",
        by: str,
        now: datetime,
    ) -> None:
        """Hand the device over to the next party of its stage; it awaits confirmation."""
        if self._handed_over_already(giver.party, receiver.party):
            return
        reason = check_reason(reason) if reason else ""
        self.check_nothing_awaits()
        self.check_holder(giver)
        role = self._receiver_role(receiver)
        self.trigger_event(
            self.HandedOver,
            timestamp=now,
            giver=giver.party,
            receiver=receiver.party,
            receiver_role=role,
            lot_id=lot_id,
            reason=reason,
            handed_over_by=by,
            handed_over_at=now,
        )

    def deliver(
        self, *, refurbisher: Actor, lot_id: UUID | None = None, by: str, now: datetime
    ) -> None:
        """Hand the device over to the school of the pupil it is allocated to."""
        if self.allocation is None:
            raise DeviceNotAllocated("no delivery without an allocation to a pupil")
        receiver = Actor.school(self.allocation.school_uai)
        self.hand_over(giver=refurbisher, receiver=receiver, lot_id=lot_id, by=by, now=now)

    def confirm_handover(
        self, *, receiver: Actor, receiver_ref: str = "", by: str, now: datetime
    ) -> None:
        """The receiver takes custody; a school names who received the device."""
        if self.awaiting is None and self.holder == receiver.party:
            return  # confirmed already
        handover = self.awaiting
        if handover is None or handover.receiver != receiver.party:
            raise NoHandoverAwaiting(
                f"no handover of this device awaits {receiver.party}", stage=self.stage.value
            )
        receiver.check_acts_as(handover.receiver_role)
        if receiver_ref or handover.receiver_role is PartyRole.SCHOOL:
            receiver_ref = check_receiver_ref(receiver_ref)
        self.trigger_event(
            self.HandoverConfirmed,
            timestamp=now,
            receiver=receiver.party,
            receiver_ref=receiver_ref,
            stage=HANDOVERS[self.stage][1],
            confirmed_by=by,
            confirmed_at=now,
        )

    def revoke_handover(self, *, giver: Actor, reason: str, by: str, now: datetime) -> None:
        """The giver takes back a handover its receiver has not confirmed."""
        reason = check_reason(reason)
        revoked = self.revoked
        if self.awaiting is None and revoked is not None and revoked.giver == giver.party:
            return  # revoked already
        if self.awaiting is None:
            raise NoHandoverAwaiting("no handover of this device awaits confirmation")
        if self.awaiting.giver != giver.party:
            raise NotCustodian(f"only {self.awaiting.giver} may revoke this handover")
        self.trigger_event(
            self.HandoverRevoked, timestamp=now, reason=reason, revoked_by=by, revoked_at=now
        )

    # Allocation --------------------------------------------------------------------------

    def allocate(
        self, *, education_service: Actor, pupil_id: str, school_uai: str, by: str, now: datetime
    ) -> None:
        """Allocate a refurbished device to a pupil of a school."""
        education_service.check_acts_as(PartyRole.EDUCATION_SERVICE)
        allocation = (check_pupil(pupil_id), check_uai(school_uai))
        if self._allocated_already(education_service, allocation):
            return
        self._check_allocator((DeviceStage.REFURBISHED,), "allocate")
        self.trigger_event(
            self.Allocated,
            timestamp=now,
            education_service=education_service.party,
            pupil_id=allocation[0],
            school_uai=allocation[1],
            allocated_by=by,
            allocated_at=now,
        )

    def reallocate(
        self, *, education_service: Actor, pupil_id: str, school_uai: str, by: str, now: datetime
    ) -> None:
        """Give an allocated device to another pupil; once delivered, of the same school."""
        education_service.check_acts_as(PartyRole.EDUCATION_SERVICE)
        allocation = (check_pupil(pupil_id), check_uai(school_uai))
        if self._allocated_already(education_service, allocation):
            return
        stages = (DeviceStage.ALLOCATED, DeviceStage.DELIVERED)
        self._check_allocator(stages, "reallocate")
        if self.stage is DeviceStage.DELIVERED and allocation[1] != self.allocation.school_uai:
            raise SchoolMismatch(
                f"the device is at school {self.allocation.school_uai}: return it first",
                school_uai=self.allocation.school_uai,
            )
        self.trigger_event(
            self.Reallocated,
            timestamp=now,
            education_service=education_service.party,
            pupil_id=allocation[0],
            school_uai=allocation[1],
            reallocated_by=by,
            reallocated_at=now,
        )

    # Guards and queries ------------------------------------------------------------------

    def _allocated_already(self, education_service: Actor, allocation: tuple[str, str]) -> bool:
        """A retried allocation: the same pupil and school, by the same education service
        (another one is not told of it: it goes on to be refused)."""
        done = self.allocation
        return (
            done is not None
            and done.key == allocation
            and done.education_service == education_service.party
        )

    @property
    def holder(self) -> str:
        return self.custody_chain[-1].holder

    def check_nothing_awaits(self) -> None:
        if self.awaiting is not None:
            raise HandoverAwaitingConfirmation(
                f"the device is handed over to {self.awaiting.receiver}, awaiting confirmation",
                receiver=self.awaiting.receiver,
            )

    def check_holder(self, actor: Actor) -> None:
        if actor.party != self.holder:
            raise NotCustodian(f"the device is held by {self.holder}, not {actor.party}")

    def stage_conflict(self, what: str) -> DeviceStageConflict:
        return DeviceStageConflict(
            f"cannot {what}: the device is {self.stage.value}", stage=self.stage.value
        )

    def _handed_over_already(self, giver: str, receiver: str) -> bool:
        """A retried handover: it awaits the same receiver, or that receiver confirmed it."""
        if self.awaiting is not None:
            return (self.awaiting.giver, self.awaiting.receiver) == (giver, receiver)
        spells = self.custody_chain
        return len(spells) > 1 and (spells[-2].holder, spells[-1].holder) == (giver, receiver)

    def _receiver_role(self, receiver: Actor) -> PartyRole:
        """The role the receiver of a handover from this stage acts in, checked."""
        if party_kind(receiver.party) == SCHOOL and self.allocation is None:
            raise DeviceNotAllocated("no delivery without an allocation to a pupil")
        move = HANDOVERS.get(self.stage)
        if move is None:
            raise self.stage_conflict("hand over")
        role = move[0]
        receiver.check_acts_as(role)
        if role is PartyRole.SCHOOL and receiver.party != school(self.allocation.school_uai):
            raise SchoolMismatch(
                f"the device is allocated to a pupil of {self.allocation.school_uai}",
                school_uai=self.allocation.school_uai,
            )
        return role

    def _check_allocator(self, stages: tuple[DeviceStage, ...], what: str) -> None:
        """An erasure certificate, no handover awaiting, one of these stages."""
        if self.wipe_certificate is None:
            raise WipeCertificateMissing("no allocation without an erasure certificate")
        self.check_nothing_awaits()
        if self.stage not in stages:
            raise self.stage_conflict(what)
