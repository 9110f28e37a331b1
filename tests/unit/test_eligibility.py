"""Eligibility rules: listed or labelled resources only, caps per kind, and the evidence kept."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.eligibility import (
    EligibilityRule,
    Label,
    RedemptionEvidence,
    ResourceKind,
    ResourceNotEligible,
)
from ledger.errors import InvalidAmount, InvalidInput
from tests.unit.test_catalogue import DAY, FRANCAIS, RIP, T0, grant, listed

LICENCE = ResourceKind.SOFTWARE_LICENCE
TRAINING = ResourceKind.TRAINING
NOTHING_SPENT: dict[ResourceKind, int] = {}


def refusal(rule: EligibilityRule, resource, moment, spent=NOTHING_SPENT, amount=2500):
    with pytest.raises(ResourceNotEligible) as caught:
        rule.check(resource, moment, spent, amount)
    assert caught.value.code == "resource_not_eligible"
    return caught.value


def test_any_listed_resource_is_eligible_and_the_check_answers_its_evidence():
    resource = listed()
    evidence = EligibilityRule.any_listed().check(resource, T0 + DAY, NOTHING_SPENT, 2500)
    assert evidence == RedemptionEvidence(resource.id, 1, LICENCE, 2500, ())


def test_a_resource_not_yet_listed_or_withdrawn_at_that_moment_is_not_eligible():
    resource = listed()
    resource.withdraw(reason="fin", by="v", now=T0 + DAY)
    rule = EligibilityRule.any_listed()
    assert refusal(rule, resource, T0 - DAY).details["reason"] == "not_listed"
    assert refusal(rule, resource, T0 + DAY).details["reason"] == "not_listed"
    assert rule.check(resource, T0 + DAY - timedelta(seconds=1), NOTHING_SPENT, 2500)


def test_a_labelled_rule_requires_every_one_of_its_labels_at_that_moment():
    resource = listed()
    grant(resource, RIP, now=T0 + DAY)
    rule = EligibilityRule.labelled([FRANCAIS, RIP])
    error = refusal(rule, resource, T0 + DAY)
    assert error.details["reason"] == "missing_labels"
    assert error.details["missing_labels"] == ("francais",)
    assert "« Français »" in error.message
    grant(resource, FRANCAIS, now=T0 + 2 * DAY)
    evidence = rule.check(resource, T0 + 2 * DAY, NOTHING_SPENT, 2500)
    assert evidence.labels == (RIP, FRANCAIS)


def test_a_label_withdrawn_before_the_moment_no_longer_counts_but_did_before():
    resource = listed()
    grant(resource, FRANCAIS, now=T0 + DAY)
    resource.withdraw_label(FRANCAIS, reason="x", decided_on=T0.date(), by="cs", now=T0 + 3 * DAY)
    rule = EligibilityRule.labelled(["francais"])
    assert rule.check(resource, T0 + 2 * DAY, NOTHING_SPENT, 2500).labels == (FRANCAIS,)
    assert refusal(rule, resource, T0 + 3 * DAY).details["reason"] == "missing_labels"


def test_spending_up_to_the_cap_of_a_kind_is_allowed_and_beyond_it_is_refused():
    resource = listed()
    rule = EligibilityRule.any_listed({LICENCE: 5000})
    assert rule.check(resource, T0, {LICENCE: 2500}, 2500)
    error = refusal(rule, resource, T0, spent={LICENCE: 2501})
    assert error.details == {
        "reason": "over_kind_cap",
        "resource_id": str(resource.id),
        "kind": "software_licence",
        "cap_cents": 5000,
        "spent_cents": 2501,
    }


def test_a_cap_on_another_kind_does_not_limit_this_one():
    resource = listed()
    rule = EligibilityRule.any_listed({TRAINING: 100})
    assert rule.check(resource, T0, {TRAINING: 100, LICENCE: 10**9}, 2500)
    assert rule.cap_cents(LICENCE) is None and rule.cap_cents(TRAINING) == 100


@pytest.mark.parametrize("amount", [0, -1, 25.0, None])
def test_a_redemption_of_no_positive_whole_amount_is_refused(amount):
    with pytest.raises(InvalidAmount):
        EligibilityRule.any_listed().check(listed(), T0, NOTHING_SPENT, amount)


def test_rules_have_one_canonical_form_whatever_order_and_spelling_they_come_in():
    first = EligibilityRule.labelled(["francais", RIP, FRANCAIS], {"training": 100, LICENCE: 500})
    second = EligibilityRule(
        (Label.RECONNU_INTERET_PEDAGOGIQUE, Label.FRANCAIS), ((LICENCE, 500), (TRAINING, 100))
    )
    assert first == second and hash(first) == hash(second)
    assert first.kind_caps_cents == ((LICENCE, 500), (TRAINING, 100))


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (lambda: EligibilityRule.labelled([]), InvalidInput),
        (lambda: EligibilityRule.labelled("francais"), InvalidInput),
        (lambda: EligibilityRule.labelled(["bio"]), InvalidInput),
        (lambda: EligibilityRule.any_listed({"hardware": 100}), InvalidInput),
        (lambda: EligibilityRule.any_listed({LICENCE: 0}), InvalidAmount),
        (lambda: EligibilityRule.any_listed({LICENCE: 10.5}), InvalidAmount),
        (lambda: EligibilityRule((), ((LICENCE, 1), ("software_licence", 2))), InvalidInput),
        (lambda: EligibilityRule((), (LICENCE,)), InvalidInput),
    ],
)
def test_a_rule_with_bad_labels_or_caps_is_refused(build, error):
    with pytest.raises(error):
        build()


def test_the_evidence_records_the_revision_and_price_of_that_moment_not_of_today():
    resource = listed()
    resource.update(price_cents=3000, by="v", now=T0 + DAY)
    evidence = EligibilityRule.any_listed().check(resource, T0 + DAY / 2, NOTHING_SPENT, 2500)
    assert (evidence.revision, evidence.price_cents) == (1, 2500)
    assert resource.revision == 2
