"""The device banks' read models, on SQLite and PostgreSQL: the pipeline and the books.

One small world is built through the `DeviceBank` application, as in production, with a
clock that moves by days: two territories, a collector, two refurbishers, an education
service; a company's four laptops (one delivered, one delivered then returned and repaired
by another refurbisher, one unfit and recycled, one waiting since its reception) and a
person's tablet never collected. The pipeline is folded from the log in small pages and
its answers are checked by hand, against a fold of the events, against the aggregates, and
after a rebuild.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from uuid import UUID

import pytest
from sqlalchemy import select

from ledger import accounts
from ledger.device_bank import DeviceBank
from ledger.device_records import DeviceDescription, DeviceStage
from ledger.errors import InvalidIdentifier, InvalidInput
from ledger.organisations import organisation_id
from ledger.parties import company, individual, organisation, school
from ledger.settings import Settings
from ledger.territories import territory_id
from projections.balances import Balances, BalancesProjection
from projections.device_pipeline import DeviceOutcome, DevicePipeline
from projections.devices import DevicePipelineProjection, device_row, fold, stay_row
from projections.engine import create_read_engine
from projections.runner import ProjectionRunner
from projections.schema import device_pipeline, device_stage_stays
from projections.upkeep import reset

T0, DAY = datetime(2027, 9, 1, tzinfo=UTC), timedelta(days=1)
COMPANY, PERSON = company("38012986646850"), individual("donor-81f2")
COLLECTOR, R1, R2, EDUCATION = (
    "73282932000074",
    "55210055400013",
    "41816609600069",
    "44306184100047",
)
UAI = "0750655E"
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
LYON, REUNION = territory_id("lyon"), territory_id("reunion")
LYON_BUDGET_CENTS = 100_000
PUPILS = ("ine-pupil-1", "ine-pupil-2")
PAGE_SIZE = 3  # small, so that a device's events fall in several pages


class World:
    def __init__(self, settings: Settings) -> None:
        self.bank = DeviceBank(settings)
        self.engine = create_read_engine(settings)
        self.devices: dict[str, UUID] = {}

    def close(self) -> None:
        self.bank.close()
        self.engine.dispose()

    def runner(self, projection, page_size: int = PAGE_SIZE) -> ProjectionRunner:
        return ProjectionRunner(self.bank, self.engine, projection, page_size=page_size)

    def work(self, serial: str, refurbisher: str, day: int, grade: str = "A") -> UUID:
        """Diagnosed on `day`, wiped the day after."""
        device = self.devices[serial]
        bank = self.bank
        bank.diagnose(device, refurbisher=refurbisher, grade=grade, by="t", now=T0 + day * DAY)
        bank.wipe(
            device,
            refurbisher=refurbisher,
            method="overwrite",
            certificate_id=f"CERT-{serial}",
            certificate_sha256=SHA256,
            by="t",
            now=T0 + (day + 1) * DAY,
        )
        return device

    def to_pupil(self, serial: str, pupil: str, allocated: int, delivered: int) -> None:
        device, bank = self.devices[serial], self.bank
        at = T0 + allocated * DAY
        bank.allocate(
            device, education_service=EDUCATION, pupil_id=pupil, school_uai=UAI, by="e", now=at
        )
        bank.deliver(device, refurbisher=R1, by="driver", now=T0 + (delivered - 1) * DAY)
        bank.confirm_handover(
            device, receiver=school(UAI), receiver_ref="cpe-42", by="c", now=T0 + delivered * DAY
        )


def build(world: World) -> None:
    bank = world.bank
    bank.register_territory(
        code="lyon",
        name="Métropole de Lyon",
        kind="metropolis",
        budget_cents=LYON_BUDGET_CENTS,
        funder_id="banque-des-territoires",
        by="op",
        now=T0,
    )
    bank.register_territory(
        code="reunion",
        name="La Réunion",
        kind="overseas",
        budget_cents=50_000,
        funder_id="region-reunion",
        by="op",
        now=T0,
    )
    for siret, role in [(COLLECTOR, "collector"), (R1, "refurbisher"), (R2, "refurbisher")]:
        bank.approve_organisation(siret=siret, name=f"{role} {siret}", role=role, by="op", now=T0)
    bank.approve_organisation(
        siret=EDUCATION, name="Rectorat de Lyon", role="education_service", by="op", now=T0
    )
    laptops = [DeviceDescription("laptop", f"SN{i}", "Dell", "Latitude 5490") for i in range(4)]
    ids = bank.pledge_devices(donor=COMPANY, territory="lyon", devices=laptops, by="d", now=T0)
    world.devices.update(zip(("SN0", "SN1", "SN2", "SN3"), ids, strict=True))
    world.devices["T1"] = bank.pledge_device(
        donor=PERSON,
        territory="reunion",
        kind="tablet",
        serial_number="T1",
        make="Apple",
        model="iPad 6",
        by="d",
        now=T0,
    )
    # The tablet's handover is revoked: it stays pledged.
    tablet, collector = world.devices["T1"], organisation(COLLECTOR)
    bank.hand_over(tablet, giver=PERSON, receiver=collector, by="d", now=T0 + DAY)
    bank.revoke_handover(tablet, giver=PERSON, reason="not home", by="d", now=T0 + 2 * DAY)
    # The company's laptops: collected on day 1, received by R1 on day 3, in one lot.
    lot = bank.form_lot(key="round-1", device_ids=ids, by="driver", now=T0)
    for giver, receiver, day in [(COMPANY, COLLECTOR, 1), (collector, R1, 3)]:
        bank.hand_over(lot, giver=giver, receiver=organisation(receiver), by="u", now=T0)
        bank.confirm_handover(lot, receiver=organisation(receiver), by="u", now=T0 + day * DAY)
    delivered_once_and_returned(world)
    scrapped_and_recycled(world)


def delivered_once_and_returned(world: World) -> None:
    bank = world.bank
    sn0 = world.work("SN0", R1, day=4)
    bank.refurbish(sn0, refurbisher=R1, parts=["SSD"], cost_cents=4500, by="t", now=T0 + 7 * DAY)
    world.to_pupil("SN0", PUPILS[0], allocated=10, delivered=12)
    sn1 = world.work("SN1", R1, day=5)
    bank.refurbish(sn1, refurbisher=R1, parts=[], cost_cents=5000, by="t", now=T0 + 8 * DAY)
    world.to_pupil("SN1", PUPILS[1], allocated=9, delivered=13)
    bank.return_device(
        sn1, school_uai=UAI, refurbisher=R2, reason="pupil moved", by="c", now=T0 + 20 * DAY
    )
    bank.confirm_handover(sn1, receiver=organisation(R2), by="t", now=T0 + 22 * DAY)
    bank.repair(sn1, refurbisher=R2, parts=["battery"], cost_cents=1000, by="t", now=T0 + 24 * DAY)


def scrapped_and_recycled(world: World) -> None:
    bank = world.bank
    sn2 = world.work("SN2", R1, day=4, grade="unfit")
    bank.scrap(sn2, refurbisher=R1, reason="motherboard", by="t", now=T0 + 5 * DAY)
    giver, collector = organisation(R1), organisation(COLLECTOR)
    bank.hand_over(sn2, giver=giver, receiver=collector, by="t", now=T0 + 7 * DAY)
    bank.confirm_handover(sn2, receiver=collector, by="c", now=T0 + 8 * DAY)


@pytest.fixture
def world(store_settings: Settings):
    world = World(store_settings)
    try:
        build(world)
        assert world.runner(DevicePipelineProjection()).catch_up() > 0
        yield world
    finally:
        world.close()


def stages(**counts: int) -> dict[DeviceStage, int]:
    return {stage: counts.get(stage.value, 0) for stage in DeviceStage}


def test_the_pipeline_counts_devices_per_stage_territory_and_refurbisher(world):
    pipeline = DevicePipeline(world.engine)
    assert pipeline.by_stage() == stages(
        pledged=1, received=1, refurbished=1, recycled=1, delivered=1
    )
    assert pipeline.by_stage(territory=LYON) == stages(
        received=1, refurbished=1, recycled=1, delivered=1
    )
    assert pipeline.by_stage(territory=REUNION) == stages(pledged=1)
    assert pipeline.by_stage(refurbisher=organisation(R1)) == stages(
        received=1, recycled=1, delivered=1
    )
    assert pipeline.by_stage(territory=LYON, refurbisher=organisation(R2)) == stages(refurbished=1)
    rows = [(c.territory_id, c.refurbisher, c.stage, c.devices) for c in pipeline.breakdown()]
    assert sorted(rows, key=str) == sorted(
        [
            (LYON, organisation(R1), DeviceStage.RECEIVED, 1),
            (LYON, organisation(R1), DeviceStage.RECYCLED, 1),
            (LYON, organisation(R1), DeviceStage.DELIVERED, 1),
            (LYON, organisation(R2), DeviceStage.REFURBISHED, 1),
            (REUNION, None, DeviceStage.PLEDGED, 1),
        ],
        key=str,
    )
    assert len(pipeline.breakdown(limit=2, offset=3)) == 2
    with pytest.raises(InvalidIdentifier):
        pipeline.by_stage(refurbisher="55210055400013")  # a party, not a bare SIRET


def test_lead_times_are_the_median_and_90th_percentile_of_the_stays_that_ended(world):
    lead_times = DevicePipeline(world.engine).lead_times()
    figures = {stage.value: (t.stays, t.median, t.p90) for stage, t in lead_times.items()}
    assert figures == {
        "pledged": (4, DAY, DAY),  # the tablet is still pledged: its stay has not ended
        "collected": (4, 2 * DAY, 2 * DAY),
        "received": (3, DAY, 2 * DAY),  # SN3 is still there
        "diagnosed": (3, DAY, DAY),
        "wiped": (3, 2 * DAY, 2 * DAY),  # SN2 was scrapped the day it was wiped: 0, 2, 2
        "refurbished": (2, DAY, 3 * DAY),  # SN1's second stay there has not ended
        "allocated": (2, 2 * DAY, 4 * DAY),
        "delivered": (1, 9 * DAY, 9 * DAY),
        "returned": (1, 2 * DAY, 2 * DAY),
        "scrapped": (1, 3 * DAY, 3 * DAY),
    }
    assert list(lead_times) == [s for s in DeviceStage if s.value in figures]
    by_r2 = DevicePipeline(world.engine).lead_times(refurbisher=organisation(R2))
    assert {s.value: (t.stays, t.median) for s, t in by_r2.items()} == {"returned": (1, 2 * DAY)}
    assert DevicePipeline(world.engine).lead_times(territory=REUNION) == {}


def test_devices_whose_stage_was_entered_before_its_limit_are_stuck(world):
    pipeline = DevicePipeline(world.engine)
    month_later = T0 + 31 * DAY
    stuck = pipeline.stuck(month_later)
    assert [(d.device_id, d.stage, d.waited) for d in stuck] == [
        (world.devices["T1"], DeviceStage.PLEDGED, 31 * DAY),  # beyond 30 days
        (world.devices["SN3"], DeviceStage.RECEIVED, 28 * DAY),  # unwiped beyond 14 days
    ]
    assert stuck[1].refurbisher == organisation(R1) and stuck[1].territory_id == LYON
    counts = pipeline.stuck_counts(month_later)
    assert counts[DeviceStage.PLEDGED] == counts[DeviceStage.RECEIVED] == 1
    assert sum(counts.values()) == 2 and DeviceStage.DELIVERED not in counts
    assert [d.device_id for d in pipeline.stuck(T0 + 20 * DAY)] == [world.devices["SN3"]]
    tighter = pipeline.stuck(month_later, limits={"refurbished": 5 * DAY})
    assert [(d.device_id, d.waited) for d in tighter] == [(world.devices["SN1"], 7 * DAY)]
    assert pipeline.stuck(month_later, territory=REUNION, limit=1)[0].stage.value == "pledged"
    assert pipeline.stuck(month_later, limit=1, offset=2) == []
    for refused in ({"limits": {"delivered": DAY}}, {"limits": {"wiped": -DAY}}, {"limit": 0}):
        with pytest.raises(InvalidInput):
            pipeline.stuck(month_later, **refused)
    with pytest.raises(InvalidInput):
        pipeline.stuck(datetime(2027, 10, 1))  # a naive time


def test_the_yield_and_the_cost_per_delivered_device_are_measured_against_60_euros(world):
    pipeline = DevicePipeline(world.engine)
    whole = pipeline.yield_()
    assert (whole.pledged, whole.delivered, whole.scrapped) == (5, 2, 1)
    assert (whole.delivered_share, whole.scrapped_share) == (Fraction(2, 5), Fraction(1, 5))
    assert pipeline.yield_(territory=LYON).delivered_share == Fraction(1, 2)
    cost = pipeline.cost_per_delivered()
    assert (cost.charged_cents, cost.delivered) == (4500 + 5000 + 1000, 2)
    assert cost.cost_per_delivered_cents == 5250 and cost.within_budget
    nothing = pipeline.cost_per_delivered(territory=REUNION)
    assert (nothing.charged_cents, nothing.cost_per_delivered_cents) == (0, None)


def test_a_donors_receipt_says_what_became_of_each_device_and_names_no_pupil(world):
    pipeline = DevicePipeline(world.engine)
    receipt = pipeline.donor_receipt(COMPANY)
    assert (receipt.pledged, receipt.delivered, receipt.recycled) == (4, 2, 1)
    assert receipt.by_stage == stages(received=1, refurbished=1, recycled=1, delivered=1)
    assert [
        (d.serial_number, d.stage.value, d.outcome, d.certificate_id, d.times_delivered)
        for d in receipt.devices
    ] == [
        ("SN0", "delivered", DeviceOutcome.DELIVERED, "CERT-SN0", 1),
        ("SN1", "refurbished", DeviceOutcome.IN_PROGRESS, "CERT-SN1", 1),
        ("SN2", "recycled", DeviceOutcome.RECYCLED, "CERT-SN2", 0),
        ("SN3", "received", DeviceOutcome.IN_PROGRESS, None, 0),
    ]
    assert all(pupil not in repr(receipt) and UAI not in repr(receipt) for pupil in PUPILS)
    page = pipeline.donor_receipt(COMPANY, limit=2, offset=2)
    assert [d.serial_number for d in page.devices] == ["SN2", "SN3"] and page.pledged == 4
    tablet = pipeline.donor_receipt("individual:donor-81f2").devices
    assert [(d.kind.value, d.pledged_at, d.outcome) for d in tablet] == [
        ("tablet", T0, DeviceOutcome.IN_PROGRESS)
    ]
    assert pipeline.donor_receipt(company("73282932000074")).pledged == 0
    with pytest.raises(InvalidIdentifier):
        pipeline.donor_receipt(organisation(R1))  # an organisation donates nothing


def rows_of(world: World) -> dict[str, list[tuple]]:
    with world.engine.connect() as conn:
        return {
            table.name: sorted(tuple(row) for row in conn.execute(select(table)))
            for table in DevicePipelineProjection.tables
        }


def test_the_tables_equal_a_fold_of_the_events_and_the_aggregates(world):
    projection = DevicePipelineProjection()
    notifications = world.bank.recorder.select_notifications(
        start=1, limit=10_000, topics=projection.topics
    )
    folded = fold(world.bank.mapper.to_domain_event(n) for n in notifications)
    with world.engine.connect() as conn:
        devices = {
            row.device_id: row
            for row in map(device_row, conn.execute(select(device_pipeline)).mappings())
        }
        stays = {
            (row.device_id, row.stay): row
            for row in map(stay_row, conn.execute(select(device_stage_stays)).mappings())
        }
    assert devices == folded.devices and stays == folded.stays
    assert len(stays) == 8 + 10 + 7 + 3 + 1  # SN0 to SN3 and the tablet, open or ended
    for device_id, row in devices.items():
        live = world.bank.get_device(UUID(device_id))
        certificate = live.wipe_certificate.certificate_id if live.wipe_certificate else None
        assert (row.stage, row.charged_cents, row.certificate_id) == (
            live.stage.value,
            live.charged_cents,
            certificate,
        )
    held = {value for row in devices.values() for value in vars_of(row)}
    assert not held & {*PUPILS, UAI, school(UAI), "cpe-42"}


def vars_of(row) -> tuple:
    return tuple(getattr(row, name) for name in row.__slots__)


def test_catching_up_again_changes_nothing_and_a_rebuild_gives_the_same_rows(world):
    projection = DevicePipelineProjection()
    runner = world.runner(projection)
    before = rows_of(world)
    assert all(before.values())
    assert runner.catch_up() == 0
    assert rows_of(world) == before
    reset(world.engine, projection)
    assert not any(rows_of(world).values())
    rebuilt = world.runner(projection, page_size=1000)  # other pages, the same fold
    assert rebuilt.catch_up() > 0
    assert rows_of(world) == before
    assert rebuilt.position() == runner.position()


def test_the_books_fold_the_device_banks_postings_and_the_trial_balance_stays_zero(world):
    assert world.runner(BalancesProjection(), page_size=1000).catch_up() > 0
    balances = Balances(world.engine)
    assert balances.trial_balance() == 0
    lyon = balances.balance(accounts.territory_budget(LYON))
    assert lyon == LYON_BUDGET_CENTS - 10_500
    assert balances.balance(accounts.refurbisher_payable(organisation_id(R1))) == 9500
    assert balances.balance(accounts.refurbisher_payable(organisation_id(R2))) == 1000
    assert balances.balance(accounts.funder("region-reunion")) == -50_000
    assert world.bank.get_territory(LYON).remaining_cents == lyon
