"""The claims desk on the in-memory store: claim, review, batch, pay, reconcile."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pytest
from eventsourcing.persistence import IntegrityError

from ledger.claims import (
    CANCEL,
    OVERTURNED,
    RETURN_TO_CLAIMABLE,
    Claim,
    ClaimStatus,
    claim_id,
)
from ledger.claims_desk import ClaimsDesk
from ledger.errors import (
    ClaimNotFound,
    ClaimStatusConflict,
    IdempotencyKeyReused,
    NoReimbursementRule,
    RedemptionAlreadyClaimed,
)
from ledger.payments import BatchStatus
from ledger.redemption_claims import RedemptionClaim
from ledger.reimbursement import Redemption, ReimbursementRule, RuleBook
from ledger.sepa import Debtor, check_pain001
from ledger.settings import Settings
from ledger.statements import StatementLine, reconcile

START = datetime(2028, 1, 1, tzinfo=UTC)
NOW = datetime(2028, 3, 1, 10, tzinfo=UTC)
DAY = timedelta(days=1)
VENDOR = "vendor-1"
VENDOR_IBAN = "DE89370400440532013000"
DEBTOR = Debtor("Tirelire Crédit Éducation", "FR7630006000011234567890189")
ACCOUNT = UUID(int=100)
# 100 % up to 50 000 €, then 90 %.
RULES = RuleBook(
    (ReimbursementRule("rule-2028", START, START + 366 * DAY, ((0, 10_000), (5_000_000, 9_000))),)
)


@pytest.fixture
def desk(memory_settings: Settings) -> ClaimsDesk:
    return ClaimsDesk(memory_settings, RULES)


def redemption(number: int, cents: int = 1000, vendor: str = VENDOR) -> Redemption:
    """The capture of hold `number`, a minute after the one before."""
    captured_at = NOW - DAY + number * timedelta(minutes=1)
    return Redemption(ACCOUNT, UUID(int=number), vendor, cents, captured_at)


def submit(desk: ClaimsDesk, key: str, *numbers: int, cents: int = 1000) -> UUID:
    return desk.submit_claim(
        VENDOR, key, [redemption(n, cents) for n in numbers], by="vendor-user", now=NOW
    )


def test_a_submitted_claim_prices_its_lines_and_takes_their_markers(desk):
    claim = desk.get_claim(submit(desk, "c1", 1, 2))
    assert [line.reimbursed_cents for line in claim.lines.values()] == [1000, 1000]
    assert desk.redemption_claim(UUID(int=1)).claim_id == claim.id
    assert desk.vendor_year_total_cents(VENDOR, 2028) == 2000


def test_lines_beyond_the_threshold_of_the_yearly_total_are_paid_at_the_lower_rate(desk):
    submit(desk, "c1", 1, cents=4_999_000)
    claim = desk.get_claim(submit(desk, "c2", 2, cents=3000))
    assert [line.reimbursed_cents for line in claim.lines.values()] == [1000 + 1800]


def test_resubmitting_a_claim_with_its_key_answers_the_same_id_and_records_nothing(desk):
    first = submit(desk, "c1", 1, 2)
    assert submit(desk, "c1", 2, 1) == first
    assert desk.get_claim(first).version == 1
    with pytest.raises(IdempotencyKeyReused):
        submit(desk, "c1", 1)
    assert desk.vendor_year_total_cents(VENDOR, 2028) == 2000


def test_a_redemption_in_a_second_claim_is_refused_and_changes_nothing(desk):
    first = submit(desk, "c1", 1, 2)
    with pytest.raises(RedemptionAlreadyClaimed):
        submit(desk, "c2", 3, 2)
    with pytest.raises(ClaimNotFound):
        desk.get_claim(claim_id(VENDOR, "c2"))
    assert desk.redemption_claim(UUID(int=3)) is None
    assert desk.redemption_claim(UUID(int=2)).claim_id == first
    assert desk.vendor_year_total_cents(VENDOR, 2028) == 2000


def test_a_redemption_submitted_in_two_claims_is_refused_by_the_store_itself(desk):
    # Two submissions racing: each built its marker having seen none.
    def claim_and_marker(key: str) -> tuple[Claim, RedemptionClaim]:
        new_id = claim_id(VENDOR, key)
        line = (ACCOUNT, UUID(int=1), 1000, 1000, "rule-2028")
        claim = Claim.submit(
            claim_id=new_id,
            claim_key=key,
            vendor_id=VENDOR,
            lines=(line,),
            request_digest=key,
            by="vendor-user",
            now=NOW,
        )
        marker = RedemptionClaim.take(
            account_id=ACCOUNT, hold_id=UUID(int=1), claim_id=new_id, by="vendor-user", now=NOW
        )
        return claim, marker

    first, second = claim_and_marker("c1"), claim_and_marker("c2")
    desk.record(*first)
    with pytest.raises(IntegrityError):
        desk.record(*second)
    with pytest.raises(ClaimNotFound):
        desk.get_claim(claim_id(VENDOR, "c2"))
    assert desk.redemption_claim(UUID(int=1)).claim_id == claim_id(VENDOR, "c1")


def test_a_line_returned_to_claimable_can_be_claimed_again(desk):
    first = submit(desk, "c1", 1, 2)
    rejections = [(UUID(int=2), "invoice missing", RETURN_TO_CLAIMABLE)]
    desk.reject_lines(first, key="r1", rejections=rejections, by="operator", now=NOW + DAY)
    desk.reject_lines(first, key="r1", rejections=rejections, by="operator", now=NOW + DAY)
    assert desk.vendor_year_total_cents(VENDOR, 2028) == 1000
    second = submit(desk, "c2", 2)
    assert desk.redemption_claim(UUID(int=2)).claim_id == second
    assert desk.vendor_year_total_cents(VENDOR, 2028) == 2000


def test_a_cancelled_line_is_never_claimed_again(desk):
    first = submit(desk, "c1", 1, 2)
    rejections = [(UUID(int=2), "not an EdTech resource", CANCEL)]
    desk.reject_lines(first, key="r1", rejections=rejections, by="operator", now=NOW + DAY)
    with pytest.raises(RedemptionAlreadyClaimed):
        submit(desk, "c2", 2)
    assert desk.redemption_claim(UUID(int=2)).is_closed


def test_an_overturned_line_counts_again_and_is_paid(desk):
    first = submit(desk, "c1", 1, 2)
    hold = UUID(int=2)
    rejections = [(hold, "price too high", CANCEL)]
    desk.reject_lines(first, key="r1", rejections=rejections, by="operator", now=NOW + DAY)
    desk.dispute_line(first, hold, key="d1", reason="list price", by="vendor", now=NOW + 2 * DAY)
    desk.decide_dispute(first, hold, decision=OVERTURNED, by="operator", now=NOW + 3 * DAY)
    desk.decide_dispute(first, hold, decision=OVERTURNED, by="operator", now=NOW + 3 * DAY)
    desk.approve_claim(first, by="operator", now=NOW + 3 * DAY)
    assert desk.get_claim(first).payable_cents == 2000
    assert desk.vendor_year_total_cents(VENDOR, 2028) == 2000


def test_a_redemption_captured_when_no_rule_is_in_force_is_refused(desk):
    early = Redemption(ACCOUNT, UUID(int=1), VENDOR, 1000, START - DAY)
    with pytest.raises(NoReimbursementRule):
        desk.submit_claim(VENDOR, "c1", [early], by="vendor-user", now=NOW)
    assert desk.redemption_claim(UUID(int=1)) is None


def test_approved_claims_are_batched_paid_by_a_transfer_file_and_reconciled(desk):
    first, second = submit(desk, "c1", 1, 2), submit(desk, "c2", 3, cents=250)
    for claim in (first, second):
        desk.approve_claim(claim, by="operator", now=NOW + DAY)
    batch_id = desk.create_payment_batch(
        key="batch-2028-03",
        claim_ids=[first, second],
        value_date=date(2028, 3, 6),
        payees=[(VENDOR, "Éditions Lœuf", VENDOR_IBAN)],
        by="operator",
        now=NOW + DAY,
    )
    xml = desk.payment_file(batch_id, debtor=DEBTOR, created_at=NOW + DAY)
    check_pain001(xml)
    assert b"<CtrlSum>22.50</CtrlSum>" in xml
    (expected,) = desk.expected_payments(batch_id)
    assert expected.end_to_end_id.encode() in xml

    desk.mark_batch_paid(batch_id, bank_reference="BQ-0042", by="operator", now=NOW + 5 * DAY)
    desk.mark_batch_paid(batch_id, bank_reference="BQ-0042", by="operator", now=NOW + 5 * DAY)
    assert desk.get_batch(batch_id).status is BatchStatus.PAID
    assert {desk.get_claim(c).status for c in (first, second)} == {ClaimStatus.PAID}

    line = StatementLine(
        line_number=1,
        booked_on=date(2028, 3, 6),
        amount_cents=-expected.amount_cents,
        reference=expected.end_to_end_id,
        counterparty_iban=VENDOR_IBAN,
        bank_reference="BQ-0042",
    )
    result = reconcile([expected], [line])
    assert result.is_complete and result.matched[0].expected == expected


def test_a_claim_in_a_batch_is_not_batched_again(desk):
    first = submit(desk, "c1", 1)
    desk.approve_claim(first, by="operator", now=NOW + DAY)
    payees = [(VENDOR, "Éditions Lœuf", VENDOR_IBAN)]
    batch = {"claim_ids": [first], "value_date": date(2028, 3, 6), "payees": payees}
    one = desk.create_payment_batch(key="b1", **batch, by="operator", now=NOW + DAY)
    assert desk.create_payment_batch(key="b1", **batch, by="operator", now=NOW + DAY) == one
    with pytest.raises(ClaimStatusConflict):
        desk.create_payment_batch(key="b2", **batch, by="operator", now=NOW + DAY)
    assert desk.get_claim(first).batch_id == one
