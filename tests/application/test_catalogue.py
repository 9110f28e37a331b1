"""The catalogue application on the in-memory store: listing, updates, withdrawal, labels."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.catalogue import (
    MAX_PRICE_CENTS,
    Resource,
    ResourceNotFound,
    ResourceRevisionMismatch,
    ResourceWithdrawn,
    SchoolLevel,
    resource_id,
)
from ledger.catalogue_app import Catalogue
from ledger.eligibility import (
    EligibilityRule,
    Label,
    ResourceKind,
    ResourceNotEligible,
)
from ledger.errors import IdempotencyKeyReused, InvalidInput
from ledger.settings import Settings

T0 = datetime(2027, 9, 1, 9, tzinfo=UTC)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)


@pytest.fixture
def app(memory_settings: Settings) -> Catalogue:
    return Catalogue(memory_settings)


def list_resource(app: Catalogue, reference: str = "LIRE-01", **terms: object):
    arguments: dict[str, object] = {
        "vendor_id": "edtech-1",
        "reference": reference,
        "title": "Lire avec les sons",
        "description": "Des exercices de lecture pour le cycle 2.",
        "kind": "software_licence",
        "levels": ["maternelle", "elementaire"],
        "price_cents": 2500,
        "by": "edtech-1",
        "now": T0,
    }
    return app.list_resource(**{**arguments, **terms})


def grant(app: Catalogue, rid, label: Label | str, now: datetime) -> None:
    app.grant_label(rid, label, reason="avis du comité", decided_on=now.date(), by="cs", now=now)


# Listing ---------------------------------------------------------------------------------


def test_listing_again_with_the_same_reference_and_terms_answers_the_same_id(app):
    first = list_resource(app)
    again = list_resource(app, levels=("elementaire", SchoolLevel.MATERNELLE), now=T0 + DAY)
    assert first == again == resource_id("edtech-1", "LIRE-01")
    assert app.get_resource(first).version == 1


def test_listing_again_with_the_same_reference_and_other_terms_is_refused(app):
    first = list_resource(app)
    with pytest.raises(IdempotencyKeyReused):
        list_resource(app, price_cents=1900)
    resource = app.get_resource(first)
    assert (resource.version, resource.terms.price_cents) == (1, 2500)


def test_a_retry_of_the_first_listing_still_answers_after_an_update(app):
    first = list_resource(app)
    app.update_resource(first, price_cents=3000, by="edtech-1", now=T0 + DAY)
    assert list_resource(app) == first
    assert app.get_resource(first).terms.price_cents == 3000


def test_two_vendors_may_use_the_same_reference_for_two_resources(app):
    first = list_resource(app)
    second = list_resource(app, vendor_id="edtech-2")
    assert first != second
    assert app.get_resource(second).vendor_id == "edtech-2"


def test_a_resource_never_listed_is_not_found(app):
    unknown = resource_id("edtech-9", "NONE")
    with pytest.raises(ResourceNotFound):
        app.get_resource(unknown)
    with pytest.raises(ResourceNotFound):
        app.withdraw_resource(unknown, reason="x", by="v", now=T0)


# Updates and withdrawal ------------------------------------------------------------------


def test_an_update_answers_the_new_revision_and_is_kept(app):
    rid = list_resource(app)
    assert app.update_resource(rid, kind="training", price_cents=4000, by="v", now=T0 + DAY) == 2
    assert app.update_resource(rid, kind=ResourceKind.TRAINING, by="v", now=T0 + 2 * DAY) == 2
    resource = app.get_resource(rid)
    assert (resource.version, resource.terms.kind) == (2, ResourceKind.TRAINING)


def test_an_update_of_an_unknown_term_or_an_old_revision_is_refused(app):
    rid = list_resource(app)
    with pytest.raises(InvalidInput):
        app.update_resource(rid, vendor_id="edtech-2", by="v", now=T0 + DAY)
    with pytest.raises(ResourceRevisionMismatch):
        app.update_resource(rid, price_cents=1, if_revision=0, by="v", now=T0 + DAY)
    assert app.get_resource(rid).version == 1


def test_a_withdrawn_resource_is_refused_updates_until_it_is_relisted(app):
    rid = list_resource(app)
    app.withdraw_resource(rid, reason="fin de commercialisation", by="v", now=T0 + DAY)
    with pytest.raises(ResourceWithdrawn):
        app.update_resource(rid, price_cents=3000, by="v", now=T0 + 2 * DAY)
    assert app.get_resource(rid).version == 2
    app.relist_resource(rid, reason="nouvelle édition", by="v", now=T0 + 3 * DAY)
    assert app.update_resource(rid, price_cents=3000, by="v", now=T0 + 4 * DAY) == 2
    resource = app.get_resource(rid)
    assert [resource.is_listed_at(T0 + n * DAY) for n in range(5)] == [
        True,
        False,
        False,
        True,
        True,
    ]


# Labels and history ----------------------------------------------------------------------


def test_labels_granted_and_withdrawn_are_kept_with_their_decision(app):
    rid = list_resource(app)
    grant(app, rid, "francais", T0 + DAY)
    grant(app, rid, Label.RECONNU_INTERET_PEDAGOGIQUE, T0 + 2 * DAY)
    app.withdraw_label(
        rid,
        Label.FRANCAIS,
        reason="réexamen",
        decided_on=date(2027, 9, 4),
        by="cs",
        now=T0 + 4 * DAY,
    )
    resource = app.get_resource(rid)
    assert resource.labels_at(T0 + 3 * DAY) == (Label.RECONNU_INTERET_PEDAGOGIQUE, Label.FRANCAIS)
    assert resource.labels_at(T0 + 4 * DAY) == (Label.RECONNU_INTERET_PEDAGOGIQUE,)
    events = list(app.repository.event_store.get(rid))
    assert events[-1].decided_on == date(2027, 9, 4)


def test_the_stored_history_equals_the_history_built_live(app):
    rid = list_resource(app)
    grant(app, rid, "francais", T0 + DAY)
    app.update_resource(rid, levels=["college"], by="v", now=T0 + 2 * DAY)
    app.withdraw_resource(rid, reason="fin", by="v", now=T0 + 3 * DAY)
    live = Resource.list_resource(
        vendor_id="edtech-1",
        reference="LIRE-01",
        terms=app.get_resource(rid).snapshot_at(T0).terms,
        digest=app.get_resource(rid).request_digest,
        by="edtech-1",
        now=T0,
    )
    live.grant_label(
        "francais", reason="avis du comité", decided_on=T0.date(), by="cs", now=T0 + DAY
    )
    live.update(levels=["college"], by="v", now=T0 + 2 * DAY)
    live.withdraw(reason="fin", by="v", now=T0 + 3 * DAY)
    assert app.get_resource(rid).history == live.history


def test_a_campaign_rule_judges_a_stored_resource_by_its_history(app):
    rid = list_resource(app)
    grant(app, rid, "francais", T0 + 2 * DAY)
    resource = app.get_resource(rid)
    rule = EligibilityRule.labelled(["francais"], {"software_licence": 5000})
    with pytest.raises(ResourceNotEligible):
        rule.check(resource, T0 + DAY, {}, 2500)
    evidence = rule.check(resource, T0 + 2 * DAY, {ResourceKind.SOFTWARE_LICENCE: 2500}, 2500)
    assert (evidence.resource_id, evidence.labels) == (rid, (Label.FRANCAIS,))


PRICES = st.integers(min_value=1, max_value=MAX_PRICE_CENTS)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    listing_price=PRICES,
    updates=st.lists(st.tuples(st.integers(1, 10**6), PRICES), max_size=12),
    queries=st.lists(st.integers(-1000, 13 * 10**6), min_size=1, max_size=20),
)
def test_the_price_at_any_moment_is_the_last_price_set_at_or_before_it(
    memory_settings, listing_price, updates, queries
):
    app = Catalogue(memory_settings)
    rid = list_resource(app, price_cents=listing_price)
    timeline = [(T0, listing_price)]
    for gap_s, price in updates:
        now = timeline[-1][0] + gap_s * SECOND
        app.update_resource(rid, price_cents=price, by="v", now=now)
        timeline.append((now, price))
    resource = app.get_resource(rid)
    for offset_s in queries:
        moment = T0 + offset_s * SECOND
        set_before = [price for at, price in timeline if at <= moment]
        if not set_before:
            with pytest.raises(ResourceNotFound):
                resource.price_at(moment)
            continue
        assert resource.price_at(moment) == set_before[-1]
        # Each price that differs from the one before it is one more revision.
        changes = sum(1 for a, b in pairwise(set_before) if a != b)
        assert resource.revision_at(moment) == 1 + changes
