"""The device bank on the in-memory store: from pledge to pupil, lots all or nothing, the
territory's budget charged in the same transaction, retries answered as the first time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from ledger import accounts
from ledger.device_bank import DeviceBank
from ledger.device_records import DeviceDescription, DeviceStage, WipeMethod
from ledger.devices import device_id
from ledger.errors import (
    DeviceNotFound,
    IdempotencyKeyReused,
    InvalidIdentifier,
    LotNotFound,
    NotCustodian,
    OrganisationNotApproved,
    OrganisationNotFound,
    TerritoryBudgetExceeded,
    TerritoryNotFound,
)
from ledger.lots import lot_id
from ledger.organisations import organisation_id
from ledger.parties import PartyRole, company, individual, organisation, school
from ledger.settings import Settings
from ledger.territories import territory_id

NOW = datetime(2027, 9, 1, tzinfo=UTC)
DAY = timedelta(days=1)
DONOR = company("38012986646850")
COLLECTOR, REFURBISHER, EDUCATION = "73282932000074", "55210055400013", "44306184100047"
UAI = "0750655E"
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
BUDGET_CENTS = 20_000


@pytest.fixture
def app(memory_settings: Settings) -> DeviceBank:
    bank = DeviceBank(memory_settings)
    bank.register_territory(
        code="lyon",
        name="Métropole de Lyon",
        kind="metropolis",
        budget_cents=BUDGET_CENTS,
        funder_id="banque-des-territoires",
        by="operator",
        now=NOW,
    )
    for siret, role in [(COLLECTOR, "collector"), (REFURBISHER, "refurbisher")]:
        bank.approve_organisation(siret=siret, name=f"{role} {siret}", role=role, by="op", now=NOW)
    bank.approve_organisation(
        siret=EDUCATION, name="Rectorat de Lyon", role="education_service", by="op", now=NOW
    )
    return bank


def laptops(count: int, prefix: str = "SN") -> list[DeviceDescription]:
    return [
        DeviceDescription("laptop", f"{prefix}{i}", "Dell", "Latitude 5490") for i in range(count)
    ]


def pledge(app: DeviceBank, count: int = 3, donor: str = DONOR) -> tuple[UUID, ...]:
    return app.pledge_devices(
        donor=donor, territory="lyon", devices=laptops(count), by="donor-user", now=NOW
    )


def received(app: DeviceBank, count: int = 3) -> tuple[UUID, ...]:
    """Devices pledged, collected in one round, received by the refurbisher in one lot."""
    devices = pledge(app, count)
    lot = app.form_lot(key="round-1", device_ids=devices, by="driver", now=NOW)
    for giver, receiver in [(DONOR, COLLECTOR), (organisation(COLLECTOR), REFURBISHER)]:
        app.hand_over(lot, giver=giver, receiver=organisation(receiver), by="u", now=NOW)
        app.confirm_handover(lot, receiver=organisation(receiver), by="u", now=NOW + DAY)
    return devices


def wiped(app: DeviceBank, device: UUID) -> None:
    app.diagnose(device, refurbisher=REFURBISHER, grade="A", by="tech", now=NOW + DAY)
    app.wipe(
        device,
        refurbisher=REFURBISHER,
        method="crypto_erase",
        certificate_id=f"BL-{device.hex[:8]}",
        certificate_sha256=SHA256,
        by="tech",
        now=NOW + DAY,
    )


def refurbish(app: DeviceBank, device: UUID, cost_cents: int = 4500) -> None:
    app.refurbish(
        device, refurbisher=REFURBISHER, parts=["SSD"], cost_cents=cost_cents, by="t", now=NOW
    )


def versions(app: DeviceBank, *ids: UUID) -> list[int]:
    return [app.repository.get(i).version for i in ids]


def log(app: DeviceBank) -> list[object]:
    return [app.mapper.to_domain_event(n) for n in app.recorder.select_notifications(1, 10_000)]


# The chain -------------------------------------------------------------------------------


def test_a_device_goes_from_its_donor_to_a_pupils_school_with_its_custody_chain(app):
    device = received(app, 1)[0]
    wiped(app, device)
    refurbish(app, device)
    app.allocate(
        device, education_service=EDUCATION, pupil_id="ine-7f3a", school_uai=UAI, by="e", now=NOW
    )
    app.deliver(device, refurbisher=REFURBISHER, by="driver", now=NOW + 2 * DAY)
    app.confirm_handover(
        device, receiver=school(UAI), receiver_ref="cpe-42", by="cpe", now=NOW + 3 * DAY
    )
    recorded = app.get_device(device)
    assert recorded.stage is DeviceStage.DELIVERED
    assert [(s.holder, s.role) for s in recorded.custody_chain] == [
        (DONOR, PartyRole.DONOR),
        (organisation(COLLECTOR), PartyRole.COLLECTOR),
        (organisation(REFURBISHER), PartyRole.REFURBISHER),
        (school(UAI), PartyRole.SCHOOL),
    ]
    assert recorded.custody_chain[-1].since == NOW + 3 * DAY
    assert recorded.wipe_certificate.method is WipeMethod.CRYPTO_ERASE
    assert recorded.allocation.pupil_id == "ine-7f3a"
    assert app.get_territory(territory_id("lyon")).remaining_cents == BUDGET_CENTS - 4500


def test_the_recorded_events_replay_to_the_same_device(app):
    device = received(app, 1)[0]
    wiped(app, device)
    replayed = None
    for event in app.repository.event_store.get(device):
        replayed = event.mutate(replayed)
    live = app.get_device(device)
    assert (replayed.stage, replayed.custody_chain, replayed.wipe_certificate) == (
        live.stage,
        live.custody_chain,
        live.wipe_certificate,
    )


def test_a_delivered_device_is_returned_repaired_and_allocated_to_another_pupil(app):
    device = received(app, 1)[0]
    wiped(app, device)
    refurbish(app, device)
    app.allocate(
        device, education_service=EDUCATION, pupil_id="ine-1", school_uai=UAI, by="e", now=NOW
    )
    app.deliver(device, refurbisher=REFURBISHER, by="d", now=NOW)
    app.confirm_handover(device, receiver=school(UAI), receiver_ref="cpe-42", by="c", now=NOW)
    app.return_device(
        device, school_uai=UAI, refurbisher=REFURBISHER, reason="pupil moved", by="c", now=NOW
    )
    app.confirm_handover(device, receiver=organisation(REFURBISHER), by="t", now=NOW + DAY)
    assert app.get_device(device).allocation is None
    app.repair(
        device, refurbisher=REFURBISHER, parts=("battery",), cost_cents=1500, by="t", now=NOW
    )
    app.allocate(
        device, education_service=EDUCATION, pupil_id="ine-2", school_uai=UAI, by="e", now=NOW
    )
    recorded = app.get_device(device)
    assert [a.pupil_id for a in recorded.allocations] == ["ine-1", "ine-2"]
    assert recorded.charged_cents == 6000 and recorded.stage is DeviceStage.ALLOCATED


# Pledges, lots, territories and organisations: retries and refusals ----------------------


def test_a_bulk_pledge_retried_answers_the_same_devices_and_records_nothing(app):
    first = pledge(app)
    assert first == tuple(device_id(DONOR, f"SN{i}") for i in range(3))
    assert pledge(app) == first and versions(app, *first) == [1, 1, 1]
    single = app.pledge_device(
        donor=DONOR,
        territory="lyon",
        kind="laptop",
        serial_number="sn0",
        make="Dell",
        model="Latitude 5490",
        by="donor-user",
        now=NOW + DAY,
    )
    assert single == first[0]


def test_a_pledge_again_with_other_details_or_a_bad_device_records_nothing(app):
    first = pledge(app, 2)
    changed = [*laptops(1), DeviceDescription("tablet", "SN1", "Apple", "iPad 6")]
    with pytest.raises(IdempotencyKeyReused):
        app.pledge_devices(donor=DONOR, territory="lyon", devices=changed, by="d", now=NOW)
    bad = [*laptops(3, prefix="NEW"), DeviceDescription("laptop", "", "Dell", "E7470")]
    with pytest.raises(InvalidIdentifier):
        app.pledge_devices(donor=DONOR, territory="lyon", devices=bad, by="d", now=NOW)
    with pytest.raises(DeviceNotFound):
        app.get_device(device_id(DONOR, "NEW0"))
    assert app.get_device(first[1]).description.kind.value == "laptop"


def test_a_pledge_in_an_unregistered_territory_is_refused(app):
    with pytest.raises(TerritoryNotFound):
        app.pledge_devices(donor=DONOR, territory="marseille", devices=laptops(1), by="d", now=NOW)


def test_a_territory_registered_again_answers_its_id_and_other_details_are_refused(app):
    arguments = {"code": "lyon", "name": "Métropole de Lyon", "kind": "metropolis"}
    again = app.register_territory(
        **arguments, budget_cents=BUDGET_CENTS, funder_id="banque-des-territoires", by="o", now=NOW
    )
    assert again == territory_id("lyon")
    with pytest.raises(IdempotencyKeyReused):
        app.register_territory(
            **arguments, budget_cents=1, funder_id="banque-des-territoires", by="o", now=NOW
        )
    assert app.get_territory(again).budget_cents == BUDGET_CENTS


def test_an_organisation_gains_roles_under_one_name_and_loses_them_by_withdrawal(app):
    org = app.approve_organisation(
        siret=COLLECTOR, name=f"collector {COLLECTOR}", role="refurbisher", by="op", now=NOW
    )
    assert app.get_organisation(org).roles == (PartyRole.COLLECTOR, PartyRole.REFURBISHER)
    with pytest.raises(IdempotencyKeyReused):
        app.approve_organisation(siret=COLLECTOR, name="Other", role="collector", by="op", now=NOW)
    app.withdraw_approval(siret=COLLECTOR, role="collector", reason="audit", by="op", now=NOW)
    assert app.get_organisation(org).roles == (PartyRole.REFURBISHER,)
    assert app.get_organisation(org).version == 4


def test_a_withdrawn_refurbisher_can_no_longer_work_and_nothing_is_recorded(app):
    device = received(app, 1)[0]
    app.withdraw_approval(
        siret=REFURBISHER, role="refurbisher", reason="agrément expired", by="op", now=NOW
    )
    before = versions(app, device)
    with pytest.raises(OrganisationNotApproved):
        app.diagnose(device, refurbisher=REFURBISHER, grade="A", by="tech", now=NOW)
    assert versions(app, device) == before


def test_a_collector_cannot_certify_a_wipe_and_an_unknown_organisation_cannot_act(app):
    device = received(app, 1)[0]
    app.diagnose(device, refurbisher=REFURBISHER, grade="B", by="tech", now=NOW)
    arguments = {"method": "overwrite", "certificate_id": "C1", "certificate_sha256": SHA256}
    with pytest.raises(OrganisationNotApproved):
        app.wipe(device, refurbisher=COLLECTOR, **arguments, by="c", now=NOW)
    with pytest.raises(OrganisationNotFound):
        app.wipe(device, refurbisher="41816609600069", **arguments, by="x", now=NOW)
    assert app.get_device(device).wipe_certificate is None


def test_a_lot_formed_again_answers_its_id_and_a_key_reused_or_an_unknown_device_is_refused(app):
    devices = pledge(app)
    lot = app.form_lot(key="round-1", device_ids=devices, by="driver", now=NOW)
    assert lot == lot_id("round-1")
    assert app.form_lot(key="round-1", device_ids=devices[::-1], by="driver", now=NOW) == lot
    with pytest.raises(IdempotencyKeyReused):
        app.form_lot(key="round-1", device_ids=devices[:2], by="driver", now=NOW)
    with pytest.raises(DeviceNotFound):
        app.form_lot(key="round-2", device_ids=(UUID(int=1),), by="driver", now=NOW)
    with pytest.raises(LotNotFound):
        app.get_lot(lot_id("round-2"))
    assert app.get_lot(lot).device_ids == tuple(sorted(devices))


def test_every_getter_refuses_an_unknown_id_with_its_own_error(app):
    device = pledge(app, 1)[0]
    with pytest.raises(LotNotFound):
        app.get_lot(device)  # a device is not a lot
    with pytest.raises(OrganisationNotFound):
        app.get_organisation(organisation_id("41816609600069"))
    with pytest.raises(TerritoryNotFound):
        app.get_territory(territory_id("marseille"))
    with pytest.raises(DeviceNotFound):
        app.hand_over(UUID(int=9), giver=DONOR, receiver=organisation(COLLECTOR), by="d", now=NOW)


# Lots: all or nothing --------------------------------------------------------------------


def test_an_action_on_a_lot_records_every_device_or_none_and_names_the_one_that_refused(app):
    ours = pledge(app, 2)
    theirs = app.pledge_device(
        donor=individual("donor-81f2"),
        territory="lyon",
        kind="tablet",
        serial_number="T1",
        make="Apple",
        model="iPad 6",
        by="donor-2",
        now=NOW,
    )
    lot = app.form_lot(key="round-9", device_ids=(*ours, theirs), by="driver", now=NOW)
    with pytest.raises(NotCustodian) as refused:
        app.hand_over(lot, giver=DONOR, receiver=organisation(COLLECTOR), by="d", now=NOW)
    assert refused.value.details["device_id"] == str(theirs)
    assert "T1" in refused.value.message
    assert versions(app, *ours, theirs) == [1, 1, 1]


def test_a_lot_is_handed_over_confirmed_and_revoked_as_one(app):
    devices = received(app, 3)
    assert {app.get_device(d).stage for d in devices} == {DeviceStage.RECEIVED}
    for device in devices:
        wiped(app, device)
        refurbish(app, device, cost_cents=1000)
        app.allocate(
            device,
            education_service=EDUCATION,
            pupil_id=f"ine-{device.hex[:6]}",
            school_uai=UAI,
            by="e",
            now=NOW,
        )
    batch = app.form_lot(key="delivery-1", device_ids=devices, by="driver", now=NOW)
    app.deliver(batch, refurbisher=REFURBISHER, by="driver", now=NOW)
    app.revoke_handover(batch, giver=organisation(REFURBISHER), reason="van", by="d", now=NOW)
    app.deliver(batch, refurbisher=REFURBISHER, by="driver", now=NOW + DAY)
    app.confirm_handover(batch, receiver=school(UAI), receiver_ref="cpe-42", by="c", now=NOW)
    recorded = [app.get_device(d) for d in devices]
    assert {d.stage for d in recorded} == {DeviceStage.DELIVERED}
    assert {d.holder for d in recorded} == {school(UAI)}


# The territory's budget ------------------------------------------------------------------


def test_a_refurbishment_beyond_the_budget_left_records_nothing(app):
    devices = received(app, 4)
    for device in devices:
        wiped(app, device)
    for device in devices[:3]:
        refurbish(app, device, cost_cents=6000)  # 18,000 of 20,000 cents
    territory = territory_id("lyon")
    before = versions(app, devices[3], territory)
    with pytest.raises(TerritoryBudgetExceeded):
        refurbish(app, devices[3], cost_cents=2001)
    assert versions(app, devices[3], territory) == before
    assert app.get_device(devices[3]).stage is DeviceStage.WIPED
    refurbish(app, devices[3], cost_cents=2000)
    assert app.get_territory(territory).remaining_cents == 0


def test_two_concurrent_refurbishments_cannot_both_overspend_the_budget(app, monkeypatch):
    first, second, *others = received(app, 4)
    for device in (first, second, *others):
        wiped(app, device)
    for device in others:
        refurbish(app, device, cost_cents=6000)  # 8,000 cents left: room for one more, not two
    read_territory = app.get_territory
    raced: list[bool] = []

    def read_while_another_refurbishes(territory: UUID):
        stale = read_territory(territory)
        if not raced:  # the other command reads, charges and commits between our read and save
            raced.append(True)
            refurbish(app, second, cost_cents=6000)
        return stale

    monkeypatch.setattr(app, "get_territory", read_while_another_refurbishes)
    with pytest.raises(TerritoryBudgetExceeded):
        refurbish(app, first, cost_cents=6000)  # its save conflicts; the retry sees 2,000 left
    monkeypatch.undo()
    assert app.get_device(first).stage is DeviceStage.WIPED
    assert app.get_device(second).stage is DeviceStage.REFURBISHED
    assert app.get_territory(territory_id("lyon")).remaining_cents == 2000


def test_the_books_show_each_territorys_budget_spent_and_balance(app):
    devices = received(app, 2)
    for device, cost in zip(devices, (4500, 1200), strict=True):
        wiped(app, device)
        refurbish(app, device, cost_cents=cost)
    books = accounts.fold(log(app))
    territory = territory_id("lyon")
    assert books[accounts.territory_budget(territory)] == BUDGET_CENTS - 5700
    assert books[accounts.refurbisher_payable(organisation_id(REFURBISHER))] == 5700
    assert books[accounts.funder("banque-des-territoires")] == -BUDGET_CENTS
    assert sum(books.values()) == 0
    assert app.get_territory(territory).remaining_cents == BUDGET_CENTS - 5700
