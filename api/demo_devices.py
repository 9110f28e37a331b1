"""The demo's donation drive: donated computers from the donor to the pupil's school.

Five pilot territories (four metropolises and La Réunion) are registered with their
programme budget; the operator approves a collector, two refurbishers and an education
service. Companies pledge computers in bulk and individuals one by one; the collector
collects each donor's devices as a lot, and hands each territory's devices to its
refurbisher as a lot. The refurbisher diagnoses every device and wipes it under an erasure
certificate; it refurbishes the good ones (each refurbishment charged to the territory's
budget, at most 60 €) and scraps the unfit ones, which the collector takes back for
recycling. The education service allocates the refurbished devices to pupils (opaque ids)
of the territory's schools (UAI codes), and the refurbisher delivers each school's devices
as a lot, which the school confirms. One device comes back from a school, is repaired and
delivered to another pupil. One territory's budget is tight: its last refurbishment is
refused and the device waits, wiped, for more budget.

Every step is a command of `ledger.device_bank.DeviceBank`, with simulated time passed in;
the same seed gives the same books.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TextIO
from uuid import UUID

from ledger.device_bank import DeviceBank
from ledger.device_records import DeviceDescription, DeviceStage
from ledger.errors import DomainError
from ledger.identifiers import uai_check_letter
from ledger.money import Money
from ledger.parties import organisation, school
from ledger.territories import MAX_CHARGE_PER_DEVICE_CENTS, territory_id
from projections.device_pipeline import DevicePipeline

DRIVE_START = datetime(2027, 10, 4, 8, tzinfo=UTC)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
FUNDER = "banque-des-territoires"
OPERATOR = "operator"
# code, name, kind, the département's three digits that begin its schools' UAI codes
PILOT = (
    ("lyon", "Métropole de Lyon", "metropolis", "069"),
    ("aix-marseille", "Métropole d'Aix-Marseille-Provence", "metropolis", "013"),
    ("lille", "Métropole Européenne de Lille", "metropolis", "059"),
    ("bordeaux", "Bordeaux Métropole", "metropolis", "033"),
    ("la-reunion", "La Réunion", "overseas", "974"),
)
TIGHT_TERRITORY = "bordeaux"  # its budget runs out before its last refurbishments
TIGHT_BUDGET_PER_DEVICE_CENTS = 3000
REFURBISHMENT_CENTS = (2500, 5000)  # the range of a refurbishment's cost
REPAIR_CENTS = 800
SCHOOLS_PER_TERRITORY = 2
COLLECTOR = ("41234567000019", "Collecte Solidaire Numérique", "collector")
REFURBISHERS = (
    ("50011223000023", "Ateliers du Réemploi", "refurbisher"),
    ("60022334100030", "Réemploi Réunion", "refurbisher"),
)
EDUCATION_SERVICE = ("70033445100049", "Services académiques", "education_service")
COMPANY_DONORS = ("company:81055667000018", "company:82066778000010")
UNFIT_SHARE = 0.1
MAKES = (("Lenovo", "ThinkPad T480"), ("Dell", "Latitude 5490"), ("HP", "EliteBook 840 G5"))


@dataclass
class DriveTally:
    pledged: int = 0
    delivered: int = 0
    recycled: int = 0
    redelivered: int = 0
    charged_cents: int = 0
    waiting_for_budget: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    # (device, pupil, territory code) of each device delivered, for the fund's subsidies
    handed_to_pupils: list[tuple[UUID, str, str]] = field(default_factory=list)


@dataclass
class Drive:
    bank: DeviceBank
    rng: random.Random
    devices_per_territory: int
    run_key: str  # the demo run's key: its territories, serial numbers and lots are its own
    tally: DriveTally = field(default_factory=DriveTally)
    clock: datetime = DRIVE_START

    def later(self, step: timedelta = HOUR) -> datetime:
        self.clock += step
        return self.clock

    def attempt(self, action: Callable[[], object]) -> bool:
        """Run a command; a refusal is counted by its code (nothing was recorded)."""
        try:
            action()
        except DomainError as refused:
            self.tally.refused[refused.code] += 1
            return False
        return True

    def run(self) -> DriveTally:
        self.set_up()
        for territory in PILOT:
            self.territory_round(territory)
        return self.tally

    def set_up(self) -> None:
        now = self.later()
        for base, name, kind, _ in PILOT:
            code = f"{base}-{self.run_key}"
            share = TIGHT_BUDGET_PER_DEVICE_CENTS if base == TIGHT_TERRITORY else None
            budget = (share or MAX_CHARGE_PER_DEVICE_CENTS) * self.devices_per_territory
            self.bank.register_territory(
                code=code,
                name=name,
                kind=kind,
                budget_cents=budget,
                funder_id=FUNDER,
                by=OPERATOR,
                now=now,
            )
        for siret, name, role in (COLLECTOR, *REFURBISHERS, EDUCATION_SERVICE):
            self.bank.approve_organisation(siret=siret, name=name, role=role, by=OPERATOR, now=now)

    def territory_round(self, territory: tuple[str, str, str, str]) -> None:
        base, _, kind, departement = territory
        code = f"{base}-{self.run_key}"
        refurbisher = REFURBISHERS[1 if kind == "overseas" else 0][0]
        donations = self.pledge(code)
        self.collect(code, donations, refurbisher)
        fit = [d for ids in donations.values() for d in ids if self.work_on(d, refurbisher)]
        schools = [uai(departement, n) for n in range(1, SCHOOLS_PER_TERRITORY + 1)]
        allocated = self.allocate(code, fit, schools)
        self.deliver(code, allocated, refurbisher)
        if allocated:
            self.return_and_redeliver(allocated[0], refurbisher)

    def pledge(self, code: str) -> dict[str, list[UUID]]:
        """Each company pledges a batch; a few individuals give one computer each."""
        donations: dict[str, list[UUID]] = {}
        companies = self.devices_per_territory * 4 // 5
        for n, donor in enumerate(COMPANY_DONORS):
            count = companies // 2 + (companies % 2 if n == 0 else 0)
            devices = [self.description(f"{code}-{donor[-5:]}-{i}") for i in range(count)]
            donations[donor] = list(
                self.bank.pledge_devices(
                    donor=donor, territory=code, devices=devices, by=donor, now=self.later()
                )
            )
        for i in range(self.devices_per_territory - companies):
            donor = f"individual:donateur-{code}-{i}"
            description = self.description(f"{code}-particulier-{i}")
            donations[donor] = [
                self.bank.pledge_device(
                    donor=donor,
                    territory=code,
                    kind=description.kind,
                    serial_number=description.serial_number,
                    make=description.make,
                    model=description.model,
                    specs=description.specs,
                    by=donor,
                    now=self.later(),
                )
            ]
        self.tally.pledged += sum(len(ids) for ids in donations.values())
        return donations

    def description(self, serial: str) -> DeviceDescription:
        make, model = self.rng.choice(MAKES)
        kind = "laptop" if self.rng.random() < 0.8 else "desktop"
        ram = self.rng.choice(("4 Go", "8 Go", "16 Go"))
        return DeviceDescription(kind, f"SN-{serial}".upper(), make, model, (("ram", ram),))

    def collect(self, code: str, donations: dict[str, list[UUID]], refurbisher: str) -> None:
        """A collection round per donor, then one lot of the territory to its refurbisher."""
        collector = organisation(COLLECTOR[0])
        for n, (donor, ids) in enumerate(donations.items()):
            lot = self.bank.form_lot(
                key=f"collecte-{code}-{n}", device_ids=ids, by=collector, now=self.later()
            )
            self.bank.hand_over(lot, giver=donor, receiver=collector, by=donor, now=self.later())
            self.bank.confirm_handover(lot, receiver=collector, by=collector, now=self.later())
        every = [d for ids in donations.values() for d in ids]
        lot = self.bank.form_lot(
            key=f"atelier-{code}", device_ids=every, by=collector, now=self.later(DAY)
        )
        workshop = organisation(refurbisher)
        self.bank.hand_over(lot, giver=collector, receiver=workshop, by=collector, now=self.later())
        self.bank.confirm_handover(lot, receiver=workshop, by=workshop, now=self.later())

    def work_on(self, device: UUID, refurbisher: str) -> bool:
        """Diagnose, wipe, then refurbish or scrap; True when the device is refurbished."""
        bank, by = self.bank, organisation(refurbisher)
        unfit = self.rng.random() < UNFIT_SHARE
        grade = "unfit" if unfit else self.rng.choice(("A", "B", "C"))
        bank.diagnose(device, refurbisher=refurbisher, grade=grade, by=by, now=self.later())
        certificate = f"EC-{device.hex[:12].upper()}"
        bank.wipe(
            device,
            refurbisher=refurbisher,
            method="physical_destruction" if unfit else "overwrite",
            certificate_id=certificate,
            certificate_sha256=hashlib.sha256(certificate.encode()).hexdigest(),
            by=by,
            now=self.later(),
        )
        if unfit:
            bank.scrap(
                device, refurbisher=refurbisher, reason="carte mère HS", by=by, now=self.later()
            )
            self.recycle(device, refurbisher)
            return False
        cost = self.rng.randrange(REFURBISHMENT_CENTS[0], REFURBISHMENT_CENTS[1] + 1, 100)
        parts = ("batterie",) if cost > 4000 else ("nettoyage",)
        refurbished = self.attempt(
            lambda: bank.refurbish(
                device,
                refurbisher=refurbisher,
                parts=parts,
                cost_cents=cost,
                by=by,
                now=self.later(),
            )
        )
        if refurbished:
            self.tally.charged_cents += cost
        else:
            self.tally.waiting_for_budget += 1
        return refurbished

    def recycle(self, device: UUID, refurbisher: str) -> None:
        collector, workshop = organisation(COLLECTOR[0]), organisation(refurbisher)
        self.bank.hand_over(
            device, giver=workshop, receiver=collector, by=workshop, now=self.later()
        )
        self.bank.confirm_handover(device, receiver=collector, by=collector, now=self.later())
        self.tally.recycled += 1

    def allocate(self, code: str, devices: Sequence[UUID], schools: list[str]) -> list[UUID]:
        service = EDUCATION_SERVICE[0]
        for n, device in enumerate(devices):
            self.bank.allocate(
                device,
                education_service=service,
                pupil_id=f"eleve-{code}-{n:04d}",
                school_uai=schools[n % len(schools)],
                by=organisation(service),
                now=self.later(),
            )
        return list(devices)

    def deliver(self, code: str, devices: list[UUID], refurbisher: str) -> None:
        """One delivery lot per school, confirmed by the school with who received it."""
        by_school: dict[str, list[UUID]] = {}
        for device in devices:
            allocation = self.bank.get_device(device).allocations[-1]
            by_school.setdefault(allocation.school_uai, []).append(device)
        workshop = organisation(refurbisher)
        for school_uai, ids in by_school.items():
            lot = self.bank.form_lot(
                key=f"livraison-{code}-{school_uai}",
                device_ids=ids,
                by=workshop,
                now=self.later(DAY),
            )
            self.bank.deliver(lot, refurbisher=refurbisher, by=workshop, now=self.later())
            self.bank.confirm_handover(
                lot,
                receiver=school(school_uai),
                receiver_ref=f"direction-{school_uai}",
                by=school(school_uai),
                now=self.later(),
            )
            self.tally.delivered += len(ids)
            for device in ids:
                pupil = self.bank.get_device(device).allocations[-1].pupil_id
                self.tally.handed_to_pupils.append((device, pupil, code))

    def return_and_redeliver(self, device: UUID, refurbisher: str) -> None:
        """A school gives a broken device back; it is repaired and goes to another pupil."""
        bank, workshop = self.bank, organisation(refurbisher)
        school_uai = bank.get_device(device).allocations[-1].school_uai
        bank.return_device(
            device,
            school_uai=school_uai,
            refurbisher=refurbisher,
            reason="écran cassé",
            by=school(school_uai),
            now=self.later(DAY),
        )
        bank.confirm_handover(device, receiver=workshop, by=workshop, now=self.later())
        repaired = self.attempt(
            lambda: bank.repair(
                device,
                refurbisher=refurbisher,
                parts=("écran",),
                cost_cents=REPAIR_CENTS,
                by=workshop,
                now=self.later(),
            )
        )
        if not repaired:
            return
        self.tally.charged_cents += REPAIR_CENTS
        code = bank.get_territory(bank.get_device(device).territory_id).code
        bank.allocate(
            device,
            education_service=EDUCATION_SERVICE[0],
            pupil_id=f"eleve-{code}-relais",
            school_uai=school_uai,
            by=organisation(EDUCATION_SERVICE[0]),
            now=self.later(),
        )
        bank.deliver(device, refurbisher=refurbisher, by=workshop, now=self.later())
        bank.confirm_handover(
            device,
            receiver=school(school_uai),
            receiver_ref=f"direction-{school_uai}",
            by=school(school_uai),
            now=self.later(),
        )
        self.tally.redelivered += 1


def uai(departement: str, n: int) -> str:
    digits = f"{departement}{n:04d}"
    return digits + uai_check_letter(digits)


def run_drive(bank: DeviceBank, devices_per_territory: int, seed: int, run_key: str) -> DriveTally:
    return Drive(bank, random.Random(seed), devices_per_territory, run_key).run()


def print_drive(tally: DriveTally, out: TextIO) -> None:
    print(
        f"\nDonation drive: {tally.pledged} computers pledged in {len(PILOT)} territories; "
        f"{tally.delivered} delivered to schools ({tally.redelivered} again after a repair), "
        f"{tally.recycled} recycled, {tally.waiting_for_budget} waiting for budget; "
        f"{Money(tally.charged_cents)} charged to the territories' budgets",
        file=out,
    )
    refused = ", ".join(f"{code} × {n}" for code, n in sorted(tally.refused.items()))
    print(f"Refused, with nothing changed: {refused or 'none'}", file=out)


def print_pipeline(pipeline: DevicePipeline, run_key: str, out: TextIO) -> None:
    """The drive's territories from the pipeline read model: where their devices are, the
    yield, and what each delivered device cost against the 60 € the programme pays."""
    print("\nDevice pipeline (read model), this drive's territories", file=out)
    header = f"{'territory':<36}{'pledged':>8}{'delivered':>10}{'recycled':>9}{'waiting':>8}"
    print(f"{header}{'yield':>7}{'cost per delivered':>20}", file=out)
    for base, name, _, _ in PILOT:
        place = territory_id(f"{base}-{run_key}")
        stages, made = pipeline.by_stage(place), pipeline.yield_(place)
        cost = pipeline.cost_per_delivered(place)
        each = cost.cost_per_delivered_cents
        print(
            f"{name:<36}{made.pledged:>8}{made.delivered:>10}{stages[DeviceStage.RECYCLED]:>9}"
            f"{stages[DeviceStage.WIPED]:>8}{float(made.delivered_share):>7.0%}"
            f"{'-' if each is None else str(Money(each)):>20}",
            file=out,
        )
    lead = pipeline.lead_times()
    stays = ", ".join(
        f"{stage.value} {hours(t.median)} ({hours(t.p90)})" for stage, t in lead.items()
    )
    print(f"Hours spent per stage, median (p90), every drive so far: {stays}", file=out)


def hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:.0f} h"
