"""Debit notes and refunds of claimed lines, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from ledger.claims import Claim, ClaimStatus
from ledger.debit_notes import VendorDebits, reimbursed_share

NOW = datetime(2028, 3, 1, tzinfo=UTC)
BATCH = UUID(int=999)


def debits_with(*amounts: int) -> VendorDebits:
    """Notes of a 100 % line, one a minute, in the order given."""
    debits = VendorDebits.open(vendor_id="v", now=NOW)
    for n, cents in enumerate(amounts):
        debits.raise_note(
            refund_id=UUID(int=n + 1),
            account_id=UUID(int=100),
            hold_id=UUID(int=200 + n),
            claim_id=UUID(int=300),
            refunded_cents=cents,
            captured_cents=10_000,
            reimbursed_cents=10_000,
            by="vendor",
            now=NOW + timedelta(minutes=n),
        )
    return debits


def test_notes_are_deducted_oldest_first_while_the_transfer_stays_positive():
    debits = debits_with(300, 900, 200)
    assert debits.deduct(batch_id=BATCH, paying_cents=600, now=NOW) == (
        (UUID(int=1), 300),
        (UUID(int=3), 200),  # 900 does not fit in what is left; it waits
    )
    assert [n.debit_cents for n in debits.open_notes()] == [900]
    assert debits.deduct(batch_id=UUID(int=1000), paying_cents=900, now=NOW) == ()
    assert debits.open_cents == 900


def test_a_note_as_large_as_the_payment_waits_so_no_transfer_is_zero():
    debits = debits_with(500)
    assert debits.deduct(batch_id=BATCH, paying_cents=500, now=NOW) == ()
    assert debits.deduct(batch_id=BATCH, paying_cents=501, now=NOW) == ((UUID(int=1), 500),)


@given(
    captured=st.integers(1, 10**7),
    rate=st.integers(0, 10_000),
    data=st.data(),
)
def test_the_reimbursed_share_never_exceeds_the_refund_nor_what_was_paid(captured, rate, data):
    reimbursed = captured * rate // 10_000
    refunded = data.draw(st.integers(1, captured))
    share = reimbursed_share(refunded, captured, reimbursed)
    assert 0 <= share <= refunded
    assert share * captured <= refunded * reimbursed < (share + 1) * captured


def a_claim() -> Claim:
    line = (UUID(int=100), UUID(int=1), 2500, 2250, "ninety")
    return Claim.submit(
        claim_id=UUID(int=300),
        claim_key="c",
        vendor_id="v",
        lines=(line,),
        request_digest="d",
        by="vendor",
        now=NOW,
    )


def test_a_refund_under_review_takes_the_rule_s_share_off_the_line():
    claim = a_claim()
    assert claim.refund_line(
        hold_id=UUID(int=1), refund_id=UUID(int=7), refunded_cents=1000, now=NOW
    )
    line = claim.lines[UUID(int=1)]
    assert (line.captured_cents, line.reimbursed_cents) == (1500, 1350)


def test_a_refund_after_approval_leaves_the_line_as_it_was():
    claim = a_claim()
    claim.approve(by="op", now=NOW)
    assert claim.status is ClaimStatus.APPROVED
    assert not claim.refund_line(
        hold_id=UUID(int=1), refund_id=UUID(int=7), refunded_cents=1000, now=NOW
    )
    assert claim.lines[UUID(int=1)].captured_cents == 2500
