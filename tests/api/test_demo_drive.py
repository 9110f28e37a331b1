"""The demo's donation drive, run on each store, every device followed from its log:
delivered ones wiped once and carried by an unbroken custody chain to their pupil's school,
unfit ones recycled, the tight territory's budget the only reason a device waits, and the
books balanced."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from eventsourcing.utils import get_topic

from api.demo_devices import (
    COLLECTOR,
    PILOT,
    TIGHT_TERRITORY,
    run_drive,
)
from ledger import accounts
from ledger.device_bank import DeviceBank
from ledger.device_records import DeviceStage
from ledger.devices import Device
from ledger.parties import PartyRole, organisation
from ledger.settings import Settings
from ledger.territories import territory_id

PER_TERRITORY = 8
RUN = "drive"


@pytest.fixture
def drive(store_settings: Settings):
    bank = DeviceBank(store_settings)
    try:
        yield bank, run_drive(bank, PER_TERRITORY, seed=5, run_key=RUN)
    finally:
        bank.close()


def pledged_devices(bank: DeviceBank) -> list[Device]:
    topic = get_topic(Device.Pledged)
    notifications = bank.recorder.select_notifications(start=None, limit=10_000, topics=[topic])
    return [bank.get_device(n.originator_id) for n in notifications]


def test_every_pledged_device_is_delivered_recycled_or_waiting_for_budget(drive):
    bank, tally = drive
    devices = pledged_devices(bank)
    stages = Counter(d.stage for d in devices)
    assert len(devices) == tally.pledged == PER_TERRITORY * len(PILOT)
    assert stages[DeviceStage.DELIVERED] == tally.delivered  # the redelivered counted once
    assert stages[DeviceStage.RECYCLED] == tally.recycled > 0
    assert stages[DeviceStage.WIPED] == tally.waiting_for_budget > 0
    assert sum(stages.values()) == tally.pledged
    assert tally.refused == Counter({"territory_budget_exceeded": tally.waiting_for_budget})
    assert tally.redelivered == len(PILOT)  # one device per territory came back and went again


def test_a_delivered_device_was_wiped_once_and_its_custody_chain_reaches_its_school(drive):
    bank, _ = drive
    delivered = [d for d in pledged_devices(bank) if d.stage is DeviceStage.DELIVERED]
    assert delivered
    for device in delivered:
        assert device.wipe_certificate is not None
        chain = device.custody_chain
        assert chain[0].holder == device.donor and chain[0].role is PartyRole.DONOR
        assert [s.role for s in chain[:3]] == [
            PartyRole.DONOR,
            PartyRole.COLLECTOR,
            PartyRole.REFURBISHER,
        ]
        for before, after in itertools.pairwise(chain):
            assert before.until == after.since  # unbroken: each spell ends as the next begins
        assert chain[-1].until is None
        assert chain[-1].holder == f"school:{device.allocations[-1].school_uai}"


def test_an_unfit_device_is_wiped_by_destruction_then_recycled_by_the_collector(drive):
    bank, _ = drive
    recycled = [d for d in pledged_devices(bank) if d.stage is DeviceStage.RECYCLED]
    for device in recycled:
        assert device.wipe_certificate.method.value == "physical_destruction"
        assert device.custody_chain[-1].holder == organisation(COLLECTOR[0])
        assert device.charged_cents == 0


def test_only_the_tight_territory_ran_out_and_the_books_balance(drive):
    bank, tally = drive
    waiting = [d for d in pledged_devices(bank) if d.stage is DeviceStage.WIPED]
    tight = territory_id(f"{TIGHT_TERRITORY}-{RUN}")
    assert {d.territory_id for d in waiting} == {tight}
    budget = bank.get_territory(tight)
    assert budget.remaining_cents >= 0
    events = [
        bank.mapper.to_domain_event(n)
        for n in bank.recorder.select_notifications(start=None, limit=100_000)
    ]
    balances: dict[str, int] = {}
    for event in events:
        accounts.apply_postings(balances, accounts.postings(event))
    assert sum(balances.values()) == 0
    spent = sum(v for a, v in balances.items() if a.startswith("refurbisher_payable:"))
    assert spent == tally.charged_cents > 0
    assert balances[accounts.territory_budget(tight)] == budget.remaining_cents
