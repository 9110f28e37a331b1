"""Custody and allocation without I/O: two-party handovers along the chain, the custody
chain they build, and allocations to pupils with delivery to their school; every refusal
records nothing."""

from __future__ import annotations

import pytest

from ledger.custody import HANDOVERS
from ledger.device_records import DeviceStage
from ledger.devices import Device
from ledger.errors import (
    DeviceCostCapExceeded,
    DeviceNotAllocated,
    DeviceStageConflict,
    HandoverAwaitingConfirmation,
    InvalidIdentifier,
    InvalidUai,
    NoHandoverAwaiting,
    NotCustodian,
    OrganisationNotApproved,
    SchoolMismatch,
    WipeCertificateMissing,
)
from ledger.parties import Actor, PartyRole
from tests.unit.test_devices import (
    COLLECTOR,
    DONOR,
    EDUCATION,
    LATER,
    NOW,
    OTHER_UAI,
    REFURBISHER,
    REFURBISHER_SIRET,
    SCHOOL,
    UAI,
    allocate,
    approved,
    assert_refused,
    device_at,
    move,
)

# Custody ---------------------------------------------------------------------------------


def test_a_handover_awaits_its_receiver_and_the_giver_keeps_the_device_meanwhile():
    device, _ = device_at(DeviceStage.PLEDGED)
    device.hand_over(giver=DONOR, receiver=COLLECTOR, by="donor-user", now=NOW)
    assert device.awaiting.receiver == COLLECTOR.party
    assert device.holder == DONOR.party and device.stage is DeviceStage.PLEDGED
    device.confirm_handover(receiver=COLLECTOR, by="driver", now=LATER)
    assert (device.holder, device.stage, device.awaiting) == (
        COLLECTOR.party,
        DeviceStage.COLLECTED,
        None,
    )
    donor_spell, collector_spell = device.custody_chain
    assert (donor_spell.until, collector_spell.since, collector_spell.until) == (LATER, LATER, None)


def test_every_handover_of_the_chain_ends_in_the_stage_its_table_says():
    device, _ = device_at(DeviceStage.RETURNED)
    roles = [spell.role for spell in device.custody_chain]
    assert roles == [
        PartyRole.DONOR,
        PartyRole.COLLECTOR,
        PartyRole.REFURBISHER,
        PartyRole.SCHOOL,
        PartyRole.REFURBISHER,
    ]
    assert device.allocation is None and len(device.allocations) == 1
    assert HANDOVERS[DeviceStage.DELIVERED] == (PartyRole.REFURBISHER, DeviceStage.RETURNED)


def test_an_unconfirmed_handover_is_revoked_by_its_giver_only():
    device, _ = device_at(DeviceStage.COLLECTED)
    device.hand_over(giver=COLLECTOR, receiver=REFURBISHER, by="driver", now=NOW)
    device.collect_events()
    assert_refused(
        device,
        NotCustodian,
        lambda: device.revoke_handover(giver=REFURBISHER, reason="no", by="tech", now=NOW),
    )
    device.revoke_handover(giver=COLLECTOR, reason="truck broke down", by="driver", now=NOW)
    assert device.awaiting is None and device.holder == COLLECTOR.party
    device.revoke_handover(giver=COLLECTOR, reason="truck broke down", by="driver", now=NOW)
    assert len(device.collect_events()) == 1  # the retry records nothing
    assert_refused(
        device,
        NoHandoverAwaiting,
        lambda: device.confirm_handover(receiver=REFURBISHER, by="tech", now=NOW),
    )


def test_a_retried_handover_or_confirmation_records_nothing():
    device, _ = device_at(DeviceStage.PLEDGED)
    move(device, DONOR, COLLECTOR)
    move(device, DONOR, COLLECTOR)
    assert len(device.collect_events()) == 2


def test_no_stage_is_skipped_a_pledged_device_goes_to_a_collector_first():
    device, _ = device_at(DeviceStage.PLEDGED)
    assert_refused(
        device,
        OrganisationNotApproved,
        lambda: device.hand_over(giver=DONOR, receiver=REFURBISHER, by="d", now=NOW),
    )
    device, _ = device_at(DeviceStage.DIAGNOSED)
    assert_refused(
        device,
        DeviceStageConflict,
        lambda: device.hand_over(giver=REFURBISHER, receiver=COLLECTOR, by="t", now=NOW),
    )


def test_only_the_holder_hands_over_and_only_the_receiver_confirms():
    device, _ = device_at(DeviceStage.PLEDGED)
    other_donor = Actor.donor("individual:donor-81f2")
    assert_refused(
        device,
        NotCustodian,
        lambda: device.hand_over(giver=other_donor, receiver=COLLECTOR, by="x", now=NOW),
    )
    device.hand_over(giver=DONOR, receiver=COLLECTOR, by="d", now=NOW)
    device.collect_events()
    other = approved("41816609600069", "collector").actor()
    assert_refused(
        device, NoHandoverAwaiting, lambda: device.confirm_handover(receiver=other, by="x", now=NOW)
    )


def test_while_a_handover_awaits_nothing_else_happens_to_the_device():
    device, territory = device_at(DeviceStage.DELIVERED)
    device.hand_over(giver=SCHOOL, receiver=REFURBISHER, reason="broken screen", by="s", now=NOW)
    device.collect_events()
    other = approved("41816609600069", "refurbisher").actor()
    for action in (
        lambda: device.hand_over(giver=SCHOOL, receiver=other, by="s", now=NOW),
        lambda: device.reallocate(
            education_service=EDUCATION, pupil_id="pupil-2", school_uai=UAI, by="e", now=NOW
        ),
        lambda: device.repair(
            refurbisher=REFURBISHER, parts=(), cost_cents=0, territory=territory, by="t", now=NOW
        ),
    ):
        assert_refused(device, HandoverAwaitingConfirmation, action, territory)


def test_a_receiver_whose_approval_was_withdrawn_cannot_confirm():
    device, _ = device_at(DeviceStage.COLLECTED)
    device.hand_over(giver=COLLECTOR, receiver=REFURBISHER, by="driver", now=NOW)
    device.collect_events()
    withdrawn = approved(REFURBISHER_SIRET, "refurbisher")
    withdrawn.withdraw(role="refurbisher", reason="agrément expired", by="op", now=NOW)
    assert_refused(
        device,
        OrganisationNotApproved,
        lambda: device.confirm_handover(receiver=withdrawn.actor(), by="tech", now=NOW),
    )


# Allocation and delivery -----------------------------------------------------------------


def test_no_allocation_without_an_erasure_certificate():
    device, _ = device_at(DeviceStage.DIAGNOSED)
    assert_refused(device, WipeCertificateMissing, lambda: allocate(device))
    device, _ = device_at(DeviceStage.WIPED)
    assert_refused(device, DeviceStageConflict, lambda: allocate(device))


@pytest.mark.parametrize("actor", [DONOR, REFURBISHER, COLLECTOR, SCHOOL], ids=lambda a: a.party)
def test_only_an_education_service_allocates(actor):
    device, _ = device_at(DeviceStage.REFURBISHED)
    action = lambda: device.allocate(  # noqa: E731
        education_service=actor, pupil_id="pupil-1", school_uai=UAI, by="x", now=NOW
    )
    assert_refused(device, OrganisationNotApproved, action)


@pytest.mark.parametrize(
    ("pupil", "uai", "error"),
    [("jeanne.martin@example.fr", UAI, InvalidIdentifier), ("pupil-1", "0750655F", InvalidUai)],
)
def test_an_allocation_names_an_opaque_pupil_and_a_valid_uai(pupil, uai, error):
    device, _ = device_at(DeviceStage.REFURBISHED)
    assert_refused(device, error, lambda: allocate(device, pupil, uai))


def test_no_delivery_without_an_allocation_and_only_to_the_pupils_school():
    device, _ = device_at(DeviceStage.REFURBISHED)
    assert_refused(
        device,
        DeviceNotAllocated,
        lambda: device.hand_over(giver=REFURBISHER, receiver=SCHOOL, by="t", now=NOW),
    )
    assert_refused(
        device, DeviceNotAllocated, lambda: device.deliver(refurbisher=REFURBISHER, by="t", now=NOW)
    )
    allocate(device)
    device.collect_events()
    other_school = Actor.school(OTHER_UAI)
    assert_refused(
        device,
        SchoolMismatch,
        lambda: device.hand_over(giver=REFURBISHER, receiver=other_school, by="t", now=NOW),
    )


def test_the_school_confirms_a_delivery_with_who_received_it():
    device, _ = device_at(DeviceStage.ALLOCATED)
    device.deliver(refurbisher=REFURBISHER, by="driver", now=NOW)
    device.collect_events()
    assert_refused(
        device, InvalidIdentifier, lambda: device.confirm_handover(receiver=SCHOOL, by="s", now=NOW)
    )
    device.confirm_handover(receiver=SCHOOL, receiver_ref="cpe-42", by="s", now=LATER)
    (confirmed,) = device.collect_events()
    assert (confirmed.receiver_ref, confirmed.confirmed_at) == ("cpe-42", LATER)
    assert device.stage is DeviceStage.DELIVERED and device.holder == SCHOOL.party


def test_a_returned_device_is_repaired_within_the_cap_left_and_allocated_again():
    device, territory = device_at(DeviceStage.RETURNED)  # refurbished for 45 €
    repair = lambda cost: device.repair(  # noqa: E731
        refurbisher=REFURBISHER,
        parts=("battery",),
        cost_cents=cost,
        territory=territory,
        by="t",
        now=NOW,
    )
    assert_refused(device, DeviceCostCapExceeded, lambda: repair(1501), territory)
    repair(1500)
    repair(1500)  # a retry
    assert [type(e) for e in device.collect_events()] == [Device.Repaired]
    assert device.stage is DeviceStage.REFURBISHED and device.charged_cents == 6000
    allocate(device, pupil="pupil-2", uai=OTHER_UAI)
    assert [a.pupil_id for a in device.allocations] == ["pupil-7f3a", "pupil-2"]


def test_a_delivered_device_is_reallocated_within_its_school_only():
    device, _ = device_at(DeviceStage.DELIVERED)
    action = lambda uai: device.reallocate(  # noqa: E731
        education_service=EDUCATION, pupil_id="pupil-2", school_uai=uai, by="e", now=NOW
    )
    assert_refused(device, SchoolMismatch, lambda: action(OTHER_UAI))
    action(UAI)
    assert device.allocation.pupil_id == "pupil-2" and device.stage is DeviceStage.DELIVERED


def test_an_allocated_device_is_reallocated_to_another_school_before_delivery():
    device, _ = device_at(DeviceStage.ALLOCATED)
    device.reallocate(
        education_service=EDUCATION, pupil_id="pupil-2", school_uai=OTHER_UAI, by="e", now=NOW
    )
    assert device.allocation.school_uai == OTHER_UAI
    device.collect_events()
    assert_refused(device, SchoolMismatch, lambda: move(device, REFURBISHER, SCHOOL))
