"""Devices: a donated computer's way from its donor to a pupil's school, stage by stage.

A company or a person **pledges** a device (a laptop, desktop or tablet: serial number,
make, model, a few specs), singly or in bulk. Its id derives from its donor and serial
number, so a pledge retried answers the same device. It then moves through stages, and no
stage is skipped:

    pledged ──handover to a collector──▶ collected ──handover to a refurbisher──▶ received
    received ──diagnose──▶ diagnosed ──wipe──▶ wiped ──refurbish──▶ refurbished
                                               wiped ──scrap──▶ scrapped
    scrapped ──handover to a collector──▶ recycled                        (the end)
    refurbished ──allocate──▶ allocated ──handover to the school──▶ delivered
    delivered ──handover back to a refurbisher──▶ returned ──repair──▶ refurbished
                                                  returned ──scrap──▶ scrapped

A handover moves the stage only when its receiver confirms it; while one awaits
confirmation, nothing else happens to the device (handovers and allocations are the
`DeviceCustody` half of the aggregate, in `ledger.custody`). The refurbisher that holds
the device diagnoses and **grades** it, then **wipes** its data: the wipe records its
method and the erasure certificate (its id and SHA-256), the device's one certificate. A
device is then **refurbished** (parts, a cost in cents charged to its territory's
programme budget, `ledger.territories`) or **scrapped** (with a reason) and recycled; one
graded unfit is only scrapped. An education service **allocates** a refurbished device to
a pupil (an opaque id from the education services, never a name) of a school (its UAI);
it may **reallocate** it to another pupil, of another school only until it is delivered.
The school confirms the delivery with the reference of the person who received it. A
delivered device may be **returned** (handed back to a refurbisher, with a reason, which
ends its allocation), **repaired** and allocated again.

A command whose outcome is already recorded (the same diagnosis, the same certificate) is
a retry and records nothing; any other move outside these stages is refused, and nothing
is recorded. Limits and value checks live in `ledger.device_records`.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate

from ledger.custody import CustodySpell, DeviceCustody
from ledger.device_records import (
    DeviceDescription,
    DeviceGrade,
    DeviceKind,
    DeviceStage,
    Parts,
    Specs,
    WipeCertificate,
    WipeMethod,
    Work,
    check_choice,
    check_cost,
    check_parts,
    check_reason,
    check_text,
    check_wipe,
    device_id,
)
from ledger.errors import (
    DeviceCostCapExceeded,
    DeviceUnfit,
    IdempotencyKeyReused,
    WipeAlreadyCertified,
)
from ledger.ids import request_digest
from ledger.organisations import organisation_id
from ledger.parties import Actor, PartyRole, party_ref
from ledger.territories import MAX_CHARGE_PER_DEVICE_CENTS, Territory

MAX_FINDINGS_LENGTH = 500


class Device(DeviceCustody):
    """A donated device. The id is `device_id(donor, serial number)`."""

    class Pledged(Aggregate.Created):
        donor: str
        territory_id: UUID
        kind: DeviceKind
        serial_number: str
        make: str
        model: str
        specs: Specs
        request_digest: str
        pledged_by: str
        pledged_at: datetime

        def apply(self, device: Device) -> None:
            device.donor = self.donor
            device.territory_id = self.territory_id
            device.description = DeviceDescription(
                self.kind, self.serial_number, self.make, self.model, self.specs
            )
            device.request_digest = self.request_digest
            device.stage = DeviceStage.PLEDGED
            device.custody_chain = (CustodySpell(self.donor, PartyRole.DONOR, self.pledged_at),)
            device.awaiting = device.revoked = None
            device.diagnosis = device.wipe_certificate = device.allocation = None
            device.works = device.allocations = ()
            device.scrap_reason = device.diagnosed_by_party = device.scrapped_by_party = None

    class Diagnosed(DeviceCustody.Event):
        refurbisher: str
        grade: DeviceGrade
        findings: str
        diagnosed_by: str
        diagnosed_at: datetime

        def apply(self, device: Device) -> None:
            device.diagnosis = (self.grade, self.findings)
            device.diagnosed_by_party = self.refurbisher
            device.stage = DeviceStage.DIAGNOSED

    class Wiped(DeviceCustody.Event):
        refurbisher: str
        method: WipeMethod
        certificate_id: str
        certificate_sha256: str
        wiped_by: str
        wiped_at: datetime

        def apply(self, device: Device) -> None:
            device.wipe_certificate = WipeCertificate(
                self.method,
                self.certificate_id,
                self.certificate_sha256,
                self.refurbisher,
                self.wiped_at,
            )
            device.stage = DeviceStage.WIPED

    class Refurbished(DeviceCustody.Event):
        refurbisher: str
        parts: Parts
        cost_cents: int  # charged to the territory's programme budget in the same transaction
        refurbished_by: str
        refurbished_at: datetime

        def apply(self, device: Device) -> None:
            work = Work(False, self.parts, self.cost_cents, self.refurbisher, self.refurbished_at)
            device.works = (*device.works, work)
            device.stage = DeviceStage.REFURBISHED

    class Repaired(DeviceCustody.Event):
        refurbisher: str
        parts: Parts
        cost_cents: int
        repaired_by: str
        repaired_at: datetime

        def apply(self, device: Device) -> None:
            work = Work(True, self.parts, self.cost_cents, self.refurbisher, self.repaired_at)
            device.works = (*device.works, work)
            device.stage = DeviceStage.REFURBISHED

    class Scrapped(DeviceCustody.Event):
        refurbisher: str
        reason: str
        scrapped_by: str
        scrapped_at: datetime

        def apply(self, device: Device) -> None:
            device.scrap_reason = self.reason
            device.scrapped_by_party = self.refurbisher
            device.stage = DeviceStage.SCRAPPED

    # Pledging ----------------------------------------------------------------------------

    @classmethod
    def pledge(
        cls,
        *,
        donor: Actor,
        territory_id: UUID,
        description: DeviceDescription,
        by: str,
        now: datetime,
    ) -> Device:
        """A donor's pledge of one device, described as typed (checked here)."""
        donor.check_acts_as(PartyRole.DONOR)
        d = description.checked()
        return cls._create(
            cls.Pledged,
            id=device_id(donor.party, d.serial_number),
            timestamp=now,
            donor=donor.party,
            territory_id=territory_id,
            kind=d.kind,
            serial_number=d.serial_number,
            make=d.make,
            model=d.model,
            specs=d.specs,
            request_digest=pledge_digest(donor.party, territory_id, d),
            pledged_by=by,
            pledged_at=now,
        )

    def check_same_request(self, digest: str) -> None:
        if digest != self.request_digest:
            raise IdempotencyKeyReused(
                f"device {self.description.serial_number} of {self.donor} was pledged with "
                "other details",
                device_id=str(self.id),
            )

    # The refurbisher's work --------------------------------------------------------------

    def diagnose(
        self,
        *,
        refurbisher: Actor,
        grade: DeviceGrade | str,
        findings: str = "",
        by: str,
        now: datetime,
    ) -> None:
        """The refurbisher that received the device grades it (and notes what it found)."""
        refurbisher.check_acts_as(PartyRole.REFURBISHER)
        grade = check_choice(DeviceGrade, grade, "grade")
        findings = check_text(findings, "findings", MAX_FINDINGS_LENGTH) if findings else ""
        if (self.diagnosis, self.diagnosed_by_party) == ((grade, findings), refurbisher.party):
            return  # a retry, by the refurbisher that diagnosed it
        self._check_work(refurbisher, (DeviceStage.RECEIVED,), "diagnose")
        self.trigger_event(
            self.Diagnosed,
            timestamp=now,
            refurbisher=refurbisher.party,
            grade=grade,
            findings=findings,
            diagnosed_by=by,
            diagnosed_at=now,
        )

    def wipe(
        self,
        *,
        refurbisher: Actor,
        method: WipeMethod | str,
        certificate_id: str,
        certificate_sha256: str,
        by: str,
        now: datetime,
    ) -> None:
        """Record the wipe of the donor's data and its erasure certificate, once."""
        refurbisher.check_acts_as(PartyRole.REFURBISHER)
        method, certificate_id, sha256 = check_wipe(method, certificate_id, certificate_sha256)
        done = self.wipe_certificate
        if done is not None:
            same = (done.method, done.certificate_id, done.sha256, done.refurbisher)
            if same == (method, certificate_id, sha256, refurbisher.party):
                return  # a retry, by the refurbisher that wiped it
            raise WipeAlreadyCertified(
                f"the device was wiped under certificate {done.certificate_id}",
                certificate_id=done.certificate_id,
            )
        self._check_work(refurbisher, (DeviceStage.DIAGNOSED,), "wipe")
        self.trigger_event(
            self.Wiped,
            timestamp=now,
            refurbisher=refurbisher.party,
            method=method,
            certificate_id=certificate_id,
            certificate_sha256=sha256,
            wiped_by=by,
            wiped_at=now,
        )

    def refurbish(
        self,
        *,
        refurbisher: Actor,
        parts: Parts,
        cost_cents: int,
        territory: Territory,
        by: str,
        now: datetime,
    ) -> None:
        """Refurbish a wiped device; its cost is charged to its territory's budget."""
        refurbisher.check_acts_as(PartyRole.REFURBISHER)
        parts, cost_cents = check_parts(parts), check_cost(cost_cents)
        first = self.works[0] if self.works else None
        if first and (first.parts, first.cost_cents, first.refurbisher) == (
            parts,
            cost_cents,
            refurbisher.party,
        ):
            return  # a retry, by the refurbisher that did the work
        self._check_work(refurbisher, (DeviceStage.WIPED,), "refurbish")
        if self.diagnosis is not None and self.diagnosis[0] is DeviceGrade.UNFIT:
            raise DeviceUnfit("a device graded unfit is scrapped, not refurbished")
        self._charge(refurbisher, cost_cents, territory, by, now)
        self.trigger_event(
            self.Refurbished,
            timestamp=now,
            refurbisher=refurbisher.party,
            parts=parts,
            cost_cents=cost_cents,
            refurbished_by=by,
            refurbished_at=now,
        )

    def repair(
        self,
        *,
        refurbisher: Actor,
        parts: Parts,
        cost_cents: int,
        territory: Territory,
        by: str,
        now: datetime,
    ) -> None:
        """Repair a returned device for its next pupil; its cost is charged as well."""
        refurbisher.check_acts_as(PartyRole.REFURBISHER)
        parts, cost_cents = check_parts(parts), check_cost(cost_cents)
        if self.stage is not DeviceStage.RETURNED and self._last_repair_was(
            parts, cost_cents, refurbisher.party
        ):
            return  # a retry (even once the device went on to a pupil), by the same refurbisher
        self._check_work(refurbisher, (DeviceStage.RETURNED,), "repair")
        self._charge(refurbisher, cost_cents, territory, by, now)
        self.trigger_event(
            self.Repaired,
            timestamp=now,
            refurbisher=refurbisher.party,
            parts=parts,
            cost_cents=cost_cents,
            repaired_by=by,
            repaired_at=now,
        )

    def scrap(self, *, refurbisher: Actor, reason: str, by: str, now: datetime) -> None:
        """Scrap a wiped or returned device for recycling."""
        refurbisher.check_acts_as(PartyRole.REFURBISHER)
        reason = check_reason(reason)
        if (self.scrap_reason, self.scrapped_by_party) == (reason, refurbisher.party):
            return  # a retry, by the refurbisher that scrapped it
        self._check_work(refurbisher, (DeviceStage.WIPED, DeviceStage.RETURNED), "scrap")
        self.trigger_event(
            self.Scrapped,
            timestamp=now,
            refurbisher=refurbisher.party,
            reason=reason,
            scrapped_by=by,
            scrapped_at=now,
        )

    # Guards and queries ------------------------------------------------------------------

    @property
    def charged_cents(self) -> int:
        return sum(work.cost_cents for work in self.works)

    def _last_repair_was(self, parts: Parts, cost_cents: int, refurbisher: str) -> bool:
        last = self.works[-1] if self.works else None
        done = (last.is_repair, last.parts, last.cost_cents, last.refurbisher) if last else None
        return done == (True, parts, cost_cents, refurbisher)

    def _check_work(self, refurbisher: Actor, stages: tuple[DeviceStage, ...], what: str) -> None:
        """The refurbisher (its role checked first) holds the device, at one of these stages."""
        self.check_nothing_awaits()
        self.check_holder(refurbisher)
        if self.stage not in stages:
            raise self.stage_conflict(what)

    def _charge(
        self, refurbisher: Actor, cost_cents: int, territory: Territory, by: str, now: datetime
    ) -> None:
        """Guard both caps, then charge the territory (its event is saved with this one)."""
        assert territory.id == self.territory_id, "the caller loads the device's territory"
        if self.charged_cents + cost_cents > MAX_CHARGE_PER_DEVICE_CENTS:
            raise DeviceCostCapExceeded(
                f"the programme pays at most {MAX_CHARGE_PER_DEVICE_CENTS} cents per device; "
                f"{self.charged_cents} charged already, {cost_cents} asked",
                charged_cents=self.charged_cents,
                asked_cents=cost_cents,
            )
        territory.charge(
            device_id=self.id,
            refurbisher_id=organisation_id_of(refurbisher.party),
            amount_cents=cost_cents,
            by=by,
            now=now,
        )


def pledge_digest(donor: str, territory_id: UUID, d: DeviceDescription) -> str:
    fields = (d.kind.value, d.serial_number, d.make, d.model, d.specs)
    return request_digest("pledge_device", donor, territory_id, *fields)


def organisation_id_of(party: str) -> UUID:
    return organisation_id(party_ref(party))
