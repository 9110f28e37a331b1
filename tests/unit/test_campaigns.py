"""The campaign aggregate: budget split per funder, grants checked per funder, closing."""

from __future__ import annotations

from datetime import datetime

import pytest

from ledger.campaigns import MAX_FUNDERS, Campaign
from ledger.errors import (
    BudgetExceeded,
    CampaignNotOpen,
    IdempotencyKeyReused,
    InvalidAmount,
    InvalidFunders,
    InvalidIdentifier,
    InvalidInput,
    InvalidPeriod,
)
from ledger.ids import campaign_id
from tests.helpers import DURING, END, FACE_VALUE_CENTS, FUNDERS, START

FUNDERS_1_1_1 = (("a", 1), ("b", 1), ("c", 1))
NAIVE_START = START.replace(tzinfo=None)


def open_campaign(
    *,
    teachers: int = 100,
    budget_cents: int | None = None,
    face_value_cents: int = FACE_VALUE_CENTS,
    funders: tuple[tuple[str, int], ...] = FUNDERS,
    **terms: object,
) -> Campaign:
    arguments: dict[str, object] = {
        "campaign_id": campaign_id("rentree-2027"),
        "campaign_key": "rentree-2027",
        "name": "Rentrée 2027",
        "face_value_cents": face_value_cents,
        "valid_from": START,
        "valid_until": END,
        "budget_cents": budget_cents or face_value_cents * teachers,
        "funders": funders,
        "request_digest": "digest-of-the-terms",
        "by": "operator",
        "now": START,
    }
    campaign = Campaign.open(**{**arguments, **terms})
    campaign.collect_events()
    return campaign


def grant(campaign: Campaign, teachers: int, key: str = "g#0", now: datetime = DURING) -> None:
    grant_key, chunk = key.split("#")
    campaign.record_grant(
        grant_key, f"digest-{grant_key}", 50, int(chunk), teachers, "operator", now
    )


def state(campaign: Campaign) -> tuple[object, ...]:
    return (
        campaign.version,
        campaign.is_open,
        campaign.teachers_granted,
        dict(campaign.granted_by_funder),
        dict(campaign.grants),
        set(campaign.chunks_granted),
        dict(campaign.returned),
    )


def assert_refused(campaign: Campaign, error: type[Exception], action) -> None:
    before = state(campaign)
    with pytest.raises(error):
        action()
    assert state(campaign) == before
    assert campaign.pending_events == []


def test_opening_splits_the_budget_and_the_face_value_between_funders_by_weight():
    campaign = open_campaign(teachers=100)
    assert campaign.contributions == {"etat": 546000, "region-idf": 234000}
    assert campaign.face_value_split == (("etat", 5460), ("region-idf", 2340))
    assert campaign.is_open and campaign.remaining_cents == 780000


def test_a_split_that_does_not_divide_still_adds_up_to_the_whole():
    campaign = open_campaign(face_value_cents=100, budget_cents=1000, funders=FUNDERS_1_1_1)
    # Each funder's share of every face value (34/33/33 cents), ten times over.
    assert campaign.contributions == {"a": 340, "b": 330, "c": 330}
    assert campaign.face_value_split == (("a", 34), ("b", 33), ("c", 33))


@pytest.mark.parametrize(
    ("terms", "error"),
    [
        ({"name": " "}, InvalidInput),
        ({"name": "x" * 201}, InvalidInput),
        ({"face_value_cents": 0}, InvalidAmount),
        ({"face_value_cents": 78.0}, InvalidAmount),
        ({"budget_cents": FACE_VALUE_CENTS - 1}, InvalidAmount),
        ({"valid_from": NAIVE_START}, InvalidPeriod),
        ({"valid_from": END, "valid_until": START}, InvalidPeriod),
        ({"funders": ()}, InvalidFunders),
        ({"funders": (("etat", 1), ("etat", 2))}, InvalidFunders),
        ({"funders": (("etat", 0),)}, InvalidFunders),
        ({"funders": tuple((f"f{i}", 1) for i in range(MAX_FUNDERS + 1))}, InvalidFunders),
        ({"funders": (("Ministère de l'Éducation", 1),)}, InvalidIdentifier),
    ],
)
def test_opening_with_bad_terms_is_refused(terms, error):
    with pytest.raises(error):
        open_campaign(**terms)


def test_granting_records_what_each_funder_pays():
    campaign = open_campaign(teachers=100)
    grant(campaign, 10)
    (event,) = campaign.collect_events()
    assert isinstance(event, Campaign.CreditsGranted)
    assert event.by_funder == (("etat", 54600), ("region-idf", 23400))
    assert event.amount_cents == 78000
    assert campaign.granted_by_funder == {"etat": 54600, "region-idf": 23400}
    assert campaign.teachers_granted == 10
    assert campaign.remaining_cents == 780000 - 78000


def test_granting_beyond_the_budget_is_refused():
    campaign = open_campaign(teachers=100)
    grant(campaign, 60)
    campaign.collect_events()
    assert_refused(campaign, BudgetExceeded, lambda: grant(campaign, 41, key="g#1"))
    grant(campaign, 40, key="g#1")
    assert campaign.remaining_cents == 0


def test_a_budget_of_n_face_values_covers_n_teachers_whatever_the_rounding():
    # Each teacher costs funder "a" 34 cents and "b", "c" 33: contributions follow that.
    campaign = open_campaign(face_value_cents=100, budget_cents=200, funders=FUNDERS_1_1_1)
    grant(campaign, 2)
    assert campaign.granted_by_funder == {"a": 68, "b": 66, "c": 66}
    assert campaign.remaining_cents == 0


def test_the_budget_is_checked_per_funder_not_in_total():
    # 250 cents: two whole face values (68/66/66) and 50 cents split 17/17/16. A third
    # teacher needs 34 more cents from "a", which has 17 left.
    campaign = open_campaign(face_value_cents=100, budget_cents=250, funders=FUNDERS_1_1_1)
    grant(campaign, 2)
    campaign.collect_events()
    before = state(campaign)
    with pytest.raises(BudgetExceeded) as refused:
        grant(campaign, 1, key="g#1")
    assert refused.value.details == {"funder": "a", "needed_cents": 34, "left_cents": 17}
    assert state(campaign) == before and campaign.pending_events == []


def test_granting_after_the_validity_window_is_refused():
    campaign = open_campaign()
    assert_refused(campaign, CampaignNotOpen, lambda: grant(campaign, 1, now=END))


def test_a_grant_key_seen_with_the_same_teachers_is_a_retry_with_its_first_chunk_size():
    campaign = open_campaign()
    assert campaign.chunk_size_for("g", "digest-g", default=7) == 7
    grant(campaign, 3)
    assert campaign.chunk_size_for("g", "digest-g", default=7) == 50
    assert ("g", 0) in campaign.chunks_granted and ("g", 1) not in campaign.chunks_granted


def test_a_grant_key_seen_with_other_teachers_is_refused():
    campaign = open_campaign()
    grant(campaign, 3)
    campaign.collect_events()
    assert_refused(
        campaign, IdempotencyKeyReused, lambda: campaign.chunk_size_for("g", "other", 50)
    )


def test_a_reopening_with_other_terms_is_refused():
    campaign = open_campaign()
    campaign.check_same_request("digest-of-the-terms")
    assert_refused(
        campaign, IdempotencyKeyReused, lambda: campaign.check_same_request("other-terms")
    )


def test_closing_returns_the_budget_never_granted_to_each_funder():
    campaign = open_campaign(teachers=100)
    grant(campaign, 40)
    campaign.close(by="operator", now=END)
    closed = campaign.collect_events()[-1]
    assert isinstance(closed, Campaign.Closed)
    assert closed.returned == (("etat", 546000 - 218400), ("region-idf", 234000 - 93600))
    assert not campaign.is_open
    assert campaign.remaining_cents == 0


def test_a_closed_campaign_neither_grants_nor_closes_again():
    campaign = open_campaign()
    campaign.close(by="operator", now=DURING)
    campaign.collect_events()
    assert_refused(campaign, CampaignNotOpen, lambda: grant(campaign, 1))
    assert_refused(campaign, CampaignNotOpen, lambda: campaign.close(by="operator", now=END))
