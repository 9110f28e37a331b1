"""The programme's report, on SQLite and PostgreSQL: its figures equal counts taken straight
from the log, its reconciliation agrees on a clean log and shows a tampered side, a report
as of an earlier position differs and checks, and `check_report` refuses every forgery.

The world is the internet fund's small one (`tests.integration.test_fund_read_models`:
two territories, two devices delivered, levies, subsidies, co-financing) with a campaign
whose teachers spend, one of them refunded, and a resource labelled « Français ».
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import update

from ledger.audit_log import b64encode
from ledger.catalogue_app import Catalogue
from ledger.checkpoints import FIELDS, Checkpoint, sign
from ledger.cofinancing import CoFinancing
from ledger.credits import CreditAccount
from ledger.eligibility import Label, ResourceKind
from ledger.errors import ReportMismatch
from ledger.levies import OperatorLevy
from ledger.settings import Settings
from ledger.subsidies import HouseholdSubsidy
from ledger.vouchers import VoucherLedger
from projections.balances import Balances
from projections.reconciliation import reconcile
from projections.report import make_report, replay_for_report, report_digest
from projections.report_check import check_report
from projections.schema import balances
from tests import helpers
from tests.integration.test_fund_read_models import World, build

NOW = datetime(2028, 9, 1, 12, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()
OPERATOR = KEY.public_key()


class ReportWorld:
    def __init__(self, settings: Settings) -> None:
        self.fund_world = World(settings)
        self.vouchers = VoucherLedger(settings)
        self.catalogue = Catalogue(settings)

    def close(self) -> None:
        for app in (self.vouchers, self.catalogue):
            app.close()
        self.fund_world.close()

    def build(self) -> int:
        """The world; the position after the teachers' spending, before the rest."""
        campaign = helpers.open_campaign(self.vouchers, teachers=3)
        teachers = ("t1", "t2", "t3")
        self.vouchers.grant_credits(
            campaign,
            teachers,
            grant_key="g",
            by="op",
            now=helpers.START,
            territories=helpers.in_paris(teachers),
        )
        holds = []
        for n, (teacher, cents) in enumerate((("t1", 1990), ("t2", 2500), ("t2", 1000))):
            hold = self.vouchers.execute(helpers.place(campaign, teacher, f"h{n}", cents))
            self.vouchers.execute(helpers.capture(campaign, teacher, f"c{n}", hold.hold_id, cents))
            holds.append(hold.hold_id)
        self.vouchers.execute(helpers.top_up(campaign, "t3", "u1", 2000))
        self.vouchers.execute(helpers.place(campaign, "t3", "pending", 700))
        spent = self.vouchers.recorder.max_notification_id()
        self.vouchers.execute(helpers.refund(campaign, "t2", "r1", holds[1], 500))
        resource = self.catalogue.list_resource(
            vendor_id="vendor-1",
            reference="atlas",
            title="Atlas",
            description="",
            kind=ResourceKind.DIGITAL_TEXTBOOK,
            levels=["elementaire"],
            price_cents=1990,
            by="vendor",
            now=helpers.START,
        )
        self.catalogue.grant_label(
            resource,
            Label.FRANCAIS,
            reason="conçu en France",
            decided_on=date(2027, 9, 1),
            by="committee",
            now=helpers.START,
        )
        build(self.fund_world)
        return spent


@pytest.fixture
def world(store_settings: Settings):
    world = ReportWorld(store_settings)
    try:
        world.spent = world.build()
        yield world
    finally:
        world.close()


def log_counts(app: VoucherLedger) -> dict[str, Any]:
    """The report's figures counted straight from the events, with no read model."""
    events, cursor = [], 0
    while page := app.recorder.select_notifications(cursor, 500, inclusive_of_start=False):
        events += [app.mapper.to_domain_event(n) for n in page]
        cursor = page[-1].id
    devices: dict[Any, Any] = {}
    for event in events:
        if type(event).__qualname__.startswith("Device."):
            devices[event.originator_id] = event.mutate(devices.get(event.originator_id))
    captured = [e for e in events if isinstance(e, CreditAccount.HoldCaptured)]
    spends = Counter()
    for e in events:
        if isinstance(e, CoFinancing.Spent):
            spends[e.purpose.value] += e.amount_cents
    return {
        "teachers_who_spent": len({e.originator_id for e in captured}),
        "purchases_cents": sum(e.amount_cents for e in captured)
        - sum(e.amount_cents for e in events if isinstance(e, CreditAccount.Refunded)),
        "stages": Counter(d.stage.value for d in devices.values()),
        "paid_in_cents": sum(
            e.amount_cents for e in events if isinstance(e, OperatorLevy.PaymentReceived)
        ),
        "paid_out_cents": sum(
            e.amount_cents for e in events if isinstance(e, HouseholdSubsidy.Paid)
        ),
        "cofinancing_paid_cents": sum(
            e.amount_cents for e in events if isinstance(e, CoFinancing.PaymentReceived)
        ),
        "cofinancing_spends": dict(spends),
    }


def test_the_figures_equal_counts_taken_from_the_log_and_the_books_reconcile(world):
    report = make_report(world.vouchers, KEY, NOW)
    counts = log_counts(world.vouchers)
    indicators = report["indicators"]
    assert indicators["teachers_who_spent"] == counts["teachers_who_spent"] == 2
    assert indicators["purchases_cents"] == counts["purchases_cents"] == 1990 + 3500 - 500
    assert indicators["french_edtechs_listed"] == 1
    stages = {s["stage"]: s["devices_now"] for s in report["devices"]["stages"]}
    assert {k: v for k, v in stages.items() if v} == counts["stages"] == {"delivered": 2}
    reached = {s["stage"]: s["devices_reached"] for s in report["devices"]["stages"]}
    assert reached["pledged"] == reached["refurbished"] == 2 and reached["scrapped"] == 0
    fund = report["fund"]
    assert (fund["paid_in_cents"], fund["paid_out_cents"]) == (
        counts["paid_in_cents"],
        counts["paid_out_cents"],
    )
    assert fund["balance_cents"] == fund["paid_in_cents"] - fund["paid_out_cents"]
    assert fund["months"][-1]["closing_balance_cents"] == fund["balance_cents"]
    cofinanced = [t["cofinancing"] for t in report["territories"] if t["cofinancing"]]
    assert sum(c["paid_cents"] for c in cofinanced) == counts["cofinancing_paid_cents"]
    on_devices = sum(c["spent_devices_cents"] for c in cofinanced)
    on_subsidies = sum(c["spent_subsidies_cents"] for c in cofinanced)
    assert {"devices": on_devices, "subsidies": on_subsidies} == counts["cofinancing_spends"]
    assert [t["code"] for t in report["territories"]] == ["lyon", "reunion"]
    assert [t["refurbishment_cents"] for t in report["territories"]] == [4500, 4500]

    lines = report["reconciliation"]
    assert all(line["ok"] and line["difference_cents"] == 0 for line in lines), lines
    named = {line["name"]: line for line in lines}
    assert named["teachers' held credit"]["journal_cents"] == 700  # the pending hold
    assert named["levies paid in"]["journal_cents"] == counts["paid_in_cents"]
    assert named["internet fund"]["other_cents"] == fund["balance_cents"]
    assert report["sha256"] == report_digest(report)
    assert check_report(world.vouchers, report, OPERATOR) == report["as_of"]["position"]


def test_a_tampered_read_model_row_shows_as_a_difference(world):
    position = world.vouchers.recorder.max_notification_id()
    engine, fold = replay_for_report(world.vouchers, position)
    with engine.begin() as conn:
        fund_row = balances.c.kind == "internet_fund"
        conn.execute(
            update(balances).where(fund_row).values(balance_cents=balances.c.balance_cents + 7)
        )
    journal = {k.kind: k.balance_cents for k in Balances(engine).by_kind()}
    lines = {line.name: line for line in reconcile(journal, fold)}
    assert (
        lines["internet fund"].difference_cents == 7 and not lines["internet fund"].as_dict()["ok"]
    )
    assert lines["trial balance"].difference_cents == 7
    assert lines["territory budgets"].difference_cents == 0
    engine.dispose()


def test_a_report_as_of_an_earlier_position_differs_and_checks(world):
    now = make_report(world.vouchers, KEY, NOW)
    then = make_report(world.vouchers, KEY, NOW, position=world.spent)
    assert then["as_of"]["position"] == world.spent < now["as_of"]["position"]
    assert then["indicators"]["purchases_cents"] == 1990 + 3500  # before the refund
    assert then["fund"]["paid_in_cents"] == 0 and now["fund"]["paid_in_cents"] > 0
    assert then["checkpoint"]["root"] != now["checkpoint"]["root"]
    assert check_report(world.vouchers, then, OPERATOR) == world.spent
    by_moment = make_report(world.vouchers, KEY, NOW, at=helpers.DURING)
    assert by_moment["as_of"]["at"] == "2027-09-11T00:00:00Z"
    assert check_report(world.vouchers, by_moment, OPERATOR) == by_moment["as_of"]["position"]


def resealed(report: dict[str, Any]) -> dict[str, Any]:
    return {**report, "sha256": report_digest(report)}


def refused(app: VoucherLedger, report: dict[str, Any]) -> str:
    with pytest.raises(ReportMismatch) as error:
        check_report(app, report, OPERATOR)
    return error.value.details["field"]


def test_check_refuses_edits_forged_signatures_and_checkpoints_of_another_position(world):
    app = world.vouchers
    report = make_report(app, KEY, NOW)
    edited = {**report, "indicators": {**report["indicators"], "purchases_cents": 1}}
    assert refused(app, edited) == "sha256"
    assert refused(app, resealed(edited)) == "indicators.purchases_cents"
    line = {**report["reconciliation"][0], "ok": False}
    assert refused(app, resealed({**report, "reconciliation": [line]})) == "reconciliation[0].ok"

    checkpoint = report["checkpoint"]
    foreign = Ed25519PrivateKey.generate()
    body = Checkpoint.from_dict({k: checkpoint[k] for k in FIELDS})
    forged = {**checkpoint, "signature": b64encode(sign(body, foreign))}
    assert refused(app, resealed({**report, "checkpoint": forged})) == "checkpoint.signature"
    retimed = {**checkpoint, "issued_at": "2030-01-01T00:00:00Z"}
    assert refused(app, resealed({**report, "checkpoint": retimed})) == "checkpoint.signature"

    earlier = make_report(app, KEY, NOW, position=world.spent)["checkpoint"]
    moved = resealed({**report, "checkpoint": earlier})  # genuine, but of another position
    assert refused(app, moved) == "as_of.position"
    pinned = resealed({**report, "checkpoint": {**earlier, "position": checkpoint["position"]}})
    assert refused(app, pinned) == "checkpoint.log_size"
