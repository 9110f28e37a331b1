"""Device banks under random actions, valid and invalid, on each store.

Hypothesis pledges devices, gathers them in lots, and has every party (donors, an approved
collector, approved refurbishers, one never approved, an education service, schools) try
every action on devices and lots; the operator withdraws and restores approvals. A rule
that knows each device's next step keeps the walk going deep into the chain. After every
step:

- a refused action recorded nothing (same log size);
- no stage was skipped: every device's stages, read from its events one by one, follow the
  chain's transitions as the issue states them (a whitelist written here, not the domain's);
- every delivered device has exactly one wipe certificate, an unbroken custody chain from
  its donor to the school of its pupil, and an allocation;
- replaying each device from the store gives the live state;
- the pipeline read model, caught up in pages of five events, counts the devices in each
  stage as the devices themselves say, and a fold of the log gives each device's stage and
  charges;
- the books balance: each territory has spent at most its budget, each device at most
  60 €, the trial balance of the log's postings is zero.
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import timedelta
from uuid import UUID

import pytest
from hypothesis import HealthCheck
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from ledger import accounts
from ledger.device_bank import DeviceBank
from ledger.device_records import DeviceStage
from ledger.devices import Device
from ledger.errors import DomainError
from ledger.lots import lot_id
from ledger.parties import organisation, school
from ledger.settings import Settings
from ledger.territories import MAX_CHARGE_PER_DEVICE_CENTS, territory_id
from projections.device_pipeline import DevicePipeline
from projections.devices import DevicePipelineProjection, fold
from projections.engine import create_read_engine
from projections.runner import ProjectionRunner
from tests import helpers
from tests.stateful import run_on_postgresql, run_on_sqlite

S = DeviceStage
# The chain as the issue states it: (stage before, stage after) of every allowed move.
TRANSITIONS = {
    (None, S.PLEDGED),
    (S.PLEDGED, S.COLLECTED),
    (S.COLLECTED, S.RECEIVED),
    (S.RECEIVED, S.DIAGNOSED),
    (S.DIAGNOSED, S.WIPED),
    (S.WIPED, S.REFURBISHED),
    (S.WIPED, S.SCRAPPED),
    (S.SCRAPPED, S.RECYCLED),
    (S.REFURBISHED, S.ALLOCATED),  # no allocation without a wipe: only a wiped device is here
    (S.ALLOCATED, S.DELIVERED),
    (S.DELIVERED, S.RETURNED),
    (S.RETURNED, S.REFURBISHED),  # repaired
    (S.RETURNED, S.SCRAPPED),
}
COLLECTOR, REFURBISHER, OTHER_REFURBISHER = "41234567000019", "50011223000023", "60022334100030"
NEVER_APPROVED, SERVICE = "80044556100056", "70033445100049"
SCHOOLS = ("0690001B", "0130001F")
DONORS = ("company:81055667000018", "individual:donateur-1")
PARTIES = (
    *DONORS,
    *(organisation(s) for s in (COLLECTOR, REFURBISHER, OTHER_REFURBISHER, NEVER_APPROVED)),
    *(school(u) for u in SCHOOLS),
)
REFURBISHERS = st.sampled_from((REFURBISHER, REFURBISHER, OTHER_REFURBISHER, COLLECTOR))
TERRITORIES = {"lyon": 9000, "la-reunion": 20_000}  # Lyon's budget runs out fast
COSTS = st.sampled_from((1500, 3000, 4500, MAX_CHARGE_PER_DEVICE_CENTS, 6100, 0))


class DeviceMachine(RuleBasedStateMachine):
    store_factory = None  # set per store below
    # Most rules draw a device or a lot: until the first pledge, hypothesis filters them out.
    suppressed = (HealthCheck.filter_too_much,)

    devices = Bundle("devices")
    lots = Bundle("lots")

    @initialize()
    def open_the_programme(self) -> None:
        settings = Settings(database_url=type(self).store_factory())
        self.bank = DeviceBank(settings)
        self.engine = create_read_engine(settings)
        self.runner = ProjectionRunner(
            self.bank, self.engine, DevicePipelineProjection(), page_size=5
        )
        self.pipeline = DevicePipeline(self.engine)
        self.now = helpers.START
        self.serials = itertools.count()
        for code, budget in TERRITORIES.items():
            self.bank.register_territory(
                code=code,
                name=code.title(),
                kind="overseas" if code == "la-reunion" else "metropolis",
                budget_cents=budget,
                funder_id="operateur",
                by="operator",
                now=self.now,
            )
        approvals = ((COLLECTOR, "collector"), (REFURBISHER, "refurbisher"))
        approvals += ((OTHER_REFURBISHER, "refurbisher"), (SERVICE, "education_service"))
        for siret, role in approvals:
            self.bank.approve_organisation(
                siret=siret, name=f"org {siret}", role=role, by="operator", now=self.now
            )
        self.ids: list[UUID] = []

    def teardown(self) -> None:
        if hasattr(self, "bank"):
            self.bank.close()
            self.engine.dispose()

    # Running actions -------------------------------------------------------------------

    def log_size(self) -> int:
        return self.bank.recorder.max_notification_id() or 0

    def act(self, action) -> bool:  # type: ignore[no-untyped-def]
        """Run an action; a refused one must have recorded nothing."""
        self.now += timedelta(minutes=7)
        before = self.log_size()
        try:
            action()
        except DomainError:
            assert self.log_size() == before
            return False
        return True

    # Rules -----------------------------------------------------------------------------

    @rule(
        target=devices,
        donor=st.sampled_from(DONORS),
        territory=st.sampled_from(["lyon", "la-reunion", "mars"]),
    )
    def pledge(self, donor: str, territory: str):  # type: ignore[no-untyped-def]
        serial = f"SN-{next(self.serials)}"
        answer: list[UUID] = []

        def pledge() -> None:
            answer.append(
                self.bank.pledge_device(
                    donor=donor,
                    territory=territory,
                    kind="laptop",
                    serial_number=serial,
                    make="Dell",
                    model="Latitude",
                    by=donor,
                    now=self.now,
                )
            )

        if self.act(pledge):
            assert territory != "mars"
            self.ids.append(answer[0])
            return answer[0]
        assert territory == "mars"
        return None

    @rule(target=lots, picked=st.lists(devices, min_size=1, max_size=3))
    def form_lot(self, picked: list[UUID | None]):  # type: ignore[no-untyped-def]
        ids = list(dict.fromkeys(d for d in picked if d is not None))
        if not ids:
            return None
        key = f"lot-{next(self.serials)}"
        if self.act(lambda: self.bank.form_lot(key=key, device_ids=ids, by="x", now=self.now)):
            return lot_id(key)
        return None

    @rule(
        target_=st.one_of(devices, lots),
        giver=st.sampled_from(PARTIES),
        receiver=st.sampled_from(PARTIES),
    )
    def hand_over(self, target_: UUID | None, giver: str, receiver: str) -> None:
        if target_ is not None:
            self.act(
                lambda: self.bank.hand_over(
                    target_, giver=giver, receiver=receiver, by=giver, now=self.now
                )
            )

    @rule(target_=st.one_of(devices, lots), receiver=st.sampled_from(PARTIES))
    def confirm(self, target_: UUID | None, receiver: str) -> None:
        if target_ is not None:
            self.act(
                lambda: self.bank.confirm_handover(
                    target_, receiver=receiver, receiver_ref="accueil", by=receiver, now=self.now
                )
            )

    @rule(target_=st.one_of(devices, lots), giver=st.sampled_from(PARTIES))
    def revoke(self, target_: UUID | None, giver: str) -> None:
        if target_ is not None:
            self.act(
                lambda: self.bank.revoke_handover(
                    target_, giver=giver, reason="erreur", by=giver, now=self.now
                )
            )

    @rule(device=devices, by=REFURBISHERS, grade=st.sampled_from(["A", "C", "unfit"]))
    def diagnose(self, device: UUID | None, by: str, grade: str) -> None:
        if device is not None:
            self.act(
                lambda: self.bank.diagnose(device, refurbisher=by, grade=grade, by=by, now=self.now)
            )

    @rule(device=devices, by=REFURBISHERS)
    def wipe(self, device: UUID | None, by: str) -> None:
        if device is not None:
            self.act(lambda: self.wipe_now(device, by))

    def wipe_now(self, device: UUID, by: str) -> None:
        self.bank.wipe(
            device,
            refurbisher=by,
            method="overwrite",
            certificate_id=f"EC-{device.hex[:8]}",
            certificate_sha256=device.hex * 2,
            by=by,
            now=self.now,
        )

    @rule(device=devices, by=REFURBISHERS, cost=COSTS)
    def refurbish(self, device: UUID | None, by: str, cost: int) -> None:
        if device is not None:
            self.act(
                lambda: self.bank.refurbish(
                    device, refurbisher=by, parts=("ssd",), cost_cents=cost, by=by, now=self.now
                )
            )

    @rule(device=devices, by=REFURBISHERS, cost=COSTS)
    def repair(self, device: UUID | None, by: str, cost: int) -> None:
        if device is not None:
            self.act(
                lambda: self.bank.repair(
                    device, refurbisher=by, parts=("écran",), cost_cents=cost, by=by, now=self.now
                )
            )

    @rule(device=devices, by=REFURBISHERS)
    def scrap(self, device: UUID | None, by: str) -> None:
        if device is not None:
            self.act(
                lambda: self.bank.scrap(device, refurbisher=by, reason="HS", by=by, now=self.now)
            )

    @rule(
        device=devices,
        service=st.sampled_from([SERVICE, SERVICE, REFURBISHER]),
        uai=st.sampled_from(SCHOOLS),
        again=st.booleans(),
    )
    def allocate(self, device: UUID | None, service: str, uai: str, again: bool) -> None:
        if device is None:
            return
        command = self.bank.reallocate if again else self.bank.allocate
        pupil = f"eleve-{next(self.serials)}"
        self.act(
            lambda: command(
                device,
                education_service=service,
                pupil_id=pupil,
                school_uai=uai,
                by=service,
                now=self.now,
            )
        )

    @rule(target_=st.one_of(devices, lots), by=REFURBISHERS)
    def deliver(self, target_: UUID | None, by: str) -> None:
        if target_ is not None:
            self.act(lambda: self.bank.deliver(target_, refurbisher=by, by=by, now=self.now))

    @rule(device=devices, uai=st.sampled_from(SCHOOLS), by=REFURBISHERS)
    def give_back(self, device: UUID | None, uai: str, by: str) -> None:
        if device is not None:
            self.act(
                lambda: self.bank.return_device(
                    device, school_uai=uai, refurbisher=by, reason="panne", by=uai, now=self.now
                )
            )

    @rule(restore=st.booleans())
    def withdraw_or_restore_the_other_refurbisher(self, restore: bool) -> None:
        if restore:
            self.act(
                lambda: self.bank.approve_organisation(
                    siret=OTHER_REFURBISHER,
                    name=f"org {OTHER_REFURBISHER}",
                    role="refurbisher",
                    by="operator",
                    now=self.now,
                )
            )
        else:
            self.act(
                lambda: self.bank.withdraw_approval(
                    siret=OTHER_REFURBISHER,
                    role="refurbisher",
                    reason="audit",
                    by="operator",
                    now=self.now,
                )
            )

    @rule(
        device=devices,
        cost=st.sampled_from((1500, 3000)),
        steps=st.integers(1, 14),
        branch=st.sampled_from((False, False, False, True)),
    )
    def walk_forward(self, device: UUID | None, cost: int, steps: int, branch: bool) -> None:
        """The next valid steps of the device's journey, each by whoever should take it:
        random actions alone rarely get a device far along the chain. `branch` takes the
        other way where there is one (scrap rather than refurbish, give back a delivered
        device, scrap a returned one)."""
        for _ in range(steps if device is not None else 0):
            if not self.act(lambda: self.next_step(self.bank.get_device(device), cost, branch)):
                return

    def next_step(self, device: Device, cost: int, branch: bool) -> None:
        bank, now, d = self.bank, self.now, device.id
        refurbisher = device.custody_chain[-1].holder.split(":", 1)[1]
        if device.awaiting is not None:
            receiver = device.awaiting.receiver
            bank.confirm_handover(d, receiver=receiver, receiver_ref="accueil", by="r", now=now)
        elif device.stage is S.PLEDGED:
            bank.hand_over(d, giver=device.donor, receiver=organisation(COLLECTOR), by="c", now=now)
        elif device.stage in (S.COLLECTED, S.SCRAPPED):
            giver, receiver = organisation(COLLECTOR), organisation(REFURBISHER)
            if device.stage is S.SCRAPPED:
                giver, receiver = organisation(refurbisher), organisation(COLLECTOR)
            bank.hand_over(d, giver=giver, receiver=receiver, by="c", now=now)
        elif device.stage is S.RECEIVED:
            bank.diagnose(d, refurbisher=refurbisher, grade="B", by="r", now=now)
        elif device.stage is S.DIAGNOSED:
            self.wipe_now(d, refurbisher)
        elif device.stage in (S.WIPED, S.RETURNED) and branch:
            bank.scrap(d, refurbisher=refurbisher, reason="HS", by="r", now=now)
        elif device.stage is S.RETURNED:
            bank.repair(d, refurbisher=refurbisher, parts=("ssd",), cost_cents=500, by="r", now=now)
        elif device.stage is S.DELIVERED and branch:
            uai = device.allocation.school_uai
            bank.return_device(
                d, school_uai=uai, refurbisher=REFURBISHER, reason="x", by="s", now=now
            )
        elif device.stage is S.WIPED:
            bank.refurbish(
                d, refurbisher=refurbisher, parts=("ssd",), cost_cents=cost, by="r", now=now
            )
        elif device.stage is S.REFURBISHED:
            pupil = f"eleve-{next(self.serials)}"
            bank.allocate(
                d, education_service=SERVICE, pupil_id=pupil, school_uai=SCHOOLS[0], by="e", now=now
            )
        elif device.stage is S.ALLOCATED:
            bank.deliver(d, refurbisher=refurbisher, by="r", now=now)

    # Invariants ------------------------------------------------------------------------

    def events_of(self, device_id: UUID) -> list:  # type: ignore[type-arg]
        return list(self.bank.events.get(device_id))

    @invariant()
    def no_stage_is_skipped_and_replay_equals_live(self) -> None:
        for device_id in getattr(self, "ids", []):
            replayed: Device | None = None
            stages: list[DeviceStage | None] = [None]
            for event in self.events_of(device_id):
                replayed = event.mutate(replayed)
                if replayed.stage is not stages[-1]:
                    stages.append(replayed.stage)
            for move in itertools.pairwise(stages):
                assert move in TRANSITIONS, (device_id, stages)
            live = self.bank.get_device(device_id)
            assert replayed is not None and replayed.__dict__ == live.__dict__

    @invariant()
    def a_delivered_device_was_wiped_once_and_its_custody_chain_is_unbroken(self) -> None:
        for device_id in getattr(self, "ids", []):
            device = self.bank.get_device(device_id)
            wipes = [e for e in self.events_of(device_id) if isinstance(e, Device.Wiped)]
            assert len(wipes) <= 1
            chain = device.custody_chain
            assert chain[0].holder == device.donor
            for before, after in itertools.pairwise(chain):
                assert before.until == after.since
            if device.stage is S.DELIVERED:
                assert len(wipes) == 1 and device.wipe_certificate is not None
                assert chain[-1].holder == school(device.allocation.school_uai)
                assert chain[-1].until is None

    @invariant()
    def the_pipeline_read_model_counts_what_the_devices_say(self) -> None:
        if not hasattr(self, "bank"):
            return
        self.runner.catch_up()
        live = Counter(self.bank.get_device(d).stage for d in self.ids)
        assert {s: n for s, n in self.pipeline.by_stage().items() if n} == live
        notifications = self.bank.recorder.select_notifications(start=None, limit=100_000)
        folded = fold(self.bank.mapper.to_domain_event(n) for n in notifications)
        for device_id in self.ids:
            row = folded.devices[str(device_id)]
            device = self.bank.get_device(device_id)
            assert (row.stage, row.charged_cents) == (device.stage.value, device.charged_cents)

    @invariant()
    def the_books_balance_and_no_budget_is_overspent(self) -> None:
        if not hasattr(self, "bank"):
            return
        notifications = self.bank.recorder.select_notifications(start=None, limit=100_000)
        balances = accounts.fold(self.bank.mapper.to_domain_event(n) for n in notifications)
        assert sum(balances.values()) == 0
        for code, budget in TERRITORIES.items():
            territory = self.bank.get_territory(territory_id(code))
            assert 0 <= territory.remaining_cents <= budget
            assert (
                balances.get(accounts.territory_budget(territory.id), 0)
                == territory.remaining_cents
            )
        for device_id in self.ids:
            assert 0 <= self.bank.get_device(device_id).charged_cents <= MAX_CHARGE_PER_DEVICE_CENTS


def test_device_banks_hold_under_random_actions_on_sqlite(tmp_path_factory) -> None:
    run_on_sqlite(DeviceMachine, tmp_path_factory, steps=30, share=0.5)


@pytest.mark.postgres
def test_device_banks_hold_under_random_actions_on_postgresql(pg_template: str) -> None:
    run_on_postgresql(DeviceMachine, pg_template, steps=30, share=0.3)
