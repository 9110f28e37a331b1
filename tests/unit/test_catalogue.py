"""The resource aggregate: listing, updates and revisions, withdrawal, labels, history by moment."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from ledger.catalogue import (
    MAX_DESCRIPTION_LENGTH,
    MAX_PRICE_CENTS,
    MAX_REASON_LENGTH,
    MAX_TITLE_LENGTH,
    LabelAlreadyGranted,
    LabelNotGranted,
    Resource,
    ResourceAlreadyListed,
    ResourceChangedLater,
    ResourceNotFound,
    ResourceRevisionMismatch,
    ResourceWithdrawn,
    SchoolLevel,
    check_terms,
    resource_id,
)
from ledger.eligibility import (
    Label,
    RedemptionEvidence,
    ResourceKind,
)
from ledger.errors import InvalidAmount, InvalidIdentifier, InvalidInput, InvalidPeriod

T0 = datetime(2027, 9, 1, 9, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
FRANCAIS = Label.FRANCAIS
RIP = Label.RECONNU_INTERET_PEDAGOGIQUE

TERMS = {
    "title": "Lire avec les sons",
    "description": "Des exercices de lecture pour le cycle 2.",
    "kind": "software_licence",
    "levels": ("elementaire",),
    "price_cents": 2500,
}


def listed(now: datetime = T0, **terms: object) -> Resource:
    resource = Resource.list_resource(
        vendor_id="edtech-1",
        reference="LIRE-01",
        terms=check_terms(**{**TERMS, **terms}),
        digest="digest-of-the-terms",
        by="edtech-1",
        now=now,
    )
    resource.collect_events()
    return resource


def grant(resource: Resource, label: Label | str = FRANCAIS, now: datetime = T0 + DAY) -> None:
    resource.grant_label(label, reason="avis du comité", decided_on=now.date(), by="cs", now=now)


def state(resource: Resource) -> tuple[object, ...]:
    return (resource.version, list(resource.history))


def assert_refused(resource: Resource, error: type[Exception], action) -> None:
    before = state(resource)
    with pytest.raises(error):
        action()
    assert state(resource) == before
    assert resource.pending_events == []


# Listing ---------------------------------------------------------------------------------


def test_a_resource_id_derives_from_the_vendor_and_its_own_reference():
    assert resource_id("edtech-1", "LIRE-01") == resource_id("edtech-1", "LIRE-01")
    assert resource_id("edtech-1", "LIRE-01") != resource_id("edtech-2", "LIRE-01")
    # A separator that a vendor id cannot hold: these two pairs are different resources.
    assert resource_id("a:b", "c") != resource_id("a", "b:c")


@pytest.mark.parametrize(
    ("vendor_id", "reference"),
    [("", "LIRE-01"), ("edtech@example.fr", "LIRE-01"), ("edtech-1", "LIRE 01"), ("x", "")],
)
def test_a_bad_vendor_id_or_reference_is_refused(vendor_id, reference):
    with pytest.raises(InvalidIdentifier):
        resource_id(vendor_id, reference)


def test_listing_records_the_terms_in_one_canonical_form():
    resource = listed(kind="digital_textbook", levels=["lycee", "college", "lycee"])
    assert resource.terms.kind is ResourceKind.DIGITAL_TEXTBOOK
    assert resource.terms.levels == (SchoolLevel.COLLEGE, SchoolLevel.LYCEE)
    assert (resource.revision, resource.version, resource.current.labels) == (1, 1, ())
    assert resource.is_listed_at(T0)


@pytest.mark.parametrize(
    ("terms", "error"),
    [
        ({"title": "  "}, InvalidInput),
        ({"title": "x" * (MAX_TITLE_LENGTH + 1)}, InvalidInput),
        ({"description": "x" * (MAX_DESCRIPTION_LENGTH + 1)}, InvalidInput),
        ({"description": None}, InvalidInput),
        ({"kind": "hardware"}, InvalidInput),
        ({"levels": ()}, InvalidInput),
        ({"levels": "college"}, InvalidInput),
        ({"levels": ("cp",)}, InvalidInput),
        ({"price_cents": 0}, InvalidAmount),
        ({"price_cents": -100}, InvalidAmount),
        ({"price_cents": 25.0}, InvalidAmount),
        ({"price_cents": True}, InvalidAmount),
        ({"price_cents": MAX_PRICE_CENTS + 1}, InvalidAmount),
    ],
)
def test_listing_with_bad_terms_is_refused(terms, error):
    with pytest.raises(error):
        listed(**terms)


def test_listing_at_a_moment_without_a_timezone_is_refused():
    with pytest.raises(InvalidPeriod):
        listed(now=T0.replace(tzinfo=None))


# Updates ---------------------------------------------------------------------------------


def test_an_update_bumps_the_revision_and_records_what_changed():
    resource = listed()
    assert resource.update(price_cents=3000, title=TERMS["title"], by="edtech-1", now=T0 + DAY)
    (event,) = resource.collect_events()
    assert isinstance(event, Resource.Updated)
    assert (event.revision, event.changed, event.price_cents) == (2, ("price_cents",), 3000)
    assert (resource.revision, resource.terms.price_cents) == (2, 3000)


def test_an_update_that_changes_nothing_records_nothing():
    resource = listed()
    before = state(resource)
    assert not resource.update(levels=["elementaire"], by="edtech-1", now=T0 + DAY)
    assert state(resource) == before and resource.pending_events == []


def test_an_update_of_an_older_revision_is_refused():
    resource = listed()
    resource.update(price_cents=3000, by="edtech-1", now=T0 + DAY)
    resource.collect_events()
    assert_refused(
        resource,
        ResourceRevisionMismatch,
        lambda: resource.update(price_cents=2000, if_revision=1, by="v", now=T0 + 2 * DAY),
    )
    assert resource.update(price_cents=2000, if_revision=2, by="v", now=T0 + 2 * DAY)


@pytest.mark.parametrize(
    "changes",
    [{"price_cents": 0}, {"title": ""}, {"kind": "hardware"}, {"levels": []}],
)
def test_an_update_with_bad_terms_is_refused(changes):
    resource = listed()
    assert_refused(
        resource, (InvalidInput, InvalidAmount), lambda: resource.update(by="v", now=T0, **changes)
    )


def test_a_command_dated_before_the_last_change_is_refused():
    resource = listed(now=T0 + DAY)
    for action in (
        lambda: resource.update(price_cents=3000, by="v", now=T0),
        lambda: resource.withdraw(reason="fin de vente", by="v", now=T0),
        lambda: grant(resource, now=T0),
    ):
        assert_refused(resource, ResourceChangedLater, action)


# Withdrawal ------------------------------------------------------------------------------


def test_a_withdrawn_resource_can_be_neither_updated_nor_labelled_nor_withdrawn_again():
    resource = listed()
    resource.withdraw(reason="fin de commercialisation", by="edtech-1", now=T0 + DAY)
    resource.collect_events()
    assert not resource.is_listed_at(T0 + DAY) and resource.is_listed_at(T0 + HOUR)
    later = T0 + 2 * DAY
    for action in (
        lambda: resource.update(price_cents=3000, by="v", now=later),
        lambda: resource.withdraw(reason="encore", by="v", now=later),
        lambda: grant(resource, now=later),
    ):
        assert_refused(resource, ResourceWithdrawn, action)


@pytest.mark.parametrize("reason", ["", "   ", "x" * (MAX_REASON_LENGTH + 1), None])
def test_a_withdrawal_without_a_proper_reason_is_refused(reason):
    resource = listed()
    assert_refused(resource, InvalidInput, lambda: resource.withdraw(reason=reason, by="v", now=T0))


def test_a_withdrawn_resource_can_be_relisted_but_a_listed_one_cannot():
    resource = listed()
    assert_refused(
        resource, ResourceAlreadyListed, lambda: resource.relist(reason="x", by="v", now=T0)
    )
    resource.withdraw(reason="corrections", by="edtech-1", now=T0 + DAY)
    resource.relist(reason="corrigé", by="edtech-1", now=T0 + 2 * DAY)
    assert [type(e) for e in resource.collect_events()] == [Resource.Withdrawn, Resource.Relisted]
    assert resource.is_listed_at(T0 + 2 * DAY) and resource.revision == 1


# Labels ----------------------------------------------------------------------------------


def test_the_committee_grants_and_withdraws_a_label_with_its_decision_date():
    resource = listed()
    resource.grant_label(
        "reconnu_interet_pedagogique",
        reason="séance du comité",
        decided_on=date(2027, 9, 1),
        by="comite-scientifique",
        now=T0 + DAY,
    )
    grant(resource, FRANCAIS, now=T0 + 2 * DAY)
    resource.withdraw_label(
        RIP, reason="réexamen", decided_on=date(2027, 9, 5), by="cs", now=T0 + 5 * DAY
    )
    granted, _, withdrawn = resource.collect_events()
    assert (granted.label, granted.decided_on, granted.granted_by) == (
        RIP,
        date(2027, 9, 1),
        "comite-scientifique",
    )
    assert (withdrawn.label, withdrawn.reason) == (RIP, "réexamen")
    assert resource.labels_at(T0 + 3 * DAY) == (RIP, FRANCAIS)
    assert resource.labels_at(T0 + 5 * DAY) == (FRANCAIS,)


def test_granting_a_label_already_in_force_is_refused():
    resource = listed()
    grant(resource)
    resource.collect_events()
    assert_refused(resource, LabelAlreadyGranted, lambda: grant(resource, now=T0 + 2 * DAY))


def test_withdrawing_a_label_not_in_force_is_refused():
    resource = listed()
    assert_refused(
        resource,
        LabelNotGranted,
        lambda: resource.withdraw_label(
            FRANCAIS, reason="x", decided_on=T0.date(), by="cs", now=T0
        ),
    )


@pytest.mark.parametrize(
    ("label", "decided_on", "error"),
    [
        ("bio", date(2027, 9, 1), InvalidInput),
        (FRANCAIS, date(2027, 9, 3), InvalidPeriod),  # dated after it is recorded
        (FRANCAIS, datetime(2027, 9, 1, tzinfo=UTC), InvalidPeriod),
        (FRANCAIS, "2027-09-01", InvalidPeriod),
    ],
)
def test_a_label_decision_with_a_bad_label_or_date_is_refused(label, decided_on, error):
    resource = listed()
    assert_refused(
        resource,
        error,
        lambda: resource.grant_label(
            label, reason="x", decided_on=decided_on, by="cs", now=T0 + DAY
        ),
    )


def test_a_withdrawn_resource_keeps_its_labels_until_the_committee_withdraws_them():
    resource = listed()
    grant(resource)
    resource.withdraw(reason="fin", by="edtech-1", now=T0 + 2 * DAY)
    resource.withdraw_label(FRANCAIS, reason="x", decided_on=T0.date(), by="cs", now=T0 + 3 * DAY)
    assert resource.labels_at(T0 + 2 * DAY) == (FRANCAIS,)
    assert resource.labels_at(T0 + 3 * DAY) == ()


# History ---------------------------------------------------------------------------------


def test_history_answers_for_any_moment_and_a_change_counts_from_its_own_moment():
    resource = listed()
    resource.update(price_cents=3000, by="v", now=T0 + DAY)
    grant(resource, now=T0 + 2 * DAY)
    resource.update(price_cents=2000, by="v", now=T0 + 3 * DAY)
    assert [resource.price_at(T0 + n * DAY) for n in range(4)] == [2500, 3000, 3000, 2000]
    assert [resource.revision_at(T0 + n * DAY) for n in range(4)] == [1, 2, 2, 3]
    assert resource.price_at(T0 + DAY - timedelta(microseconds=1)) == 2500
    assert resource.labels_at(T0 + 2 * DAY - HOUR) == ()
    assert resource.labels_at(T0 + 2 * DAY) == (FRANCAIS,)


def test_before_listing_there_is_no_price_no_revision_no_label_and_no_listing():
    resource = listed()
    before = T0 - HOUR
    with pytest.raises(ResourceNotFound):
        resource.price_at(before)
    with pytest.raises(ResourceNotFound):
        resource.revision_at(before)
    assert resource.labels_at(before) == () and not resource.is_listed_at(before)


def test_a_query_at_a_moment_without_a_timezone_is_refused():
    with pytest.raises(InvalidPeriod):
        listed().price_at(T0.replace(tzinfo=None))


def test_the_evidence_is_the_resource_as_it_stood_at_that_moment():
    resource = listed()
    grant(resource, now=T0 + DAY)
    resource.update(price_cents=3000, by="v", now=T0 + 2 * DAY)
    resource.withdraw(reason="fin", by="v", now=T0 + 3 * DAY)
    assert resource.evidence_at(T0 + DAY) == RedemptionEvidence(
        resource.id, 1, ResourceKind.SOFTWARE_LICENCE, 2500, (FRANCAIS,)
    )
    assert resource.evidence_at(T0 + 2 * DAY).price_cents == 3000
    with pytest.raises(ResourceWithdrawn):
        resource.evidence_at(T0 + 3 * DAY)


def test_replaying_the_events_gives_the_same_history():
    resource = Resource.list_resource(
        vendor_id="edtech-1",
        reference="LIRE-01",
        terms=check_terms(**TERMS),
        digest="d",
        by="edtech-1",
        now=T0,
    )
    resource.update(kind="online_service", by="v", now=T0 + DAY)
    grant(resource, now=T0 + 2 * DAY)
    resource.withdraw(reason="fin", by="v", now=T0 + 3 * DAY)
    resource.relist(reason="retour", by="v", now=T0 + 4 * DAY)
    replayed = None
    for event in resource.collect_events():
        replayed = event.mutate(replayed)
    assert replayed.history == resource.history and replayed.version == resource.version == 5
