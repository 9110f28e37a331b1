"""Device banks without I/O: organisations and their approvals, territories and their
budgets, and a device's way from its donor to a pupil, with every refusal recording nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from eventsourcing.utils import get_topic

from ledger.custody import DeviceCustody
from ledger.device_records import DeviceDescription, DeviceGrade, DeviceStage, WipeMethod
from ledger.devices import Device, device_id
from ledger.errors import (
    DeviceCostCapExceeded,
    DeviceStageConflict,
    DeviceUnfit,
    IdempotencyKeyReused,
    InvalidIdentifier,
    InvalidInput,
    InvalidWipeCertificate,
    NotCustodian,
    OrganisationNotApproved,
    TerritoryBudgetExceeded,
    TooManyDevices,
    WipeAlreadyCertified,
)
from ledger.lots import MAX_LOT_DEVICES, Lot, lot_id
from ledger.organisations import Organisation, organisation_id
from ledger.parties import Actor, PartyRole, company
from ledger.territories import MAX_CHARGE_PER_DEVICE_CENTS, Territory

NOW = datetime(2027, 9, 1, tzinfo=UTC)
LATER = NOW + timedelta(days=3)
DONOR_SIRET = "38012986646850"
COLLECTOR_SIRET = "73282932000074"
REFURBISHER_SIRET = "55210055400013"
EDUCATION_SIRET = "44306184100047"
UAI, OTHER_UAI = "0750655E", "0750654D"
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
LAPTOP = DeviceDescription("laptop", "pf-1a2b3c", "Lenovo", "ThinkPad T480", (("ram_gb", "8"),))


def approved(siret: str, *roles: str) -> Organisation:
    org = Organisation.register(siret=siret, name=f"Organisation {siret}", by="operator", now=NOW)
    for role in roles:
        org.approve(role=role, by="operator", now=NOW)
    org.collect_events()
    return org


DONOR = Actor.donor(company(DONOR_SIRET))
COLLECTOR = approved(COLLECTOR_SIRET, "collector").actor()
REFURBISHER = approved(REFURBISHER_SIRET, "refurbisher").actor()
EDUCATION = approved(EDUCATION_SIRET, "education_service").actor()
SCHOOL = Actor.school(UAI)


def registered(budget_cents: int = 100_000) -> Territory:
    return Territory.register(
        code="lyon",
        name="Métropole de Lyon",
        kind="metropolis",
        budget_cents=budget_cents,
        funder_id="banque-des-territoires",
        by="operator",
        now=NOW,
    )


def a_territory(budget_cents: int = 100_000) -> Territory:
    territory = registered(budget_cents)
    territory.collect_events()
    return territory


def move(device: Device, giver: Actor, receiver: Actor, **ref: str) -> None:
    device.hand_over(giver=giver, receiver=receiver, by="someone", now=NOW)
    device.confirm_handover(receiver=receiver, by="someone", now=NOW, **ref)


def wipe(device: Device, certificate_id: str = "BL-2027-0001", sha256: str = SHA256) -> None:
    device.wipe(
        refurbisher=REFURBISHER,
        method="overwrite",
        certificate_id=certificate_id,
        certificate_sha256=sha256,
        by="tech",
        now=NOW,
    )


def refurbish(device: Device, territory: Territory, cost_cents: int = 4500) -> None:
    device.refurbish(
        refurbisher=REFURBISHER,
        parts=("SSD 256 Go",),
        cost_cents=cost_cents,
        territory=territory,
        by="tech",
        now=NOW,
    )


def allocate(device: Device, pupil: str = "pupil-7f3a", uai: str = UAI) -> None:
    device.allocate(education_service=EDUCATION, pupil_id=pupil, school_uai=uai, by="ien", now=NOW)


def give_back(device: Device) -> None:
    device.hand_over(giver=SCHOOL, receiver=REFURBISHER, reason="left school", by="s", now=NOW)
    device.confirm_handover(receiver=REFURBISHER, by="tech", now=NOW)


STEPS: tuple[Callable[[Device, Territory], None], ...] = (
    lambda d, t: move(d, DONOR, COLLECTOR),
    lambda d, t: move(d, COLLECTOR, REFURBISHER),
    lambda d, t: d.diagnose(refurbisher=REFURBISHER, grade="B", by="tech", now=NOW),
    lambda d, t: wipe(d),
    refurbish,
    lambda d, t: allocate(d),
    lambda d, t: move(d, REFURBISHER, SCHOOL, receiver_ref="cpe-42"),
    lambda d, t: give_back(d),
)
ORDER = (
    *(DeviceStage.PLEDGED, DeviceStage.COLLECTED, DeviceStage.RECEIVED, DeviceStage.DIAGNOSED),
    *(DeviceStage.WIPED, DeviceStage.REFURBISHED, DeviceStage.ALLOCATED, DeviceStage.DELIVERED),
    DeviceStage.RETURNED,
)


def device_at(stage: DeviceStage, budget_cents: int = 100_000) -> tuple[Device, Territory]:
    """A device walked along the chain up to a stage, its events collected."""
    territory = a_territory(budget_cents)
    device = Device.pledge(
        donor=DONOR, territory_id=territory.id, description=LAPTOP, by="donor-user", now=NOW
    )
    for step in STEPS[: ORDER.index(stage)]:
        step(device, territory)
    device.collect_events()
    territory.collect_events()
    assert device.stage is stage
    return device, territory


def state(device: Device) -> tuple[object, ...]:
    return (
        *(device.version, device.stage, device.custody_chain, device.awaiting),
        *(device.diagnosis, device.wipe_certificate, device.works, device.allocations),
    )


def assert_refused(device: Device, error: type[Exception], action, *others) -> Exception:
    """The action raises `error`, and neither the device nor the others changed."""
    before = (state(device), *(o.version for o in others))
    with pytest.raises(error) as refused:
        action()
    assert (state(device), *(o.version for o in others)) == before
    assert device.pending_events == [] and all(o.pending_events == [] for o in others)
    return refused.value


# Pledging --------------------------------------------------------------------------------


def test_a_pledge_records_the_description_as_checked_under_an_id_of_donor_and_serial():
    device, _ = device_at(DeviceStage.PLEDGED)
    assert device.id == device_id(company(DONOR_SIRET), "PF-1A2B3C")
    description = device.description
    assert (description.serial_number, description.make, description.specs) == (
        "PF-1A2B3C",
        "Lenovo",
        (("ram_gb", "8"),),
    )
    assert device.holder == company(DONOR_SIRET) and device.wipe_certificate is None
    assert device.custody_chain[0].role is PartyRole.DONOR


@pytest.mark.parametrize(
    ("details", "error"),
    [
        ({"kind": "phone"}, InvalidInput),
        ({"serial_number": ""}, InvalidIdentifier),
        ({"serial_number": "SN#1"}, InvalidIdentifier),
        ({"make": ""}, InvalidInput),
        ({"specs": (("RAM", "8"),)}, InvalidInput),
        ({"specs": (("ram_gb", "8"), ("ram_gb", "16"))}, InvalidInput),
        ({"specs": "ram 8"}, InvalidInput),
    ],
)
def test_a_pledge_with_bad_details_is_refused(details, error):
    fields = {"kind": "laptop", "serial_number": "SN1", "make": "HP", "model": "840", **details}
    with pytest.raises(error):
        Device.pledge(
            donor=DONOR,
            territory_id=UUID(int=1),
            description=DeviceDescription(**fields),
            by="donor-user",
            now=NOW,
        )


def test_only_a_donor_pledges_and_a_pledge_again_with_other_details_is_refused():
    with pytest.raises(OrganisationNotApproved):
        Device.pledge(
            donor=COLLECTOR, territory_id=UUID(int=1), description=LAPTOP, by="c", now=NOW
        )
    device, territory = device_at(DeviceStage.PLEDGED)
    again = Device.pledge(
        donor=DONOR, territory_id=territory.id, description=LAPTOP, by="donor", now=LATER
    )
    device.check_same_request(again.request_digest)
    other = DeviceDescription("laptop", LAPTOP.serial_number, "Lenovo", "T490")
    changed = Device.pledge(
        donor=DONOR, territory_id=territory.id, description=other, by="donor", now=LATER
    )
    with pytest.raises(IdempotencyKeyReused):
        device.check_same_request(changed.request_digest)


# The refurbisher's work ------------------------------------------------------------------


def test_a_collector_cannot_diagnose_nor_certify_a_wipe():
    device, _ = device_at(DeviceStage.COLLECTED)
    diagnose = lambda: device.diagnose(refurbisher=COLLECTOR, grade="A", by="c", now=NOW)  # noqa: E731
    assert_refused(device, OrganisationNotApproved, diagnose)
    device, _ = device_at(DeviceStage.DIAGNOSED)
    certify = lambda: device.wipe(  # noqa: E731
        refurbisher=COLLECTOR,
        method="overwrite",
        certificate_id="BL-2027-0001",
        certificate_sha256=SHA256,
        by="c",
        now=NOW,
    )
    assert_refused(device, OrganisationNotApproved, certify)
    wipe(device)
    device.collect_events()
    # Even the very certificate the refurbisher recorded: the role is checked before a retry.
    assert_refused(device, OrganisationNotApproved, certify)


def test_a_refurbisher_works_only_on_devices_it_holds():
    device, _ = device_at(DeviceStage.RECEIVED)
    other = approved("41816609600069", "refurbisher").actor()
    assert_refused(
        device,
        NotCustodian,
        lambda: device.diagnose(refurbisher=other, grade="A", by="x", now=NOW),
    )


def test_the_wipe_records_its_method_and_the_one_erasure_certificate():
    device, _ = device_at(DeviceStage.DIAGNOSED)
    wipe(device, sha256=SHA256.upper())
    certificate = device.wipe_certificate
    assert (certificate.method, certificate.certificate_id, certificate.sha256) == (
        WipeMethod.OVERWRITE,
        "BL-2027-0001",
        SHA256,
    )
    assert certificate.refurbisher == REFURBISHER.party and device.stage is DeviceStage.WIPED
    wipe(device)  # the same certificate again: a retry
    assert len(device.collect_events()) == 1
    assert_refused(device, WipeAlreadyCertified, lambda: wipe(device, certificate_id="BL-2"))


@pytest.mark.parametrize(
    ("method", "certificate_id", "sha256"),
    [
        ("overwrite", "BL-1", SHA256[:-1]),
        ("overwrite", "BL-1", "z" * 64),
        ("overwrite", "", SHA256),
        ("overwrite", "certificate n°1", SHA256),
    ],
)
def test_a_wipe_with_a_bad_certificate_is_refused(method, certificate_id, sha256):
    device, _ = device_at(DeviceStage.DIAGNOSED)
    action = lambda: device.wipe(  # noqa: E731
        refurbisher=REFURBISHER,
        method=method,
        certificate_id=certificate_id,
        certificate_sha256=sha256,
        by="t",
        now=NOW,
    )
    assert_refused(device, InvalidWipeCertificate, action)


def test_a_wipe_by_an_unknown_method_or_before_the_diagnosis_is_refused():
    device, _ = device_at(DeviceStage.DIAGNOSED)
    action = lambda: device.wipe(  # noqa: E731
        refurbisher=REFURBISHER,
        method="magnet",
        certificate_id="C",
        certificate_sha256=SHA256,
        by="t",
        now=NOW,
    )
    assert_refused(device, InvalidInput, action)
    device, _ = device_at(DeviceStage.RECEIVED)
    assert_refused(device, DeviceStageConflict, lambda: wipe(device))


def test_a_refurbishment_is_charged_to_the_territory_of_the_device():
    device, territory = device_at(DeviceStage.WIPED)
    refurbish(device, territory, cost_cents=4500)
    (charge,) = territory.collect_events()
    assert isinstance(charge, Territory.Charged)
    assert (charge.device_id, charge.amount_cents) == (device.id, 4500)
    assert charge.refurbisher_id == organisation_id(REFURBISHER_SIRET)
    assert territory.remaining_cents == 100_000 - 4500 and device.charged_cents == 4500
    refurbish(device, territory, cost_cents=4500)  # a retry
    assert [type(e) for e in device.collect_events()] == [Device.Refurbished]
    assert territory.pending_events == []


def test_a_refurbishment_beyond_60_euros_per_device_is_refused():
    device, territory = device_at(DeviceStage.WIPED)
    error = assert_refused(
        device,
        DeviceCostCapExceeded,
        lambda: refurbish(device, territory, cost_cents=MAX_CHARGE_PER_DEVICE_CENTS + 1),
        territory,
    )
    assert error.details == {"charged_cents": 0, "asked_cents": 6001}
    refurbish(device, territory, cost_cents=MAX_CHARGE_PER_DEVICE_CENTS)  # the cap itself


def test_a_refurbishment_beyond_the_territory_budget_is_refused():
    device, territory = device_at(DeviceStage.WIPED, budget_cents=3000)
    assert_refused(
        device, TerritoryBudgetExceeded, lambda: refurbish(device, territory, 3001), territory
    )
    assert territory.remaining_cents == 3000


@pytest.mark.parametrize(("parts", "cost"), [(("SSD",), -1), ((), 10.0), ("SSD", 100)])
def test_a_refurbishment_with_bad_parts_or_cost_is_refused(parts, cost):
    device, territory = device_at(DeviceStage.WIPED)
    action = lambda: device.refurbish(  # noqa: E731
        refurbisher=REFURBISHER, parts=parts, cost_cents=cost, territory=territory, by="t", now=NOW
    )
    assert_refused(device, InvalidInput, action, territory)


def test_a_device_graded_unfit_is_scrapped_not_refurbished_then_recycled():
    device, territory = device_at(DeviceStage.RECEIVED)
    device.diagnose(refurbisher=REFURBISHER, grade=DeviceGrade.UNFIT, by="t", now=NOW)
    wipe(device)
    device.collect_events()
    assert_refused(device, DeviceUnfit, lambda: refurbish(device, territory), territory)
    device.scrap(refurbisher=REFURBISHER, reason="cracked motherboard", by="t", now=NOW)
    assert (device.stage, device.scrap_reason) == (DeviceStage.SCRAPPED, "cracked motherboard")
    move(device, REFURBISHER, COLLECTOR)
    assert device.stage is DeviceStage.RECYCLED and device.holder == COLLECTOR.party


def test_scrapping_or_refurbishing_before_the_wipe_is_refused():
    device, territory = device_at(DeviceStage.DIAGNOSED)
    scrap = lambda: device.scrap(refurbisher=REFURBISHER, reason="old", by="t", now=NOW)  # noqa: E731
    assert_refused(device, DeviceStageConflict, scrap)
    assert_refused(device, DeviceStageConflict, lambda: refurbish(device, territory), territory)


# Lots ------------------------------------------------------------------------------------


def test_a_lot_holds_its_devices_once_each_under_an_id_of_its_key():
    ids = (UUID(int=3), UUID(int=1), UUID(int=2))
    lot = Lot.form(key="round-2027-09", device_ids=ids, by="driver", now=NOW)
    assert lot.id == lot_id("round-2027-09") and lot.device_ids == tuple(sorted(ids))
    again = Lot.form(key="round-2027-09", device_ids=ids[::-1], by="driver", now=NOW)
    lot.check_same_request(again.request_digest)
    other = Lot.form(key="round-2027-09", device_ids=ids[:2], by="driver", now=NOW)
    with pytest.raises(IdempotencyKeyReused):
        lot.check_same_request(other.request_digest)


@pytest.mark.parametrize(
    ("ids", "error"),
    [
        ((), InvalidInput),
        ((UUID(int=1), UUID(int=1)), InvalidInput),
        (tuple(UUID(int=i) for i in range(MAX_LOT_DEVICES + 1)), TooManyDevices),
    ],
)
def test_a_lot_without_devices_with_one_twice_or_with_too_many_is_refused(ids, error):
    with pytest.raises(error):
        Lot.form(key="round", device_ids=ids, by="driver", now=NOW)


# Events and books ------------------------------------------------------------------------

EVENT_CLASSES = [
    cls
    for aggregate in (Device, DeviceCustody, Organisation, Territory, Lot)
    for cls in vars(aggregate).values()
    if isinstance(cls, type) and vars(cls).get("__annotations__")
]


@pytest.mark.parametrize("event_class", EVENT_CLASSES, ids=lambda c: c.__qualname__)
def test_device_bank_events_hold_plain_immutable_values(event_class):
    for field, text in vars(event_class)["__annotations__"].items():
        assert "float" not in text, f"{event_class.__qualname__}.{field} is a float"
        assert "list" not in text and "dict" not in text and "set" not in text, field


def test_the_custody_events_are_recorded_as_the_devices_own():
    # The library redefines a base aggregate's events on the subclass: the log names them
    # after the device, whichever module defines the half they belong to.
    for name in ("HandedOver", "HandoverConfirmed", "HandoverRevoked", "Allocated"):
        assert get_topic(getattr(Device, name)) == f"ledger.devices:Device.{name}"


# Retries come from whoever did the work ------------------------------------------------

OTHER_REFURBISHER = approved("73282932000074", "refurbisher").actor()


def test_another_refurbisher_resending_recorded_work_is_refused_not_answered():
    diagnosed, _ = device_at(DeviceStage.DIAGNOSED)
    assert_refused(
        diagnosed,
        NotCustodian,
        lambda: diagnosed.diagnose(refurbisher=OTHER_REFURBISHER, grade="B", by="x", now=LATER),
    )
    wiped, territory = device_at(DeviceStage.WIPED)
    certificate = wiped.wipe_certificate
    assert_refused(
        wiped,
        WipeAlreadyCertified,
        lambda: wiped.wipe(
            refurbisher=OTHER_REFURBISHER,
            method="overwrite",
            certificate_id=certificate.certificate_id,
            certificate_sha256=certificate.sha256,
            by="x",
            now=LATER,
        ),
    )
    refurbished, territory = device_at(DeviceStage.REFURBISHED)
    assert_refused(
        refurbished,
        NotCustodian,
        lambda: refurbished.refurbish(
            refurbisher=OTHER_REFURBISHER,
            parts=("SSD 256 Go",),
            cost_cents=4500,
            territory=territory,
            by="x",
            now=LATER,
        ),
        territory,
    )


def test_a_repair_resent_after_the_device_went_on_to_a_pupil_answers_without_recording():
    device, territory = device_at(DeviceStage.RETURNED)
    repair = {"parts": ("écran",), "cost_cents": 800, "territory": territory, "by": "t", "now": NOW}
    device.repair(refurbisher=REFURBISHER, **repair)
    allocate(device, pupil="pupil-2")
    device.collect_events()
    territory.collect_events()
    before = (state(device), territory.version)
    device.repair(refurbisher=REFURBISHER, **repair)  # the client's retry, late
    assert (state(device), territory.version) == before
    assert device.pending_events == [] and territory.pending_events == []
    assert_refused(
        device,
        NotCustodian,
        lambda: device.repair(refurbisher=OTHER_REFURBISHER, **repair),
        territory,
    )


def test_another_education_service_resending_an_allocation_is_refused_not_answered():
    device, _ = device_at(DeviceStage.ALLOCATED)
    other_service = approved("73282932000074", "education_service").actor()
    done = device.allocation
    assert_refused(
        device,
        DeviceStageConflict,
        lambda: device.allocate(
            education_service=other_service,
            pupil_id=done.pupil_id,
            school_uai=done.school_uai,
            by="x",
            now=LATER,
        ),
    )
    allocate(device)  # the same service's retry answers without recording
    assert device.pending_events == []
