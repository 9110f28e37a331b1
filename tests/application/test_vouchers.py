"""The voucher ledger application on the in-memory store: campaigns, grants, commands, year end."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest

from ledger.commands import ExpireHolds
from ledger.errors import (
    BudgetExceeded,
    CampaignStillRunning,
    CreditAccountNotFound,
    IdempotencyKeyReused,
    InsufficientCredit,
)
from ledger.grants import GrantReport
from ledger.ids import campaign_id, credit_account_id, derived_id
from ledger.settings import Settings
from ledger.vouchers import AccountView, VoucherLedger
from tests.helpers import (
    AFTER,
    END,
    FACE_VALUE_CENTS,
    FUNDERS,
    START,
    capture,
    in_paris,
    open_campaign,
    place,
    refund,
    release,
    top_up,
)

SECOND = timedelta(seconds=1)


@pytest.fixture
def app(memory_settings: Settings) -> VoucherLedger:
    return VoucherLedger(memory_settings)


def teachers(first: int, last: int) -> list[str]:
    return [f"teacher-{n:04d}" for n in range(first, last)]


def grant(app: VoucherLedger, campaign, teacher_ids: list[str], key: str) -> GrantReport:
    return app.grant_credits(
        campaign,
        teacher_ids,
        grant_key=key,
        by="operator",
        now=START,
        territories=in_paris(teacher_ids),
    )


def versions(app: VoucherLedger, campaign, teacher_ids: list[str]) -> list[int]:
    return [app.account_view(campaign, t).version for t in teacher_ids]


# Campaigns -------------------------------------------------------------------------------


def test_opening_a_campaign_again_with_the_same_key_and_terms_answers_the_same_id(app):
    first = open_campaign(app)
    assert open_campaign(app) == first == campaign_id("rentree-2027")
    assert app.get_campaign(first).version == 1


def test_opening_a_campaign_again_with_other_terms_is_refused(app):
    first = open_campaign(app, teachers=100)
    with pytest.raises(IdempotencyKeyReused):
        open_campaign(app, teachers=200)
    campaign = app.get_campaign(first)
    assert (campaign.version, campaign.budget_cents) == (1, FACE_VALUE_CENTS * 100)


def test_the_same_terms_written_as_lists_answer_the_same_id(app):
    first = open_campaign(app)
    again = app.open_campaign(
        campaign_key="rentree-2027",
        name="Rentrée 2027",
        face_value_cents=FACE_VALUE_CENTS,
        valid_from=START,
        valid_until=END,
        budget_cents=FACE_VALUE_CENTS * 100,
        funders=[list(f) for f in FUNDERS],
        by="operator",
        now=START,
    )
    assert again == first


# Grants ----------------------------------------------------------------------------------


def test_credits_are_granted_in_chunks_and_duplicates_in_the_list_once(app):
    campaign = open_campaign(app, teachers=200)
    listed = teachers(0, 120) + teachers(10, 20) + teachers(0, 1)
    assert grant(app, campaign, listed, "g1") == GrantReport(120, 0, 3)  # chunks of 50
    assert list(app.campaign_teachers(campaign)) == teachers(0, 120)
    assert app.get_campaign(campaign).granted_cents == 120 * FACE_VALUE_CENTS
    view = app.account_view(campaign, "teacher-0119")
    assert (view.granted_cents, view.available_cents) == (FACE_VALUE_CENTS, FACE_VALUE_CENTS)


def test_a_retried_grant_grants_nothing_new(app):
    campaign = open_campaign(app, teachers=200)
    grant(app, campaign, teachers(0, 120), "g1")
    before = app.get_campaign(campaign).version
    assert grant(app, campaign, teachers(0, 120), "g1") == GrantReport(0, 0, 0)
    assert app.get_campaign(campaign).version == before
    assert app.get_campaign(campaign).teachers_granted == 120


def test_a_grant_interrupted_after_its_first_chunk_is_finished_by_running_it_again(
    app, monkeypatch
):
    campaign = open_campaign(app, teachers=200)
    real_record, saves = app.record_events, []

    def die_on_second_chunk(events):
        saves.append(events)
        if len(saves) == 2:
            raise ConnectionError("the process died here")
        real_record(events)

    monkeypatch.setattr(app, "record_events", die_on_second_chunk)
    with pytest.raises(ConnectionError):
        grant(app, campaign, teachers(0, 120), "g1")
    monkeypatch.setattr(app, "record_events", real_record)
    assert app.get_campaign(campaign).teachers_granted == 50
    assert grant(app, campaign, teachers(0, 120), "g1") == GrantReport(70, 0, 2)
    assert app.get_campaign(campaign).teachers_granted == 120


def test_a_second_grant_skips_the_teachers_already_granted(app):
    campaign = open_campaign(app, teachers=200)
    grant(app, campaign, teachers(0, 60), "g1")
    assert grant(app, campaign, teachers(50, 80), "g2") == GrantReport(20, 10, 1)
    assert app.get_campaign(campaign).teachers_granted == 80
    assert app.get_campaign(campaign).granted_cents == 80 * FACE_VALUE_CENTS
    assert versions(app, campaign, teachers(50, 60)) == [1] * 10


def test_a_grant_beyond_the_budget_is_refused_with_nothing_changed(app):
    campaign = open_campaign(app, teachers=100)
    grant(app, campaign, teachers(0, 60), "g1")
    before = app.get_campaign(campaign).version
    with pytest.raises(BudgetExceeded):
        grant(app, campaign, teachers(60, 101), "g2")
    assert app.get_campaign(campaign).version == before
    assert not app.has_account(campaign, "teacher-0060")
    assert list(app.campaign_teachers(campaign)) == teachers(0, 60)


def test_a_grant_is_checked_against_the_budget_of_its_new_teachers_only(app):
    campaign = open_campaign(app, teachers=100)
    grant(app, campaign, teachers(0, 80), "g1")  # 20 teachers' budget left
    assert grant(app, campaign, teachers(0, 90), "g2") == GrantReport(10, 80, 2)


def test_reusing_a_grant_key_for_a_longer_list_is_refused(app):
    campaign = open_campaign(app, teachers=200)
    grant(app, campaign, teachers(0, 50), "g1")
    with contextlib.suppress(IdempotencyKeyReused):
        grant(app, campaign, teachers(0, 80), "g1")
    assert app.get_campaign(campaign).teachers_granted == 50
    assert not app.has_account(campaign, "teacher-0050")


def test_reusing_a_grant_key_for_another_list_is_refused(app):
    campaign = open_campaign(app, teachers=200)
    grant(app, campaign, teachers(0, 60), "g1")
    with pytest.raises(IdempotencyKeyReused):
        grant(app, campaign, [*teachers(0, 59), "someone-else"], "g1")
    assert app.get_campaign(campaign).teachers_granted == 60


# Commands --------------------------------------------------------------------------------


def test_each_command_is_executed_and_saved(app):
    campaign = open_campaign(app)
    grant(app, campaign, ["t1"], "g1")
    held = app.execute(place(campaign, "t1", "h1", 3000))
    app.execute(capture(campaign, "t1", "c1", held.hold_id, 2000))
    app.execute(refund(campaign, "t1", "f1", held.hold_id, 500))
    other = app.execute(place(campaign, "t1", "h2", 400))
    app.execute(release(campaign, "t1", "r2", other.hold_id))
    app.execute(top_up(campaign, "t1", "u1", 2200))
    app.execute(place(campaign, "t1", "h3", 100, ttl_s=60))
    app.execute(ExpireHolds(campaign_id=campaign, teacher_id="t1", by="sweeper", now=END))
    assert app.account_view(campaign, "t1") == AccountView(
        account_id=credit_account_id(campaign, "t1"),
        campaign_id=campaign,
        teacher_id="t1",
        granted_cents=7800,
        topped_up_cents=2200,
        available_cents=7800 + 2200 - 1500,
        held_cents=0,
        captured_cents=1500,
        returned_cents=0,
        is_expired=False,
        pending_holds=0,
        version=9,  # granted, then eight events: one per command and one expiry
    )


def test_a_refused_command_changes_nothing(app):
    campaign = open_campaign(app)
    grant(app, campaign, ["t1"], "g1")
    before = app.account_view(campaign, "t1")
    with pytest.raises(InsufficientCredit):
        app.execute(place(campaign, "t1", "h1", FACE_VALUE_CENTS + 1))
    assert app.account_view(campaign, "t1") == before


def test_a_retried_command_records_nothing_new(app):
    campaign = open_campaign(app)
    grant(app, campaign, ["t1"], "g1")
    first = app.execute(place(campaign, "t1", "h1", 3000))
    before = app.account_view(campaign, "t1")
    assert app.execute(place(campaign, "t1", "h1", 3000)) == first
    assert app.account_view(campaign, "t1") == before
    with pytest.raises(IdempotencyKeyReused):
        app.execute(place(campaign, "t1", "h1", 3001))
    assert app.account_view(campaign, "t1") == before


def test_a_command_for_a_teacher_never_granted_is_refused(app):
    campaign = open_campaign(app)
    with pytest.raises(CreditAccountNotFound):
        app.execute(place(campaign, "nobody", "h1", 100))


# Year end --------------------------------------------------------------------------------


def spend_and_top_up(app: VoucherLedger) -> object:
    campaign = open_campaign(app, teachers=100)
    grant(app, campaign, teachers(0, 60), "g1")
    held = app.execute(place(campaign, "teacher-0000", "h1", 3000))
    app.execute(capture(campaign, "teacher-0000", "c1", held.hold_id, 3000))
    app.execute(place(campaign, "teacher-0001", "h2", 1000))  # pending at the end
    app.execute(top_up(campaign, "teacher-0002", "u1", 2200))
    return campaign


def test_year_end_expiry_is_refused_while_the_campaign_runs(app):
    campaign = spend_and_top_up(app)
    before = versions(app, campaign, teachers(0, 60))
    with pytest.raises(CampaignStillRunning):
        app.run_year_end_expiry(campaign, by="operator", now=END - SECOND)
    assert app.get_campaign(campaign).is_open
    assert versions(app, campaign, teachers(0, 60)) == before


def test_year_end_expiry_returns_what_is_left_and_closes_the_campaign(app):
    campaign = spend_and_top_up(app)
    returned = app.run_year_end_expiry(campaign, by="operator", now=AFTER)
    assert returned == 60 * FACE_VALUE_CENTS + 2200 - 3000
    closed = app.get_campaign(campaign)
    assert not closed.is_open
    assert closed.returned == {"etat": 40 * 5460, "region-idf": 40 * 2340}  # never granted
    views = [app.account_view(campaign, t) for t in teachers(0, 60)]
    assert all(v.is_expired and v.available_cents == 0 and v.held_cents == 0 for v in views)
    assert sum(v.returned_cents for v in views) == returned


def test_a_second_year_end_run_changes_nothing(app):
    campaign = spend_and_top_up(app)
    app.run_year_end_expiry(campaign, by="operator", now=AFTER)
    before = [app.account_view(campaign, t) for t in teachers(0, 60)]
    closed = app.get_campaign(campaign).version
    app.run_year_end_expiry(campaign, by="operator", now=AFTER + SECOND)
    assert [app.account_view(campaign, t) for t in teachers(0, 60)] == before
    assert app.get_campaign(campaign).version == closed


def test_a_second_year_end_run_returns_nothing_more(app):
    campaign = spend_and_top_up(app)
    app.run_year_end_expiry(campaign, by="operator", now=AFTER)
    assert app.run_year_end_expiry(campaign, by="operator", now=AFTER) == 0


def test_a_refund_after_the_year_end_goes_back_to_the_funders(app):
    campaign = spend_and_top_up(app)
    app.run_year_end_expiry(campaign, by="operator", now=AFTER)
    account_id = credit_account_id(campaign, "teacher-0000")
    hold_id = derived_id(account_id, "place_hold", "h1")
    app.execute(refund(campaign, "teacher-0000", "f1", hold_id, 1000, now=AFTER))
    view = app.account_view(campaign, "teacher-0000")
    assert (view.available_cents, view.captured_cents) == (0, 2000)
    assert view.returned_cents == FACE_VALUE_CENTS - 3000 + 1000
    (event,) = [e for e in app.events.get(account_id) if hasattr(e, "refund_id")]
    assert event.returned == (("etat", 700), ("region-idf", 300))
