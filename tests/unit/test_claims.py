"""Claims, their markers and payment batches, at the aggregate level (no store)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pytest

from ledger.claims import (
    CANCEL,
    DISPUTE_WINDOW_DAYS,
    OVERTURNED,
    RETURN_TO_CLAIMABLE,
    UPHELD,
    Claim,
    ClaimStatus,
    LineStatus,
    claim_id,
)
from ledger.errors import (
    ClaimAwaitingDisputes,
    ClaimLineConflict,
    ClaimLineNotFound,
    ClaimStatusConflict,
    DisputeWindowClosed,
    IdempotencyKeyReused,
    InvalidClaim,
    InvalidInput,
    InvalidPaymentBatch,
    PaymentBatchStatusConflict,
    RedemptionAlreadyClaimed,
)
from ledger.payments import PaymentBatch, end_to_end_id, payment_batch_id
from ledger.redemption_claims import RedemptionClaim, redemption_claim_id
from ledger.reimbursement import Redemption, check_redemptions
from ledger.sepa import Debtor

NOW = datetime(2028, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)
ACCOUNT = UUID(int=100)
HOLD_A, HOLD_B, HOLD_C = UUID(int=1), UUID(int=2), UUID(int=3)
VENDOR = "vendor-1"
VENDOR_IBAN = "DE89370400440532013000"
DEBTOR = Debtor("Tirelire Crédit Éducation", "FR7630006000011234567890189")


def submitted() -> Claim:
    lines = (
        (ACCOUNT, HOLD_A, 1000, 1000, "full"),
        (ACCOUNT, HOLD_B, 2000, 1800, "full"),
        (ACCOUNT, HOLD_C, 500, 500, "full"),
    )
    claim = Claim.submit(
        claim_id=claim_id(VENDOR, "c1"),
        claim_key="c1",
        vendor_id=VENDOR,
        lines=lines,
        request_digest="d1",
        by="vendor-user",
        now=NOW,
    )
    claim.collect_events()
    return claim


def reject(claim: Claim, *rejections, key="r1", now=NOW + DAY) -> bool:
    return claim.reject_lines(
        key=key, digest=repr(rejections), rejections=rejections, by="operator", now=now
    )


def dispute(claim: Claim, hold_id: UUID, now: datetime, key: str = "d1") -> None:
    claim.dispute_line(
        key=key, digest=key, hold_id=hold_id, reason="invoice sent", by="vendor-user", now=now
    )


def snapshot(claim: Claim) -> tuple:
    return claim.version, claim.status, {h: line.status for h, line in claim.lines.items()}


def test_a_submitted_claim_holds_its_lines_under_review():
    claim = submitted()
    assert claim.status is ClaimStatus.SUBMITTED
    assert all(line.status is LineStatus.SUBMITTED for line in claim.lines.values())
    assert claim.payable_cents == 0


def test_approving_a_claim_approves_every_line_under_review():
    claim = submitted()
    claim.approve(by="operator", now=NOW + DAY)
    assert claim.status is ClaimStatus.APPROVED
    assert claim.payable_cents == 3300
    assert claim.collect_events()[0].payable_cents == 3300


def test_approving_an_approved_claim_records_nothing():
    claim = submitted()
    claim.approve(by="operator", now=NOW + DAY)
    claim.collect_events()
    claim.approve(by="operator", now=NOW + 2 * DAY)
    assert claim.collect_events() == []


def test_a_line_returned_to_claimable_is_not_paid():
    claim = submitted()
    assert reject(claim, (HOLD_A, "no invoice", RETURN_TO_CLAIMABLE))
    claim.approve(by="operator", now=NOW + 2 * DAY)
    assert claim.lines[HOLD_A].status is LineStatus.RETURNED
    assert claim.payable_cents == 2300


def test_retrying_a_rejection_with_its_key_records_nothing():
    claim = submitted()
    reject(claim, (HOLD_A, "no invoice", CANCEL))
    claim.collect_events()
    assert not reject(claim, (HOLD_A, "no invoice", CANCEL))
    assert claim.collect_events() == []


def test_reusing_a_rejection_key_for_other_lines_is_refused_and_changes_nothing():
    claim = submitted()
    reject(claim, (HOLD_A, "no invoice", CANCEL))
    before = snapshot(claim)
    with pytest.raises(IdempotencyKeyReused):
        reject(claim, (HOLD_B, "no invoice", CANCEL))
    assert snapshot(claim) == before


@pytest.mark.parametrize(
    ("rejections", "error"),
    [
        (((UUID(int=9), "why", CANCEL),), ClaimLineNotFound),
        (((HOLD_A, "why", "forget"),), InvalidInput),
        (((HOLD_A, "", CANCEL),), InvalidInput),
        (((HOLD_A, "why", CANCEL), (HOLD_A, "again", CANCEL)), InvalidInput),
        ((), InvalidInput),
    ],
    ids=["unknown-line", "unknown-outcome", "no-reason", "twice", "none"],
)
def test_a_bad_rejection_is_refused_and_changes_nothing(rejections, error):
    claim = submitted()
    before = snapshot(claim)
    with pytest.raises(error):
        reject(claim, *rejections)
    assert snapshot(claim) == before


def test_rejecting_a_line_already_rejected_is_refused_and_changes_nothing():
    claim = submitted()
    reject(claim, (HOLD_A, "no invoice", CANCEL))
    before = snapshot(claim)
    with pytest.raises(ClaimLineConflict):
        reject(claim, (HOLD_A, "still none", RETURN_TO_CLAIMABLE), key="r2")
    assert snapshot(claim) == before


def test_rejecting_lines_of_an_approved_claim_is_refused_and_changes_nothing():
    claim = submitted()
    claim.approve(by="operator", now=NOW + DAY)
    before = snapshot(claim)
    with pytest.raises(ClaimStatusConflict):
        reject(claim, (HOLD_A, "too late", CANCEL))
    assert snapshot(claim) == before


def test_a_claim_waits_for_the_dispute_window_of_its_cancelled_lines():
    claim = submitted()
    reject(claim, (HOLD_A, "no invoice", CANCEL))
    before = snapshot(claim)
    with pytest.raises(ClaimAwaitingDisputes):
        claim.approve(by="operator", now=NOW + 2 * DAY)
    assert snapshot(claim) == before
    claim.approve(by="operator", now=NOW + DAY + DISPUTE_WINDOW_DAYS * DAY)
    assert claim.payable_cents == 2300


def test_an_open_dispute_blocks_approval_until_it_is_decided():
    claim = submitted()
    reject(claim, (HOLD_B, "price too high", CANCEL))
    dispute(claim, HOLD_B, NOW + 3 * DAY)
    later = NOW + 60 * DAY
    with pytest.raises(ClaimAwaitingDisputes):
        claim.approve(by="operator", now=later)
    assert claim.decide_dispute(hold_id=HOLD_B, decision=OVERTURNED, by="operator", now=later)
    claim.approve(by="operator", now=later)
    assert claim.lines[HOLD_B].status is LineStatus.OVERTURNED
    assert claim.payable_cents == 3300


def test_an_upheld_rejection_is_not_paid():
    claim = submitted()
    reject(claim, (HOLD_B, "price too high", CANCEL))
    dispute(claim, HOLD_B, NOW + 3 * DAY)
    claim.decide_dispute(hold_id=HOLD_B, decision=UPHELD, by="operator", now=NOW + 4 * DAY)
    claim.approve(by="operator", now=NOW + 4 * DAY)
    assert claim.payable_cents == 1500


def test_deciding_a_dispute_again_the_same_way_records_nothing_and_otherwise_is_refused():
    claim = submitted()
    reject(claim, (HOLD_B, "price too high", CANCEL))
    dispute(claim, HOLD_B, NOW + 3 * DAY)
    claim.decide_dispute(hold_id=HOLD_B, decision=UPHELD, by="operator", now=NOW + 4 * DAY)
    claim.collect_events()
    assert not claim.decide_dispute(hold_id=HOLD_B, decision=UPHELD, by="op", now=NOW + 5 * DAY)
    before = snapshot(claim)
    with pytest.raises(ClaimLineConflict):
        claim.decide_dispute(hold_id=HOLD_B, decision=OVERTURNED, by="op", now=NOW + 5 * DAY)
    assert snapshot(claim) == before
    assert claim.collect_events() == []


def test_a_dispute_after_the_window_is_refused_and_changes_nothing():
    claim = submitted()
    reject(claim, (HOLD_B, "price too high", CANCEL))
    before = snapshot(claim)
    with pytest.raises(DisputeWindowClosed):
        dispute(claim, HOLD_B, NOW + DAY + DISPUTE_WINDOW_DAYS * DAY)
    assert snapshot(claim) == before


def test_disputing_a_line_returned_to_claimable_is_refused_and_changes_nothing():
    claim = submitted()
    reject(claim, (HOLD_A, "no invoice", RETURN_TO_CLAIMABLE))
    before = snapshot(claim)
    with pytest.raises(ClaimLineConflict):
        dispute(claim, HOLD_A, NOW + 2 * DAY)
    assert snapshot(claim) == before


def test_approving_a_claim_with_nothing_to_pay_is_refused_and_changes_nothing():
    claim = submitted()
    reject(claim, *((h, "no invoice", RETURN_TO_CLAIMABLE) for h in (HOLD_A, HOLD_B, HOLD_C)))
    before = snapshot(claim)
    with pytest.raises(ClaimStatusConflict):
        claim.approve(by="operator", now=NOW + 2 * DAY)
    assert snapshot(claim) == before


def test_a_claim_is_batched_once():
    claim = submitted()
    claim.approve(by="operator", now=NOW + DAY)
    claim.add_to_batch(batch_id=UUID(int=7), by="operator", now=NOW + DAY)
    claim.add_to_batch(batch_id=UUID(int=7), by="operator", now=NOW + DAY)  # a retry
    before = snapshot(claim)
    with pytest.raises(ClaimStatusConflict):
        claim.add_to_batch(batch_id=UUID(int=8), by="operator", now=NOW + DAY)
    assert snapshot(claim) == before
    assert claim.batch_id == UUID(int=7)


def test_batching_a_claim_under_review_is_refused_and_changes_nothing():
    claim = submitted()
    before = snapshot(claim)
    with pytest.raises(ClaimStatusConflict):
        claim.add_to_batch(batch_id=UUID(int=7), by="operator", now=NOW)
    assert snapshot(claim) == before


def test_redemptions_of_another_vendor_or_repeated_are_refused():
    mine = Redemption(ACCOUNT, HOLD_A, VENDOR, 100, NOW)
    theirs = Redemption(ACCOUNT, HOLD_B, "vendor-2", 100, NOW)
    with pytest.raises(InvalidClaim):
        check_redemptions(VENDOR, (mine, theirs), NOW)
    with pytest.raises(InvalidClaim):
        check_redemptions(VENDOR, (mine, mine), NOW)
    with pytest.raises(InvalidClaim):
        check_redemptions(VENDOR, (), NOW)


def test_a_marker_is_taken_again_only_once_released():
    marker = RedemptionClaim.take(
        account_id=ACCOUNT, hold_id=HOLD_A, claim_id=UUID(int=1), by="v", now=NOW
    )
    assert marker.id == redemption_claim_id(HOLD_A)
    with pytest.raises(RedemptionAlreadyClaimed):
        marker.take_again(claim_id=UUID(int=2), by="v", now=NOW)
    assert marker.claim_id == UUID(int=1)
    marker.release(by="operator", now=NOW)
    marker.take_again(claim_id=UUID(int=2), by="v", now=NOW)
    assert marker.claim_id == UUID(int=2)


def test_a_closed_marker_is_never_taken_again():
    marker = RedemptionClaim.take(
        account_id=ACCOUNT, hold_id=HOLD_A, claim_id=UUID(int=1), by="v", now=NOW
    )
    marker.close(by="operator", now=NOW)
    version = marker.version
    with pytest.raises(RedemptionAlreadyClaimed):
        marker.take_again(claim_id=UUID(int=2), by="v", now=NOW)
    assert marker.version == version


def a_batch(**changes) -> PaymentBatch:
    fields = {
        "batch_key": "b1",
        "request_digest": "d",
        "claims": ((UUID(int=1), VENDOR, 1000), (UUID(int=2), VENDOR, 234), (UUID(int=3), "v2", 5)),
        "payees": ((VENDOR, "Éditions Lœuf", VENDOR_IBAN), ("v2", "Lecture Libre", VENDOR_IBAN)),
        "value_date": date(2028, 3, 3),
        "by": "operator",
        "now": NOW,
        **changes,
    }
    return PaymentBatch.create(**fields)


def test_a_batch_pays_each_vendor_once_the_sum_of_its_claims():
    batch = a_batch()
    file = batch.transfer_file(DEBTOR, NOW)
    assert batch.id == payment_batch_id("b1")
    assert [(t.creditor_name, t.amount_cents) for t in file.transfers] == [
        ("Éditions Lœuf", 1234),
        ("Lecture Libre", 5),
    ]
    assert file.transfers[0].end_to_end_id == end_to_end_id([UUID(int=2), UUID(int=1)])
    assert file.execution_date == date(2028, 3, 3)
    assert [(p.amount_cents, p.creditor_iban) for p in batch.expected_payments()] == [
        (1234, VENDOR_IBAN),
        (5, VENDOR_IBAN),
    ]


@pytest.mark.parametrize(
    "changes",
    [
        {"claims": ()},
        {"payees": ((VENDOR, "Éditions Lœuf", VENDOR_IBAN),)},
        {"value_date": date(2028, 2, 1)},
        {"claims": ((UUID(int=1), VENDOR, 1), (UUID(int=1), VENDOR, 1))},
    ],
    ids=["no-claims", "a-vendor-without-payee", "value-date-past", "a-claim-twice"],
)
def test_a_bad_batch_is_refused(changes):
    with pytest.raises(InvalidPaymentBatch):
        a_batch(**changes)


def test_marking_a_batch_paid_twice_with_another_reference_is_refused_and_changes_nothing():
    batch = a_batch()
    assert batch.mark_paid(bank_reference="BANK-1", by="operator", now=NOW + DAY)
    assert not batch.mark_paid(bank_reference="BANK-1", by="operator", now=NOW + DAY)
    version = batch.version
    with pytest.raises(PaymentBatchStatusConflict):
        batch.mark_paid(bank_reference="BANK-2", by="operator", now=NOW + DAY)
    assert (batch.version, batch.bank_reference) == (version, "BANK-1")
