"""Claims: how a vendor asks the operator to pay back what teachers spent with it.

A captured hold is a **redemption**: money a teacher spent at a vendor, known by its
(account, hold) and its captured amount. The vendor is not paid at capture: it gathers
redemptions into a **claim** and submits it. Each line of the claim records what was
captured and what the operator will pay back for it (`ledger.reimbursement`: the rule in
force at capture, the tier from the vendor's yearly total), so the amount owed is fixed by
the submission itself and replays identically.

The operator reviews the claim. It may reject lines, each with a reason and an outcome:
*return to claimable* (the vendor may claim that redemption again, say once it sends the
missing invoice) or *cancel* (it will never be paid). A cancelled line may be *disputed*
by the vendor within `DISPUTE_WINDOW_DAYS` of its rejection; the operator's decision
*upholds* the rejection or *overturns* it (the line is paid after all). The claim is then
*approved* as a whole, once no dispute is open or still possible, and waits for payment:
it is *batched* (`ledger.payments`) and finally *paid*.

**A redemption is claimed once.** Each one has a marker, a `RedemptionClaim` aggregate
whose id derives from the hold's id alone. A submission saves the claim and the markers
of all its redemptions in one transaction: a second claim of the same redemption tries to
create the same marker (or to move it from the version it read), and the event store's
primary key refuses it, even under a race. A line returned to claimable *releases* its
marker, so a later claim can take it; a cancelled line *closes* it for good.

**The yearly total is a tally.** The tier of a line depends on what the vendor claimed
before it in the year, so that total is an aggregate too (`ledger.reimbursement.VendorYear`),
counted in the same transaction as the claim: two concurrent claims of one vendor cannot
both price their lines from the same total. Rejected lines are uncounted, overturned ones
counted again. The year is the calendar year (UTC) of the claim's submission.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from ledger.debit_notes import reimbursed_share
from ledger.errors import (
    ClaimAwaitingDisputes,
    ClaimLineConflict,
    ClaimLineNotFound,
    ClaimStatusConflict,
    DisputeWindowClosed,
    IdempotencyKeyReused,
    InvalidInput,
)
from ledger.ids import TIRELIRE_NAMESPACE
from ledger.reimbursement import MAX_CLAIM_LINES, Line

DISPUTE_WINDOW_DAYS = 30
MAX_REASON_LENGTH = 500

RETURN_TO_CLAIMABLE = "return_to_claimable"
CANCEL = "cancel"
UPHELD = "upheld"  # the rejection stands
OVERTURNED = "overturned"  # the rejection is undone: the line is paid

Rejections = tuple[tuple[UUID, str, str], ...]  # hold, reason, outcome


class ClaimStatus(Enum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    BATCHED = "batched"
    PAID = "paid"


class LineStatus(Enum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    RETURNED = "returned"  # rejected, back to claimable
    CANCELLED = "cancelled"  # rejected for good, unless a dispute overturns it
    DISPUTED = "disputed"
    OVERTURNED = "overturned"
    UPHELD = "upheld"


PAYABLE = (LineStatus.APPROVED, LineStatus.OVERTURNED)


@dataclass(slots=True)
class ClaimLine:
    """One redemption in a claim; changed only by the claim's events."""

    account_id: UUID
    hold_id: UUID
    captured_cents: int
    reimbursed_cents: int
    rule_id: str
    status: LineStatus = LineStatus.SUBMITTED
    rejected_at: datetime | None = None


def claim_id(vendor_id: str, key: str) -> UUID:
    return uuid5(TIRELIRE_NAMESPACE, f"claim:{vendor_id}:{key}")


class Claim(Aggregate):
    """A vendor's claim over some of its redemptions. The id is `claim_id(vendor, key)`."""

    class Event(Aggregate.Event):
        pass

    class Submitted(Aggregate.Created):
        claim_key: str
        vendor_id: str
        lines: tuple[Line, ...]
        request_digest: str
        submitted_by: str
        submitted_at: datetime

        def apply(self, claim: Claim) -> None:
            claim.claim_key = self.claim_key
            claim.vendor_id = self.vendor_id
            claim.lines = {line[1]: ClaimLine(*line) for line in self.lines}
            claim.request_digest = self.request_digest
            claim.submitted_at = self.submitted_at
            claim.status = ClaimStatus.SUBMITTED
            claim.outcomes = {}
            claim.batch_id = None
            claim.bank_reference = None

    class LinesRejected(Event):
        key: str
        digest: str
        rejections: Rejections
        rejected_by: str
        rejected_at: datetime

        def apply(self, claim: Claim) -> None:
            for hold_id, _, outcome in self.rejections:
                line = claim.lines[hold_id]
                returned = outcome == RETURN_TO_CLAIMABLE
                line.status = LineStatus.RETURNED if returned else LineStatus.CANCELLED
                line.rejected_at = self.rejected_at
            claim.outcomes[("reject_lines", self.key)] = self.digest

    class Disputed(Event):
        key: str
        digest: str
        hold_id: UUID
        reason: str
        disputed_by: str
        disputed_at: datetime

        def apply(self, claim: Claim) -> None:
            claim.lines[self.hold_id].status = LineStatus.DISPUTED
            claim.outcomes[("dispute_line", self.key)] = self.digest

    class DisputeDecided(Event):
        hold_id: UUID
        decision: str
        decided_by: str
        decided_at: datetime

        def apply(self, claim: Claim) -> None:
            status = LineStatus.UPHELD if self.decision == UPHELD else LineStatus.OVERTURNED
            claim.lines[self.hold_id].status = status

    class LineRefunded(Event):
        """The vendor refunded part of a line under review: the line claims less."""

        hold_id: UUID
        refund_id: UUID
        refunded_cents: int  # off the line's captured amount
        reimbursed_less_cents: int  # off its reimbursed amount, the rule's share
        refunded_at: datetime

        def apply(self, claim: Claim) -> None:
            line = claim.lines[self.hold_id]
            line.captured_cents -= self.refunded_cents
            line.reimbursed_cents -= self.reimbursed_less_cents

    class Approved(Event):
        payable_cents: int
        approved_by: str
        approved_at: datetime
        # For the books: whose claim, and what of the captured amount is not reimbursed.
        vendor_id: str = ""
        withheld_cents: int = 0

        def apply(self, claim: Claim) -> None:
            for line in claim.lines.values():
                if line.status is LineStatus.SUBMITTED:
                    line.status = LineStatus.APPROVED
            claim.status = ClaimStatus.APPROVED

    class Batched(Event):
        batch_id: UUID
        batched_by: str
        batched_at: datetime

        def apply(self, claim: Claim) -> None:
            claim.status = ClaimStatus.BATCHED
            claim.batch_id = self.batch_id

    class Paid(Event):
        batch_id: UUID
        bank_reference: str
        paid_by: str
        paid_at: datetime

        def apply(self, claim: Claim) -> None:
            claim.status = ClaimStatus.PAID
            claim.bank_reference = self.bank_reference

    # Commands ----------------------------------------------------------------------------

    @classmethod
    def submit(
        cls,
        *,
        claim_id: UUID,
        claim_key: str,
        vendor_id: str,
        lines: tuple[Line, ...],
        request_digest: str,
        by: str,
        now: datetime,
    ) -> Claim:
        assert 1 <= len(lines) <= MAX_CLAIM_LINES, "caller checks the redemptions"
        return cls._create(
            cls.Submitted,
            id=claim_id,
            timestamp=now,
            claim_key=claim_key,
            vendor_id=vendor_id,
            lines=lines,
            request_digest=request_digest,
            submitted_by=by,
            submitted_at=now,
        )

    def check_same_request(self, request_digest: str) -> None:
        if request_digest != self.request_digest:
            raise IdempotencyKeyReused(
                f"claim key {self.claim_key!r} was used for other redemptions", key=self.claim_key
            )

    def reject_lines(
        self, *, key: str, digest: str, rejections: Rejections, by: str, now: datetime
    ) -> bool:
        """Reject lines under review; False for a retry of a recorded rejection."""
        if self._is_retry("reject_lines", key, digest):
            return False
        self._check_status(ClaimStatus.SUBMITTED, "reject lines")
        if not rejections or len({r[0] for r in rejections}) != len(rejections):
            raise InvalidInput("reject each line once, at least one", field="rejections")
        for hold_id, reason, outcome in rejections:
            check_reason(reason)
            if outcome not in (RETURN_TO_CLAIMABLE, CANCEL):
                raise InvalidInput(f"unknown outcome {outcome!r}", field="outcome")
            self._line_in(hold_id, (LineStatus.SUBMITTED,), "reject")
        self.trigger_event(
            self.LinesRejected,
            timestamp=now,
            key=key,
            digest=digest,
            rejections=rejections,
            rejected_by=by,
            rejected_at=now,
        )
        return True

    def dispute_line(
        self, *, key: str, digest: str, hold_id: UUID, reason: str, by: str, now: datetime
    ) -> None:
        """The vendor contests a cancelled line, within the window after its rejection."""
        if self._is_retry("dispute_line", key, digest):
            return
        check_reason(reason)
        line = self._line_in(hold_id, (LineStatus.CANCELLED,), "dispute")
        if now >= self.dispute_deadline(line):
            raise DisputeWindowClosed(
                f"line {hold_id} could be disputed until {self.dispute_deadline(line)}"
            )
        self.trigger_event(
            self.Disputed,
            timestamp=now,
            key=key,
            digest=digest,
            hold_id=hold_id,
            reason=reason,
            disputed_by=by,
            disputed_at=now,
        )

    def decide_dispute(self, *, hold_id: UUID, decision: str, by: str, now: datetime) -> bool:
        """Uphold or overturn a rejection; False when that decision is already recorded."""
        if decision not in (UPHELD, OVERTURNED):
            raise InvalidInput(f"unknown decision {decision!r}", field="decision")
        line = self._line(hold_id)
        if line.status.value == decision:
            return False
        self._line_in(hold_id, (LineStatus.DISPUTED,), "decide a dispute on")
        self.trigger_event(
            self.DisputeDecided,
            timestamp=now,
            hold_id=hold_id,
            decision=decision,
            decided_by=by,
            decided_at=now,
        )
        return True

    def approve(self, *, by: str, now: datetime) -> None:
        """Approve what is left under review, once no dispute is open or still possible."""
        if self.status is not ClaimStatus.SUBMITTED:
            return  # approved already: a retry
        waiting = [
            str(line.hold_id)
            for line in self.lines.values()
            if line.status is LineStatus.DISPUTED
            or (line.status is LineStatus.CANCELLED and now < self.dispute_deadline(line))
        ]
        if waiting:
            raise ClaimAwaitingDisputes(
                f"{len(waiting)} lines have a dispute open or still possible", hold_ids=waiting
            )
        lines = [
            line for line in self.lines.values() if line.status in (*PAYABLE, LineStatus.SUBMITTED)
        ]
        payable = sum(line.reimbursed_cents for line in lines)
        cancelled = any(
            line.status in (LineStatus.CANCELLED, LineStatus.UPHELD) for line in self.lines.values()
        )
        # A claim cancelled in full is approved all the same: its approval is what gives the
        # teachers their credit back (see `ClaimsDesk.approve_claim`); it pays nothing.
        if payable == 0 and not cancelled:
            raise ClaimStatusConflict("the claim has nothing left to pay", status="submitted")
        self.trigger_event(
            self.Approved,
            timestamp=now,
            payable_cents=payable,
            approved_by=by,
            approved_at=now,
            vendor_id=self.vendor_id,
            withheld_cents=sum(line.captured_cents for line in lines) - payable,
        )

    def refund_line(
        self, *, hold_id: UUID, refund_id: UUID, refunded_cents: int, now: datetime
    ) -> bool:
        """Take a refund off a line while the claim is under review; False once approved
        (a refund then raises a debit note, `ledger.debit_notes`)."""
        line = self._line(hold_id)
        if self.status is not ClaimStatus.SUBMITTED or line.status is LineStatus.RETURNED:
            return False
        refunded = min(refunded_cents, line.captured_cents)
        if refunded <= 0:
            return False
        self.trigger_event(
            self.LineRefunded,
            timestamp=now,
            hold_id=hold_id,
            refund_id=refund_id,
            refunded_cents=refunded,
            reimbursed_less_cents=reimbursed_share(
                refunded, line.captured_cents, line.reimbursed_cents
            ),
            refunded_at=now,
        )
        return True

    def add_to_batch(self, *, batch_id: UUID, by: str, now: datetime) -> None:
        if self.batch_id == batch_id:
            return
        self._check_status(ClaimStatus.APPROVED, "batch the claim")
        if self.payable_cents == 0:
            raise ClaimStatusConflict(
                "the claim pays nothing: it has no place in a batch", status=self.status.value
            )
        self.trigger_event(
            self.Batched, timestamp=now, batch_id=batch_id, batched_by=by, batched_at=now
        )

    def mark_paid(self, *, batch_id: UUID, bank_reference: str, by: str, now: datetime) -> None:
        assert batch_id == self.batch_id, "the batch pays its own claims"
        if self.status is ClaimStatus.PAID:
            return  # the batch checks the bank reference
        self._check_status(ClaimStatus.BATCHED, "mark the claim paid")
        self.trigger_event(
            self.Paid,
            timestamp=now,
            batch_id=batch_id,
            bank_reference=bank_reference,
            paid_by=by,
            paid_at=now,
        )

    # Guards and queries ------------------------------------------------------------------

    def _is_retry(self, command: str, key: str, digest: str) -> bool:
        seen = self.outcomes.get((command, key))
        if seen is not None and seen != digest:
            raise IdempotencyKeyReused(f"key {key!r} was used for another {command}", key=key)
        return seen is not None

    def _check_status(self, expected: ClaimStatus, what: str) -> None:
        if self.status is not expected:
            raise ClaimStatusConflict(
                f"cannot {what}: the claim is {self.status.value}", status=self.status.value
            )

    def _line(self, hold_id: UUID) -> ClaimLine:
        try:
            return self.lines[hold_id]
        except KeyError:
            raise ClaimLineNotFound(f"no line for hold {hold_id} in this claim") from None

    def _line_in(self, hold_id: UUID, statuses: tuple[LineStatus, ...], what: str) -> ClaimLine:
        line = self._line(hold_id)
        if line.status not in statuses:
            raise ClaimLineConflict(
                f"cannot {what} line {hold_id}: it is {line.status.value}",
                status=line.status.value,
            )
        return line

    @staticmethod
    def dispute_deadline(line: ClaimLine) -> datetime:
        assert line.rejected_at is not None, "only a rejected line has a deadline"
        return line.rejected_at + timedelta(days=DISPUTE_WINDOW_DAYS)

    @property
    def payable_cents(self) -> int:
        return sum(line.reimbursed_cents for line in self.lines.values() if line.status in PAYABLE)


def check_reason(reason: str) -> None:
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON_LENGTH:
        raise InvalidInput(f"a reason has 1 to {MAX_REASON_LENGTH} characters", field="reason")
