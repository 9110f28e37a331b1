"""The device-bank programme without I/O: organisations and the operator's approvals of
them, parties, and territories with their budgets and books."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid5

import pytest

from ledger import accounts
from ledger.device_records import DeviceStage
from ledger.devices import Device
from ledger.errors import (
    IdempotencyKeyReused,
    InvalidAmount,
    InvalidIdentifier,
    InvalidInput,
    InvalidUai,
    OrganisationNotApproved,
    TerritoryBudgetExceeded,
)
from ledger.ids import TIRELIRE_NAMESPACE
from ledger.organisations import Organisation, organisation_id, registration_digest
from ledger.parties import Actor, PartyRole, check_party, individual, organisation
from ledger.territories import Territory, TerritoryKind
from tests.unit.test_devices import (
    COLLECTOR_SIRET,
    REFURBISHER_SIRET,
    a_territory,
    approved,
    device_at,
    refurbish,
    registered,
)

NOW = datetime(2027, 9, 1, tzinfo=UTC)
LATER = NOW + timedelta(days=3)


# Organisations and their approvals -------------------------------------------------------


def test_an_organisation_is_known_by_its_siret_and_acts_in_the_roles_approved_only():
    org = approved("732 829 320 00074", "collector", "refurbisher")
    assert org.id == organisation_id(COLLECTOR_SIRET)
    assert org.id == uuid5(TIRELIRE_NAMESPACE, f"organisation:{COLLECTOR_SIRET}")
    assert org.roles == (PartyRole.COLLECTOR, PartyRole.REFURBISHER)
    actor = org.actor()
    assert actor.party == organisation(COLLECTOR_SIRET) == f"organisation:{COLLECTOR_SIRET}"
    actor.check_acts_as(PartyRole.REFURBISHER)
    with pytest.raises(OrganisationNotApproved) as refused:
        actor.check_acts_as(PartyRole.EDUCATION_SERVICE)
    assert refused.value.details["role"] == "education_service"


def test_approving_a_role_in_force_records_nothing():
    org = approved(COLLECTOR_SIRET, "collector")
    org.approve(role=PartyRole.COLLECTOR, by="operator", now=LATER)
    assert org.pending_events == [] and org.version == 2


def test_a_withdrawn_approval_stops_the_role_and_withdrawing_it_again_records_nothing():
    org = approved(REFURBISHER_SIRET, "refurbisher")
    org.withdraw(role="refurbisher", reason="agrément expired", by="operator", now=LATER)
    assert [type(e) for e in org.collect_events()] == [Organisation.ApprovalWithdrawn]
    with pytest.raises(OrganisationNotApproved):
        org.actor().check_acts_as(PartyRole.REFURBISHER)
    org.withdraw(role="refurbisher", reason="again", by="operator", now=LATER)
    assert org.pending_events == []
    org.approve(role="refurbisher", by="operator", now=LATER)  # approved anew
    assert PartyRole.REFURBISHER in org.actor().roles


def test_withdrawing_a_role_never_approved_or_without_a_reason_is_refused():
    org = approved(COLLECTOR_SIRET, "collector")
    with pytest.raises(OrganisationNotApproved):
        org.withdraw(role="refurbisher", reason="never was", by="operator", now=LATER)
    with pytest.raises(InvalidInput):
        org.withdraw(role="collector", reason=" ", by="operator", now=LATER)
    assert org.pending_events == [] and org.roles == (PartyRole.COLLECTOR,)


@pytest.mark.parametrize("role", ["donor", "school", "auditor"])
def test_the_operator_approves_no_donor_no_school_and_no_unknown_role(role):
    org = approved(COLLECTOR_SIRET)
    with pytest.raises(InvalidInput):
        org.approve(role=role, by="operator", now=NOW)
    assert org.pending_events == [] and org.roles == ()


def test_registering_a_siret_again_under_another_name_is_refused():
    org = approved(COLLECTOR_SIRET)
    org.check_same_request(registration_digest(COLLECTOR_SIRET, org.name))
    with pytest.raises(IdempotencyKeyReused):
        org.check_same_request(registration_digest(COLLECTOR_SIRET, "Another name"))


# Parties ---------------------------------------------------------------------------------


def test_parties_are_named_by_kind_and_a_checked_identifier():
    assert check_party("organisation:732 829 320 00074") == f"organisation:{COLLECTOR_SIRET}"
    assert check_party("school:0750655e") == "school:0750655E"
    assert individual("donor-81f2") == "individual:donor-81f2"
    for bad, error in [
        ("vendor:1", InvalidIdentifier),
        ("organisation:73282932000075", InvalidIdentifier),
        ("school:0750655F", InvalidUai),
        ("individual:jeanne.martin@example.fr", InvalidIdentifier),
    ]:
        with pytest.raises(error):
            check_party(bad)


def test_a_donor_is_a_company_or_a_person_never_an_organisation_or_a_school():
    assert Actor.donor("individual:donor-81f2").roles == frozenset({PartyRole.DONOR})
    with pytest.raises(InvalidIdentifier):
        Actor.donor(organisation(COLLECTOR_SIRET))


# Territories -----------------------------------------------------------------------------


def test_a_territory_is_data_registered_with_its_kind_and_budget():
    overseas = Territory.register(
        code="guyane",
        name="Guyane",
        kind=TerritoryKind.OVERSEAS,
        budget_cents=24_000_000,
        funder_id="banque-des-territoires",
        by="operator",
        now=NOW,
    )
    assert (overseas.kind, overseas.remaining_cents, overseas.spent_cents) == (
        TerritoryKind.OVERSEAS,
        24_000_000,
        0,
    )
    assert overseas.id != a_territory().id


@pytest.mark.parametrize(
    ("details", "error"),
    [
        ({"budget_cents": 0}, InvalidAmount),
        ({"budget_cents": 10.5}, InvalidAmount),
        ({"kind": "island"}, InvalidInput),
        ({"code": "lyon métropole"}, InvalidIdentifier),
        ({"name": ""}, InvalidInput),
    ],
)
def test_a_territory_with_bad_details_is_refused(details, error):
    arguments = {"code": "lyon", "name": "Lyon", "kind": "metropolis", "budget_cents": 100}
    with pytest.raises(error):
        Territory.register(**{**arguments, **details}, funder_id="bdt", by="operator", now=NOW)


def test_a_charge_beyond_what_remains_of_the_budget_is_refused():
    territory = a_territory(budget_cents=5000)
    territory.charge(
        device_id=UUID(int=1), refurbisher_id=UUID(int=2), amount_cents=3000, by="t", now=NOW
    )
    territory.collect_events()
    with pytest.raises(TerritoryBudgetExceeded) as refused:
        territory.charge(
            device_id=UUID(int=3), refurbisher_id=UUID(int=2), amount_cents=2001, by="t", now=NOW
        )
    assert refused.value.details == {"asked_cents": 2001, "remaining_cents": 2000}
    assert territory.pending_events == [] and territory.remaining_cents == 2000


def test_a_territory_posts_its_budget_from_its_funder_and_each_charge_to_the_refurbisher():
    device, territory = device_at(DeviceStage.WIPED, budget_cents=10_000)
    log = registered(budget_cents=10_000).collect_events()  # the same territory's creation
    refurbish(device, territory, cost_cents=4500)
    log += territory.collect_events() + device.collect_events()
    books = accounts.fold(log)
    assert books == {
        "funder:banque-des-territoires": -10_000,
        accounts.territory_budget(territory.id): 5500,
        accounts.refurbisher_payable(organisation_id(REFURBISHER_SIRET)): 4500,
    }
    assert sum(books.values()) == 0
    assert {Territory.Registered, Territory.Charged} <= set(accounts.MONEY_EVENT_TYPES)
    assert Device.Refurbished not in accounts.MONEY_EVENT_TYPES  # the charge posts the cost
