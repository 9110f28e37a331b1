"""The vendor directory on the in-memory store: applications, reviews and bank changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ledger.errors import IdempotencyKeyReused, VendorNotFound
from ledger.identifiers import (
    InvalidIban,
)
from ledger.ids import derived_id
from ledger.settings import Settings
from ledger.vendor_directory import VendorDirectory
from ledger.vendors import (
    BankChangePending,
    IbanNotReviewed,
    ReviewerIsRequester,
    Vendor,
    VendorStatus,
    VendorStatusConflict,
    vendor_id,
)

SIREN = "732829320"
SIRET = "73282932000074"
IBAN = "FR7630006000011234567890189"
NEW_IBAN = "DE89370400440532013000"
NOW = datetime(2027, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def app(memory_settings: Settings) -> VendorDirectory:
    return VendorDirectory(memory_settings)


def apply(app: VendorDirectory, **details: str):
    arguments = {
        "legal_name": "Lecture Libre SAS",
        "siren": "732 829 320",
        "siret": "732 829 320 00074",
        "contact_ref": "contact-7f3a",
        "iban": "fr76 3000 6000 0112 3456 7890 189",
        **details,
    }
    return app.apply_vendor(**arguments, by="vendor-user", now=NOW)


def approved(app: VendorDirectory):
    vendor = apply(app)
    app.approve(vendor, by="operator", now=NOW + DAY)
    return vendor


def test_an_application_is_recorded_under_the_id_of_its_siren(app):
    vendor = apply(app)
    assert vendor == vendor_id(SIREN)
    recorded = app.get_vendor(vendor)
    assert (recorded.siren, recorded.siret, recorded.applied_iban) == (SIREN, SIRET, IBAN)
    assert recorded.status is VendorStatus.APPLIED


def test_applying_again_with_the_same_details_answers_the_same_id_and_records_nothing(app):
    first = apply(app)
    assert apply(app, siren=SIREN, iban=IBAN) == first
    assert app.get_vendor(first).version == 1


def test_applying_again_with_other_details_is_refused(app):
    first = apply(app)
    with pytest.raises(IdempotencyKeyReused):
        apply(app, legal_name="Lecture Libre")
    assert app.get_vendor(first).legal_name == "Lecture Libre SAS"
    assert app.get_vendor(first).version == 1


def test_an_application_with_a_bad_iban_records_nothing(app):
    with pytest.raises(InvalidIban):
        apply(app, iban="FR7630006000011234567890180")
    with pytest.raises(VendorNotFound):
        app.get_vendor(vendor_id(SIREN))


def test_an_applied_vendor_is_not_payable_and_an_approved_one_is_paid_on_its_reviewed_iban(app):
    vendor = apply(app)
    with pytest.raises(IbanNotReviewed):
        app.get_vendor(vendor).payable_iban()
    app.approve(vendor, by="operator", now=NOW + DAY)
    assert app.get_vendor(vendor).payable_iban() == IBAN


def test_suspending_and_reinstating_round_trips_through_the_store(app):
    vendor = approved(app)
    app.suspend(vendor, reason="claims under review", by="operator", now=NOW + 2 * DAY)
    with pytest.raises(VendorStatusConflict):
        app.get_vendor(vendor).payable_iban()
    app.reinstate(vendor, by="operator", now=NOW + 3 * DAY)
    recorded = app.get_vendor(vendor)
    assert (recorded.status, recorded.version) == (VendorStatus.APPROVED, 4)


def test_approving_a_rejected_vendor_is_refused_and_records_nothing(app):
    vendor = apply(app)
    app.reject(vendor, reason="not an EdTech", by="operator", now=NOW + DAY)
    with pytest.raises(VendorStatusConflict) as refused:
        app.approve(vendor, by="operator", now=NOW + 2 * DAY)
    assert refused.value.code == "vendor_status_conflict"
    assert refused.value.details == {"status": "rejected"}
    assert app.get_vendor(vendor).version == 2


def test_a_retried_approval_records_nothing(app):
    vendor = approved(app)
    app.approve(vendor, by="operator", now=NOW + 2 * DAY)
    assert app.get_vendor(vendor).version == 2


def test_commands_on_an_unknown_vendor_are_refused(app):
    with pytest.raises(VendorNotFound):
        app.approve(vendor_id(SIREN), by="operator", now=NOW)


def test_a_bank_change_is_in_force_only_once_approved_by_someone_else(app):
    vendor = approved(app)
    change = app.request_bank_change(
        vendor, key="rib-2028", iban="de89 3704 0044 0532 0130 00", by="vendor-user", now=NOW
    )
    assert change == derived_id(vendor, "bank-change", "rib-2028")
    assert app.get_vendor(vendor).payable_iban() == IBAN
    with pytest.raises(ReviewerIsRequester):
        app.approve_bank_change(vendor, change, by="vendor-user", now=NOW + 2 * DAY)
    assert app.get_vendor(vendor).version == 3
    app.approve_bank_change(vendor, change, by="operator", now=NOW + 3 * DAY)
    recorded = app.get_vendor(vendor)
    assert recorded.payable_iban() == NEW_IBAN
    assert recorded.iban_at(NOW + 2 * DAY) == IBAN
    assert [e.iban for e in recorded.bank_history] == [IBAN, NEW_IBAN]


def test_a_retried_bank_change_answers_the_same_id_and_a_reused_key_is_refused(app):
    vendor = approved(app)
    first = app.request_bank_change(vendor, key="k", iban=NEW_IBAN, by="vendor-user", now=NOW)
    again = app.request_bank_change(vendor, key="k", iban=NEW_IBAN, by="vendor-user", now=NOW)
    assert again == first
    with pytest.raises(IdempotencyKeyReused):
        app.request_bank_change(vendor, key="k", iban=IBAN, by="vendor-user", now=NOW)
    with pytest.raises(BankChangePending):
        app.request_bank_change(vendor, key="k2", iban=IBAN, by="vendor-user", now=NOW)
    assert app.get_vendor(vendor).version == 3


def test_a_rejected_bank_change_leaves_the_reviewed_iban_and_frees_the_next_request(app):
    vendor = approved(app)
    change = app.request_bank_change(vendor, key="k", iban=NEW_IBAN, by="vendor-user", now=NOW)
    app.reject_bank_change(vendor, change, reason="RIB unsigned", by="operator", now=NOW + DAY)
    assert app.get_vendor(vendor).payable_iban() == IBAN
    app.request_bank_change(vendor, key="k2", iban=NEW_IBAN, by="vendor-user", now=NOW + DAY)
    assert app.get_vendor(vendor).pending_bank_change is not None


def test_the_recorded_events_replay_to_the_same_vendor(app):
    vendor = approved(app)
    change = app.request_bank_change(vendor, key="k", iban=NEW_IBAN, by="vendor-user", now=NOW)
    app.approve_bank_change(vendor, change, by="operator", now=NOW + DAY)
    events = list(app.repository.event_store.get(vendor))
    replayed: Vendor | None = None
    for event in events:
        replayed = event.mutate(replayed)
    live = app.get_vendor(vendor)
    assert [type(e).__name__ for e in events] == [
        "Applied",
        "Approved",
        "BankDetailsChangeRequested",
        "BankDetailsChangeApproved",
    ]
    assert (replayed.status, replayed.bank_history) == (live.status, live.bank_history)
