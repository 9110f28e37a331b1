"""The catalogue, vendor statement and indicator read models, on SQLite and PostgreSQL.

One small world is built through the applications, as in production: two vendors, their
resources and labels, a campaign, redemptions, captures, a refund, and a claim partly
rejected, approved and paid through a batch. Each projection is folded from the one log,
in small pages, and its answers are checked to the cent.
"""

from __future__ import annotations

from datetime import date, timedelta
from uuid import UUID

import pytest
from sqlalchemy import select

from ledger.catalogue import SchoolLevel
from ledger.catalogue_app import Catalogue
from ledger.claims import CANCEL, OVERTURNED, RETURN_TO_CLAIMABLE
from ledger.claims_desk import ClaimsDesk
from ledger.eligibility import Label, ResourceKind
from ledger.errors import InvalidInput, InvalidPeriod
from ledger.redemptions import Redemptions
from ledger.reimbursement import ReimbursementRule, RuleBook
from ledger.settings import Settings
from ledger.vendor_directory import VendorDirectory
from ledger.vouchers import VoucherLedger
from projections.catalogue import CatalogueProjection, CatalogueView
from projections.engine import create_read_engine
from projections.indicators import Indicators, IndicatorsProjection
from projections.runner import ProjectionRunner
from projections.upkeep import reset
from projections.vendors import VendorStatementProjection, VendorStatements
from tests import helpers

START, DURING, DAY = helpers.START, helpers.DURING, timedelta(days=1)
HOUR = timedelta(hours=1)
DECIDED_ON = date(2027, 9, 1)
RULES = RuleBook((ReimbursementRule("full", START, helpers.END, ((0, 10_000),)),))
SEPTEMBER = (date(2027, 9, 1), date(2027, 9, 30))
PAGE_SIZE = 4  # small, so that every fold crosses pages


class World:
    """The applications on one store, and what the story below created."""

    def __init__(self, settings: Settings) -> None:
        self.vouchers = VoucherLedger(settings)
        self.vendors = VendorDirectory(settings)
        self.catalogue = Catalogue(settings)
        self.desk = ClaimsDesk(settings, RULES)
        self.redemptions = Redemptions(self.vouchers, self.vendors, self.catalogue)
        self.engine = create_read_engine(settings)
        self.ids: dict[str, UUID] = {}

    def close(self) -> None:
        for app in (self.vouchers, self.vendors, self.catalogue, self.desk):
            app.close()
        self.engine.dispose()

    def runner(self, projection, page_size: int = PAGE_SIZE) -> ProjectionRunner:
        return ProjectionRunner(self.vouchers, self.engine, projection, page_size=page_size)

    def vendor(self, name: str, siren: str, siret: str) -> str:
        vendor = self.vendors.apply_vendor(
            legal_name=name,
            siren=siren,
            siret=siret,
            contact_ref=f"contact-{siren}",
            iban="FR7630006000011234567890189",
            by="vendor",
            now=START,
        )
        self.vendors.approve(vendor, by="operator", now=START)
        return str(vendor)

    def resource(self, vendor: str, reference: str, kind, levels, price_cents: int) -> UUID:
        self.ids[reference] = self.catalogue.list_resource(
            vendor_id=vendor,
            reference=reference,
            title=reference.replace("-", " ").capitalize(),
            description="",
            kind=kind,
            levels=levels,
            price_cents=price_cents,
            by="vendor",
            now=START,
        )
        return self.ids[reference]

    def label(self, reference: str, label: Label, now=START, withdraw: bool = False) -> None:
        change = self.catalogue.withdraw_label if withdraw else self.catalogue.grant_label
        change(self.ids[reference], label, reason="comité", decided_on=DECIDED_ON, by="c", now=now)

    def redeem(self, teacher: str, key: str, reference: str):
        return self.redemptions.redeem(
            campaign_id=self.ids["campaign"],
            teacher_id=teacher,
            key=key,
            resource_id=self.ids[reference],
            order_ref=f"order-{key}",
            by=teacher,
            now=DURING,
        )

    def redemption(self, teacher: str, receipt):
        account = self.vouchers.account_view(self.ids["campaign"], teacher).account_id
        return self.vouchers.redemption(account, receipt.hold_id)


def build(world: World) -> None:
    """Vendor A sells three resources, vendor B one; teachers t1 and t2 spend, t3 does not."""
    a = world.vendor("Les Petits Savants", "732829320", "73282932000074")
    b = world.vendor("Géo Junior", "552100554", "55210055400013")
    world.ids.update(a=UUID(a), b=UUID(b))
    world.resource(a, "lecture-cp", ResourceKind.DIGITAL_TEXTBOOK, ["elementaire"], 1990)
    world.resource(a, "maths-ce1", ResourceKind.ONLINE_SERVICE, ["college", "elementaire"], 2500)
    world.resource(a, "atelier-robotique", ResourceKind.TRAINING, ["lycee"], 5000)
    world.resource(b, "geographie-3d", ResourceKind.SOFTWARE_LICENCE, ["college"], 3000)
    world.label("lecture-cp", Label.FRANCAIS)
    world.label("maths-ce1", Label.FRANCAIS)
    world.label("maths-ce1", Label.RECONNU_INTERET_PEDAGOGIQUE)
    world.label("maths-ce1", Label.RECONNU_INTERET_PEDAGOGIQUE, now=START + HOUR, withdraw=True)
    world.label("geographie-3d", Label.FRANCAIS)
    world.catalogue.update_resource(
        world.ids["maths-ce1"], by="v", now=START + HOUR, price_cents=2400
    )
    robotics = world.ids["atelier-robotique"]
    world.catalogue.withdraw_resource(robotics, reason="rupture", by="v", now=START + HOUR)
    world.catalogue.relist_resource(robotics, reason="réassort", by="v", now=START + 2 * HOUR)

    vouchers = world.vouchers
    campaign = world.ids["campaign"] = helpers.open_campaign(vouchers)
    vouchers.grant_credits(campaign, ["t1", "t2", "t3"], grant_key="g", by="op", now=START)
    lecture = world.redeem("t1", "r1", "lecture-cp")
    maths = world.redeem("t2", "r2", "maths-ce1")
    geo = world.redeem("t1", "r3", "geographie-3d")
    unused = world.redeem("t3", "r4", "lecture-cp")
    vouchers.execute(helpers.capture(campaign, "t1", "c1", lecture.hold_id, 1990))
    vouchers.execute(helpers.capture(campaign, "t2", "c2", maths.hold_id, 2000))  # 400 released
    vouchers.execute(helpers.capture(campaign, "t1", "c3", geo.hold_id, 3000))
    vouchers.execute(helpers.release(campaign, "t3", "x4", unused.hold_id))
    vouchers.execute(helpers.refund(campaign, "t2", "f2", maths.hold_id, 500, now=DURING + DAY))
    # B's French resource leaves the catalogue: B is no longer a French EdTech listed.
    world.catalogue.withdraw_resource(world.ids["geographie-3d"], reason="fin", by="v", now=DURING)
    pay_vendor_a(world, a, lecture, maths)
    overturn_a_rejection_of_vendor_b(world, b, geo)


def pay_vendor_a(world: World, a: str, lecture, maths) -> None:
    desk, lines = world.desk, [world.redemption("t1", lecture), world.redemption("t2", maths)]
    first = desk.submit_claim(a, "claim-1", lines, by="vendor", now=DURING + 2 * DAY)
    rejection = (lecture.hold_id, "facture manquante", RETURN_TO_CLAIMABLE)
    desk.reject_lines(first, key="j1", rejections=[rejection], by="op", now=DURING + 2 * DAY)
    desk.approve_claim(first, by="op", now=DURING + 3 * DAY)
    desk.submit_claim(a, "claim-2", lines[:1], by="vendor", now=DURING + 3 * DAY)
    batch = desk.create_payment_batch(
        key="batch-1",
        claim_ids=[first],
        value_date=(DURING + 4 * DAY).date(),
        payees=[(a, "Les Petits Savants", "FR7630006000011234567890189")],
        by="op",
        now=DURING + 3 * DAY,
    )
    desk.mark_batch_paid(batch, bank_reference="BQ-0001", by="op", now=DURING + 5 * DAY)


def overturn_a_rejection_of_vendor_b(world: World, b: str, geo) -> None:
    desk, hold = world.desk, geo.hold_id
    claim = desk.submit_claim(b, "claim-b", [world.redemption("t1", geo)], by="v", now=DURING)
    rejection = (hold, "prix", CANCEL)
    desk.reject_lines(claim, key="jb", rejections=[rejection], by="op", now=DURING + DAY)
    desk.dispute_line(claim, hold, key="d", reason="prix affiché", by="v", now=DURING + DAY)
    desk.decide_dispute(claim, hold, decision=OVERTURNED, by="op", now=DURING + 2 * DAY)


PROJECTIONS = (CatalogueProjection, VendorStatementProjection, IndicatorsProjection)


@pytest.fixture
def world(store_settings: Settings):
    world = World(store_settings)
    try:
        build(world)
        for projection in PROJECTIONS:
            assert world.runner(projection()).catch_up() > 0
        yield world
    finally:
        world.close()


def test_the_catalogue_shows_each_resource_as_it_stands_now(world):
    view = CatalogueView(world.engine)
    maths = view.get(world.ids["maths-ce1"])
    assert (maths.vendor_id, maths.reference, maths.title) == (
        str(world.ids["a"]),
        "maths-ce1",
        "Maths ce1",
    )
    assert (maths.kind, maths.price_cents, maths.revision) == (ResourceKind.ONLINE_SERVICE, 2400, 2)
    assert maths.levels == (SchoolLevel.ELEMENTAIRE, SchoolLevel.COLLEGE)
    assert maths.labels == (Label.FRANCAIS,)  # the other label was withdrawn
    assert maths.is_listed
    robotics = view.get(world.ids["atelier-robotique"])
    assert robotics.is_listed and robotics.labels == () and robotics.revision == 1
    geo = view.get(world.ids["geographie-3d"])
    assert not geo.is_listed and geo.labels == (Label.FRANCAIS,)
    assert view.get(UUID(int=0)) is None


def test_the_catalogue_is_searched_by_label_kind_and_level_one_page_at_a_time(world):
    view = CatalogueView(world.engine)

    def references(**filters) -> list[str]:
        return [entry.reference for entry in view.search(**filters)]

    assert references() == ["atelier-robotique", "lecture-cp", "maths-ce1"]
    assert references(label=Label.FRANCAIS) == ["lecture-cp", "maths-ce1"]
    assert references(label="francais", listed_only=False) == [
        "geographie-3d",
        "lecture-cp",
        "maths-ce1",
    ]
    assert references(label=Label.RECONNU_INTERET_PEDAGOGIQUE) == []
    assert references(kind="online_service") == ["maths-ce1"]
    assert references(level=SchoolLevel.COLLEGE) == ["maths-ce1"]
    assert references(level="college", listed_only=False) == ["geographie-3d", "maths-ce1"]
    assert references(label=Label.FRANCAIS, kind=ResourceKind.TRAINING) == []
    assert references(limit=2, offset=1) == ["lecture-cp", "maths-ce1"]
    for refused in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"level": "%"}):
        with pytest.raises(InvalidInput):
            view.search(**refused)


def test_a_vendor_statement_sums_a_period_of_redemptions_claims_and_payments(world):
    statements = VendorStatements(world.engine)
    a, b = str(world.ids["a"]), str(world.ids["b"])
    month = statements.statement(a, *SEPTEMBER)
    assert (month.captured_count, month.captured_cents) == (2, 1990 + 2000)
    assert (month.refunded_count, month.refunded_cents) == (1, 500)
    assert (month.claims_submitted_count, month.claims_submitted_cents) == (2, 3490 + 1990)
    assert (month.claims_rejected_cents, month.claims_approved_cents) == (1990, 1500)
    assert month.paid_cents == 1500
    assert month.opening_balance_cents == 0
    assert month.balance_owed_cents == 3990 - 500 - 1500

    late = statements.statement(a, (DURING + 4 * DAY).date(), SEPTEMBER[1])
    assert (late.captured_count, late.claims_submitted_count, late.paid_cents) == (0, 0, 1500)
    assert late.opening_balance_cents == 3490
    assert late.balance_owed_cents == month.balance_owed_cents

    capture_day = statements.statement(b, DURING.date(), DURING.date())
    assert (capture_day.captured_count, capture_day.balance_owed_cents) == (1, 3000)
    rejected_day = statements.statement(b, (DURING + DAY).date(), (DURING + DAY).date())
    overturned_day = statements.statement(b, *[(DURING + 2 * DAY).date()] * 2)
    assert (rejected_day.claims_rejected_cents, overturned_day.claims_rejected_cents) == (
        3000,
        -3000,
    )
    month_b = statements.statement(b, *SEPTEMBER)
    assert (month_b.claims_submitted_cents, month_b.claims_rejected_cents) == (3000, 0)
    before = statements.statement(a, *(date(2027, 8, 1), date(2027, 8, 31)))
    assert before.captured_count == 0 and before.balance_owed_cents == 0
    assert [s.vendor_id for s in statements.statements(*SEPTEMBER)] == sorted([a, b])
    with pytest.raises(InvalidPeriod):
        statements.statement(a, SEPTEMBER[1], SEPTEMBER[0])


def test_the_indicators_count_spenders_purchases_and_french_edtechs_listed(world):
    indicators = Indicators(world.engine).current()
    assert indicators.teachers_who_spent == 2  # t3's hold was released
    assert (indicators.captured_cents, indicators.refunded_cents) == (6990, 500)
    assert indicators.purchases_cents == 6490
    assert indicators.french_edtechs_listed == 1  # B's French resource was withdrawn


def rows_of(world: World, projection) -> dict[str, list[tuple]]:
    with world.engine.connect() as conn:
        return {
            table.name: sorted(tuple(row) for row in conn.execute(select(table)))
            for table in projection.tables
        }


@pytest.mark.parametrize("projection_type", PROJECTIONS, ids=lambda p: p.name)
def test_catching_up_again_changes_nothing_and_a_rebuild_gives_the_same_rows(
    world, projection_type
):
    projection = projection_type()
    runner = world.runner(projection)
    before = rows_of(world, projection)
    assert all(before.values())
    assert runner.catch_up() == 0
    assert rows_of(world, projection) == before
    reset(world.engine, projection)
    assert not any(rows_of(world, projection).values())
    rebuilt = world.runner(projection, page_size=1000)  # other pages, the same fold
    assert rebuilt.catch_up() > 0
    assert rows_of(world, projection) == before
    assert rebuilt.position() == runner.position()


def test_a_vendor_statement_shows_what_a_degressive_rule_withheld(store_settings):
    """90 % reimbursed: the statement owes nothing once paid, and shows the 10 % withheld."""
    world = World(store_settings)
    world.desk = ClaimsDesk(
        store_settings, RuleBook((ReimbursementRule("ninety", START, helpers.END, ((0, 9_000),)),))
    )
    try:
        vendor = world.vendor("Les Petits Savants", "732829320", "73282932000074")
        world.resource(vendor, "lecture", ResourceKind.DIGITAL_TEXTBOOK, ["elementaire"], 2500)
        world.ids["campaign"] = helpers.open_campaign(world.vouchers)
        world.vouchers.grant_credits(
            world.ids["campaign"], ["t1"], grant_key="g", by="op", now=START
        )
        receipt = world.redeem("t1", "r1", "lecture")
        world.vouchers.execute(
            helpers.capture(world.ids["campaign"], "t1", "c1", receipt.hold_id, 2500)
        )
        claim = world.desk.submit_claim(
            vendor, "claim-1", [world.redemption("t1", receipt)], by="v", now=DURING
        )
        world.desk.approve_claim(claim, by="operator", now=DURING)
        batch = world.desk.create_payment_batch(
            key="batch-1",
            claim_ids=[claim],
            value_date=date(2027, 9, 20),
            payees=[(vendor, "Les Petits Savants", "FR7630006000011234567890189")],
            by="operator",
            now=DURING,
        )
        world.desk.mark_batch_paid(batch, bank_reference="REF-1", by="operator", now=DURING)
        world.runner(VendorStatementProjection()).catch_up()
        statement = VendorStatements(world.engine).statement(vendor, *SEPTEMBER)
        assert (statement.captured_cents, statement.paid_cents) == (2500, 2250)
        assert statement.withheld_cents == 250
        assert statement.balance_owed_cents == 0
    finally:
        world.close()
