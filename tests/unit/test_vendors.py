"""The vendor aggregate: its lifecycle, and money paid only to a reviewed IBAN."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid5

import pytest

from ledger.errors import IdempotencyKeyReused, InvalidIdentifier, InvalidInput
from ledger.identifiers import (
    InvalidIban,
    InvalidSiren,
    InvalidSiret,
)
from ledger.ids import TIRELIRE_NAMESPACE
from ledger.vendors import (
    BankChangeAlreadyReviewed,
    BankChangeNotFound,
    BankChangePending,
    BankChangeStatus,
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
APPLIED_AT = datetime(2027, 6, 1, tzinfo=UTC)
APPROVED_AT = APPLIED_AT + timedelta(days=7)
LATER = APPROVED_AT + timedelta(days=30)
CHANGE = UUID("00000000-0000-5000-8000-000000000001")


def applied(**details: str) -> Vendor:
    arguments = {
        "legal_name": "Lecture Libre SAS",
        "siren": SIREN,
        "siret": SIRET,
        "contact_ref": "contact-7f3a",
        "iban": IBAN,
        **details,
    }
    vendor = Vendor.apply_to_be_listed(**arguments, by="vendor-user", now=APPLIED_AT)
    vendor.collect_events()
    return vendor


def approved() -> Vendor:
    vendor = applied()
    vendor.approve(by="operator", now=APPROVED_AT)
    vendor.collect_events()
    return vendor


def with_change_requested(iban: str = NEW_IBAN) -> Vendor:
    vendor = approved()
    vendor.request_bank_change(
        change_id=CHANGE, digest="digest-1", iban=iban, by="vendor-user", now=LATER
    )
    vendor.collect_events()
    return vendor


def state(vendor: Vendor) -> tuple[object, ...]:
    changes = {i: (c.iban, c.status) for i, c in vendor.bank_changes.items()}
    return (vendor.version, vendor.status, vendor.bank_history, changes)


def assert_refused(vendor: Vendor, error: type[Exception], action) -> None:
    before = state(vendor)
    with pytest.raises(error):
        action()
    assert state(vendor) == before
    assert vendor.pending_events == []


# Applying --------------------------------------------------------------------------------


def test_an_application_records_compact_identifiers_under_an_id_derived_from_the_siren():
    vendor = applied(siren="732 829 320", siret="732 829 320 00074", iban=IBAN.lower())
    assert vendor.id == vendor_id(SIREN) == uuid5(TIRELIRE_NAMESPACE, f"vendor:{SIREN}")
    assert (vendor.siren, vendor.siret, vendor.applied_iban) == (SIREN, SIRET, IBAN)
    assert vendor.status is VendorStatus.APPLIED and vendor.version == 1


@pytest.mark.parametrize(
    ("details", "error"),
    [
        ({"siren": "732829321"}, InvalidSiren),
        ({"siret": "73282932000075"}, InvalidSiret),
        ({"siren": "552100554"}, InvalidSiret),  # a valid SIRET, of another company
        ({"iban": "FR7630006000011234567890180"}, InvalidIban),
        ({"legal_name": " "}, InvalidInput),
        ({"contact_ref": "jeanne.martin@example.fr"}, InvalidIdentifier),  # no email here
    ],
)
def test_an_application_with_bad_details_is_refused(details, error):
    with pytest.raises(error):
        applied(**details)


def test_the_iban_of_an_application_is_not_payable_until_the_application_is_approved():
    vendor = applied()
    with pytest.raises(IbanNotReviewed):
        vendor.payable_iban()
    with pytest.raises(IbanNotReviewed):
        vendor.iban_at(LATER)


def test_a_retry_with_other_details_is_refused():
    vendor = applied()
    other = applied(legal_name="Lecture Libre")
    with pytest.raises(IdempotencyKeyReused):
        vendor.check_same_request(other.request_digest)
    vendor.check_same_request(applied().request_digest)


# The lifecycle ---------------------------------------------------------------------------


def test_approving_reviews_the_iban_of_the_application_from_that_moment():
    vendor = approved()
    assert vendor.status is VendorStatus.APPROVED and vendor.version == 2
    assert vendor.payable_iban() == IBAN
    assert vendor.iban_at(APPROVED_AT) == IBAN
    with pytest.raises(IbanNotReviewed):
        vendor.iban_at(APPROVED_AT - timedelta(seconds=1))


def test_a_suspended_vendor_is_not_paid_until_it_is_reinstated():
    vendor = approved()
    vendor.suspend(reason="claims under review", by="operator", now=LATER)
    assert vendor.status is VendorStatus.SUSPENDED
    assert [type(e) for e in vendor.collect_events()] == [Vendor.Suspended]
    assert_refused(vendor, VendorStatusConflict, lambda: vendor.payable_iban())
    vendor.reinstate(by="operator", now=LATER + timedelta(days=1))
    assert vendor.status is VendorStatus.APPROVED and vendor.payable_iban() == IBAN
    assert vendor.version == 4


def test_a_command_whose_outcome_already_holds_records_nothing():
    vendor = approved()
    vendor.approve(by="operator", now=LATER)
    vendor.reinstate(by="operator", now=LATER)
    assert vendor.pending_events == [] and vendor.version == 2


@pytest.mark.parametrize(
    ("setup", "command"),
    [
        ("applied", lambda v: v.suspend(reason="fraud", by="operator", now=LATER)),
        ("applied", lambda v: v.reinstate(by="operator", now=LATER)),
        ("approved", lambda v: v.reject(reason="late", by="operator", now=LATER)),
        ("rejected", lambda v: v.approve(by="operator", now=LATER)),
        ("rejected", lambda v: v.suspend(reason="fraud", by="operator", now=LATER)),
        ("suspended", lambda v: v.approve(by="operator", now=LATER)),
    ],
)
def test_a_move_outside_the_lifecycle_is_refused(setup, command):
    vendor = approved() if setup in ("approved", "suspended") else applied()
    if setup == "rejected":
        vendor.reject(reason="not an EdTech", by="operator", now=APPROVED_AT)
    if setup == "suspended":
        vendor.suspend(reason="fraud", by="operator", now=LATER)
    vendor.collect_events()
    assert_refused(vendor, VendorStatusConflict, lambda: command(vendor))


def test_rejecting_or_suspending_without_a_reason_is_refused():
    vendor = applied()
    assert_refused(vendor, InvalidInput, lambda: vendor.reject(reason="", by="op", now=LATER))
    vendor = approved()
    assert_refused(vendor, InvalidInput, lambda: vendor.suspend(reason="", by="op", now=LATER))


# Bank details ----------------------------------------------------------------------------


def test_a_requested_iban_is_not_paid_while_its_change_is_pending():
    vendor = with_change_requested()
    assert vendor.pending_bank_change.iban == NEW_IBAN
    assert vendor.payable_iban() == IBAN


def test_an_approved_change_puts_the_new_iban_in_force_and_keeps_the_old_one_in_history():
    vendor = with_change_requested()
    in_force = LATER + timedelta(days=1)
    vendor.approve_bank_change(change_id=CHANGE, by="operator", now=in_force)
    assert vendor.payable_iban() == NEW_IBAN
    assert vendor.iban_at(in_force - timedelta(seconds=1)) == IBAN
    assert vendor.iban_at(in_force) == NEW_IBAN
    assert vendor.pending_bank_change is None


def test_a_rejected_change_leaves_the_reviewed_iban_in_force():
    vendor = with_change_requested()
    vendor.reject_bank_change(change_id=CHANGE, reason="RIB unsigned", by="operator", now=LATER)
    assert vendor.payable_iban() == IBAN
    assert vendor.bank_changes[CHANGE].status is BankChangeStatus.REJECTED


def test_a_change_is_not_reviewed_by_its_requester():
    vendor = with_change_requested()
    assert_refused(
        vendor,
        ReviewerIsRequester,
        lambda: vendor.approve_bank_change(change_id=CHANGE, by="vendor-user", now=LATER),
    )


def test_a_second_change_is_refused_while_one_is_pending():
    vendor = with_change_requested()
    other = UUID("00000000-0000-5000-8000-000000000002")
    assert_refused(
        vendor,
        BankChangePending,
        lambda: vendor.request_bank_change(
            change_id=other, digest="digest-2", iban=IBAN, by="vendor-user", now=LATER
        ),
    )


def test_a_change_before_approval_is_refused():
    vendor = applied()
    assert_refused(
        vendor,
        VendorStatusConflict,
        lambda: vendor.request_bank_change(
            change_id=CHANGE, digest="d", iban=NEW_IBAN, by="vendor-user", now=LATER
        ),
    )


def test_a_retried_request_records_nothing_and_a_reused_key_is_refused():
    vendor = with_change_requested()
    vendor.request_bank_change(
        change_id=CHANGE, digest="digest-1", iban=NEW_IBAN, by="vendor-user", now=LATER
    )
    assert vendor.pending_events == []
    assert_refused(
        vendor,
        IdempotencyKeyReused,
        lambda: vendor.request_bank_change(
            change_id=CHANGE, digest="digest-9", iban=IBAN, by="vendor-user", now=LATER
        ),
    )


def test_reviewing_an_unknown_change_is_refused():
    vendor = approved()
    assert_refused(
        vendor,
        BankChangeNotFound,
        lambda: vendor.approve_bank_change(change_id=CHANGE, by="operator", now=LATER),
    )


def test_approving_a_rejected_change_is_refused_and_approving_twice_records_once():
    vendor = with_change_requested()
    vendor.reject_bank_change(change_id=CHANGE, reason="RIB unsigned", by="operator", now=LATER)
    vendor.collect_events()
    assert_refused(
        vendor,
        BankChangeAlreadyReviewed,
        lambda: vendor.approve_bank_change(change_id=CHANGE, by="operator", now=LATER),
    )
    vendor = with_change_requested()
    vendor.approve_bank_change(change_id=CHANGE, by="operator", now=LATER)
    vendor.approve_bank_change(change_id=CHANGE, by="operator-2", now=LATER)
    assert len(vendor.collect_events()) == 1
