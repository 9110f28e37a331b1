"""One suite, run on SQLite and on PostgreSQL: storage, idempotency, projection tracking."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from eventsourcing.persistence import IntegrityError

import migrations
from api.bootstrap import HEAD_REVISION, check_schema
from ledger import accounts
from ledger.credits import CreditAccount
from ledger.errors import IdempotencyKeyReused, SchemaNotMigrated
from ledger.settings import Settings
from ledger.vouchers import VoucherLedger
from projections.balances import Balances, BalancesProjection
from projections.engine import create_read_engine
from projections.runner import ProjectionRunner
from projections.schema import projection_positions
from tests import helpers


def all_events(app: VoucherLedger) -> list:
    return [
        app.mapper.to_domain_event(n)
        for n in app.recorder.select_notifications(start=None, limit=1_000_000)
    ]


def log_size(app: VoucherLedger) -> int:
    return len(app.recorder.select_notifications(start=None, limit=1_000_000))


def money_events(app: VoucherLedger) -> int:
    return sum(1 for e in all_events(app) if isinstance(e, accounts.MONEY_EVENT_TYPES))


@pytest.fixture
def app(store_settings: Settings):
    ledger = VoucherLedger(store_settings)
    yield ledger
    ledger.close()


@pytest.fixture
def engine(store_settings: Settings):
    engine = create_read_engine(store_settings)
    yield engine
    engine.dispose()


@pytest.fixture
def granted(app: VoucherLedger):
    campaign_id = helpers.open_campaign(app)
    teachers = [f"t{n}" for n in range(60)]
    app.grant_credits(
        campaign_id,
        teachers,
        grant_key="g",
        by="operator",
        now=helpers.START,
        territories=helpers.in_paris(teachers),
    )
    return campaign_id


def test_events_round_trip_through_the_store_and_replay_equals_live(app, granted):
    hold = app.execute(helpers.place(granted, "t1", "h", 1234))
    app.execute(helpers.capture(granted, "t1", "c", hold.hold_id, 1000))
    live = app.get_account(app.account_view(granted, "t1").account_id)
    fresh = VoucherLedger(app.settings)
    try:
        replayed = fresh.get_account(live.id)
    finally:
        fresh.close()
    assert vars(replayed) == vars(live)
    assert replayed.captured_cents == 1000 and replayed.available_cents == 7800 - 1000


def test_a_retry_from_another_process_answers_as_the_first_and_records_nothing(app, granted):
    first = app.execute(helpers.place(granted, "t2", "same-key", 500))
    size = log_size(app)
    other = VoucherLedger(app.settings)  # as if the client retried against another worker
    try:
        again = other.execute(helpers.place(granted, "t2", "same-key", 500))
        with pytest.raises(IdempotencyKeyReused):
            other.execute(helpers.place(granted, "t2", "same-key", 501))
    finally:
        other.close()
    assert again == first
    assert log_size(app) == size


def test_the_store_itself_refuses_a_duplicate_after_an_unknown_commit_outcome(app, granted):
    """Two attempts built from the same state: the second hits the primary key."""
    command = helpers.place(granted, "t3", "ambiguous", 700)
    account_a = app.get_account(command.account_id)
    account_b = app.get_account(command.account_id)
    command.apply_to(account_a)
    command.apply_to(account_b)
    app.record(account_a)
    with pytest.raises(IntegrityError):
        app.record(account_b)
    assert app.execute(command).amount_cents == 700  # and the retry answers as the first
    assert app.account_view(granted, "t3").held_cents == 700


def test_an_interrupted_bulk_grant_finishes_when_run_again(app, monkeypatch):
    campaign_id = helpers.open_campaign(app, teachers=130)
    teachers = [f"t{n}" for n in range(130)]
    real_record, calls = app.record_events, []

    def crash_after_first_chunk(events):
        calls.append(len(events))
        if len(calls) == 2:
            raise ConnectionError("the process died here")
        return real_record(events)

    monkeypatch.setattr(app, "record_events", crash_after_first_chunk)
    with pytest.raises(ConnectionError):
        app.grant_credits(campaign_id, teachers, grant_key="bulk", by="op", now=helpers.START)
    monkeypatch.setattr(app, "record_events", real_record)
    report = app.grant_credits(campaign_id, teachers, grant_key="bulk", by="op", now=helpers.START)
    assert report.granted == 80  # chunks of 50: the first 50 were saved before the crash
    campaign = app.get_campaign(campaign_id)
    assert campaign.teachers_granted == 130
    assert sum(1 for e in all_events(app) if isinstance(e, CreditAccount.Granted)) == 130


def test_the_projection_equals_a_fold_of_the_log_and_applies_each_event_once(app, engine, granted):
    hold = app.execute(helpers.place(granted, "t4", "h", 2000))
    app.execute(helpers.capture(granted, "t4", "c", hold.hold_id, 1500))
    app.execute(helpers.top_up(granted, "t5", "u", 900))
    runner = ProjectionRunner(app, engine, BalancesProjection(), page_size=7)
    applied = runner.catch_up()
    assert runner.run_once() == 0
    assert runner.catch_up() == 0
    balances = Balances(engine)
    folded = {k: v for k, v in accounts.fold(all_events(app)).items() if v}
    assert balances.all() == folded
    assert balances.trial_balance() == 0
    assert balances.balance("vendor_payable:vendor-1") == 1500
    assert applied == money_events(app) < log_size(app)  # grant chunks move no money


def test_two_runners_at_once_still_apply_each_event_exactly_once(app, engine, granted):
    for n in range(20):
        app.execute(helpers.place(granted, f"t{n}", "h", 100 + n))
    runners = [ProjectionRunner(app, engine, BalancesProjection(), page_size=5) for _ in range(2)]
    threads = [threading.Thread(target=r.catch_up) for r in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    folded = {k: v for k, v in accounts.fold(all_events(app)).items() if v}
    assert Balances(engine).all() == folded
    with engine.connect() as conn:
        applied = conn.execute(projection_positions.select()).one().events_applied
    assert applied == money_events(app)


def test_the_projection_follows_new_events_until_stopped(app, engine, granted):
    runner = ProjectionRunner(app, engine, BalancesProjection())
    stop = threading.Event()
    follower = threading.Thread(target=runner.follow, args=(stop, 0.01))
    follower.start()
    try:
        app.execute(helpers.top_up(granted, "t6", "u", 333))
        for _ in range(500):
            if Balances(engine).balance("funder:commune-75056") == -333:
                break
            stop.wait(0.01)
    finally:
        stop.set()
        follower.join()
    assert Balances(engine).balance("funder:commune-75056") == -333


def test_an_unmigrated_database_is_refused_with_a_clear_error(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(SchemaNotMigrated, match="tirelire migrate"):
        check_schema(settings)


def test_migrating_twice_changes_nothing(store_settings):
    url = store_settings.store.sqlalchemy_url()
    migrations.upgrade(url)
    migrations.upgrade(url)
    assert migrations.current_revision(url) == HEAD_REVISION
    check_schema(store_settings)


def test_time_is_recorded_from_the_command_not_read_from_a_clock(app, granted):
    moment = datetime(2027, 10, 3, 8, 30, tzinfo=UTC)
    app.execute(helpers.place(granted, "t7", "h", 100, now=moment))
    placed = [e for e in all_events(app) if isinstance(e, CreditAccount.HoldPlaced)]
    assert placed[-1].placed_at == moment == placed[-1].timestamp


def test_the_projection_is_right_across_gaps_in_notification_ids(app, engine, granted):
    """PostgreSQL leaves gaps in notification ids after a rolled-back insert."""
    command = helpers.place(granted, "t8", "gap", 400)
    first, second = (app.get_account(command.account_id) for _ in range(2))
    command.apply_to(first)
    command.apply_to(second)
    app.record(first)
    with pytest.raises(IntegrityError):
        app.record(second)  # rolled back: its ids are lost on PostgreSQL
    app.execute(helpers.top_up(granted, "t8", "after-gap", 250))
    ids = [n.id for n in app.recorder.select_notifications(start=None, limit=1_000_000)]
    assert ids == sorted(ids)
    if app.settings.store.kind == "postgresql":
        assert ids[-1] - ids[-2] > 1, "expected a gap after the rollback"
    ProjectionRunner(app, engine, BalancesProjection()).catch_up()
    folded = {k: v for k, v in accounts.fold(all_events(app)).items() if v}
    assert Balances(engine).all() == folded


def test_every_context_writes_to_the_one_log(store_settings):
    """Vouchers, vendors and the catalogue share `ledger_events`, in one notification order."""
    from ledger.catalogue_app import Catalogue
    from ledger.vendor_directory import VendorDirectory

    apps = [
        VoucherLedger(store_settings),
        VendorDirectory(store_settings),
        Catalogue(store_settings),
    ]
    try:
        assert {type(a).name for a in apps} == {"Ledger"}
        helpers.open_campaign(apps[0])
        apps[1].apply_vendor(
            legal_name="Les Petits Savants SAS",
            siren="732829320",
            siret="73282932000074",
            contact_ref="contact-1",
            iban="FR7630006000011234567890189",
            by="vendor",
            now=helpers.START,
        )
        topics = [n.topic for n in apps[2].recorder.select_notifications(start=None, limit=10)]
        assert [t.rsplit(".", 1)[-1] for t in topics] == ["Opened", "Applied"]
    finally:
        for app in apps:
            app.close()


def test_a_labelled_redemption_round_trips_through_the_store(store_settings):
    from datetime import date

    from ledger.catalogue_app import Catalogue
    from ledger.eligibility import EligibilityRule, Label, ResourceKind
    from ledger.redemptions import Redemptions
    from ledger.vendor_directory import VendorDirectory

    vouchers, vendors, catalogue = (
        VoucherLedger(store_settings),
        VendorDirectory(store_settings),
        Catalogue(store_settings),
    )
    try:
        campaign = helpers.open_campaign(vouchers)
        vouchers.grant_credits(campaign, ["t1"], grant_key="g", by="op", now=helpers.START)
        vouchers.set_eligibility(
            campaign, EligibilityRule.labelled([Label.FRANCAIS]), by="operator", now=helpers.START
        )
        vendor = vendors.apply_vendor(
            legal_name="Les Petits Savants",
            siren="732829320",
            siret="73282932000074",
            contact_ref="c-1",
            iban="FR7630006000011234567890189",
            by="v",
            now=helpers.START,
        )
        vendors.approve(vendor, by="operator", now=helpers.START)
        resource = catalogue.list_resource(
            vendor_id=str(vendor),
            reference="lecture",
            title="Lecture CP",
            description="Albums",
            kind=ResourceKind.DIGITAL_TEXTBOOK,
            levels=["elementaire"],
            price_cents=1990,
            by="v",
            now=helpers.START,
        )
        catalogue.grant_label(
            resource,
            Label.FRANCAIS,
            reason="conforme",
            decided_on=date(2027, 9, 1),
            by="committee",
            now=helpers.START,
        )
        receipt = Redemptions(vouchers, vendors, catalogue).redeem(
            campaign_id=campaign,
            teacher_id="t1",
            key="r",
            resource_id=resource,
            order_ref="o-1",
            by="t1",
            now=helpers.DURING,
        )
        placed = [e for e in all_events(vouchers) if isinstance(e, CreditAccount.HoldPlaced)]
        assert placed[-1].resource_labels == (Label.FRANCAIS,)
        assert placed[-1].resource_kind is ResourceKind.DIGITAL_TEXTBOOK
        assert vouchers.get_campaign(campaign).eligibility.required_labels == (Label.FRANCAIS,)
        assert receipt.amount_cents == 1990
    finally:
        for app in (vouchers, vendors, catalogue):
            app.close()


def test_a_migrated_sqlite_file_is_in_wal_mode_for_every_later_connection(sqlite_url):
    import sqlite3

    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
