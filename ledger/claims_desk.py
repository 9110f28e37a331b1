"""The claims desk: the application through which vendors claim reimbursement of their
redemptions and the operator reviews, batches and pays the claims (the rules live in
`ledger.claims`, `ledger.payments` and `ledger.reimbursement`).

Every command saves all it changes in one transaction: a claim with its redemption markers
and the vendor's yearly tally; a rejection with the markers it releases or closes; a batch
with each claim it takes; a payment with each claim it pays. On a concurrent write the
store refuses the save, and the command loads again and retries: a marker taken meanwhile
by another claim then refuses the redemption.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from uuid import UUID

from eventsourcing.domain import Aggregate

from ledger.application import LedgerApplication
from ledger.claims import (
    OVERTURNED,
    PAYABLE,
    RETURN_TO_CLAIMABLE,
    Claim,
    LineStatus,
    claim_id,
)
from ledger.commands import Refund, RefundReceipt
from ledger.credits import CreditAccount
from ledger.debit_notes import VendorDebits, vendor_debits_id
from ledger.errors import (
    ClaimNotFound,
    CreditAccountNotFound,
    InvalidStatement,
    PaymentBatchNotFound,
)
from ledger.ids import check_key, request_digest
from ledger.payments import Payees, PaymentBatch, check_payees, payment_batch_id
from ledger.redemption_claims import RedemptionClaim, redemption_claim_id
from ledger.reimbursement import (
    Redemption,
    RuleBook,
    VendorYear,
    check_redemptions,
    price_lines,
    reimbursement_year,
    vendor_year_id,
)
from ledger.sepa import Debtor, write_pain001
from ledger.settings import Settings
from ledger.statements import (
    MAX_STATEMENT_BYTES,
    ExpectedPayment,
    StatementLine,
    read_statement_camt053,
    read_statement_csv,
    reconcile,
)


class ClaimsDesk(LedgerApplication):
    """Vendors' claims, their review, and their payment in batches."""

    def __init__(self, settings: Settings, rule_book: RuleBook, **extra_env: str) -> None:
        self.rule_book = rule_book
        super().__init__(settings, **extra_env)

    # Claims ------------------------------------------------------------------------------

    def submit_claim(
        self,
        vendor_id: str,
        key: str,
        redemptions: Sequence[Redemption],
        *,
        by: str,
        now: datetime,
    ) -> UUID:
        """Claim redemptions under a client key; a retry answers the same claim id."""
        redemptions = check_redemptions(vendor_id, tuple(redemptions), now)
        new_id = claim_id(vendor_id, check_key(key))
        digest = request_digest(
            "submit_claim",
            vendor_id,
            tuple(
                (r.account_id, r.hold_id, r.captured_cents, r.captured_at.astimezone(UTC))
                for r in redemptions
            ),
        )

        def attempt():
            existing = self._find(new_id)
            if existing is not None:
                existing.check_same_request(digest)
                return new_id
            markers = [self._take_marker(r, new_id, by, now) for r in redemptions]
            year = reimbursement_year(now)
            tally = self._find(vendor_year_id(vendor_id, year)) or VendorYear.open(
                vendor_id=vendor_id, year=year, now=now
            )
            claim = Claim.submit(
                claim_id=new_id,
                claim_key=key,
                vendor_id=vendor_id,
                lines=price_lines(redemptions, self.rule_book, tally.total_cents),
                request_digest=digest,
                by=by,
                now=now,
            )
            captured = sum(r.captured_cents for r in redemptions)
            tally.count(claim_id=new_id, amount_cents=captured, now=now)
            self.record(claim, tally, *markers)
            return new_id

        return self.retrying(attempt, "the vendor's claims")

    def get_claim(self, claim_id: UUID) -> Claim:
        return self._get(claim_id, Claim, ClaimNotFound, "claim")

    def redemption_claim(self, hold_id: UUID) -> RedemptionClaim | None:
        """The marker of a redemption, or None if it was never claimed."""
        return self._find(redemption_claim_id(hold_id))

    def vendor_year_total_cents(self, vendor_id: str, year: int) -> int:
        tally = self._find(vendor_year_id(vendor_id, year))
        return 0 if tally is None else tally.total_cents

    def approve_claim(self, claim_id: UUID, *, by: str, now: datetime) -> None:
        """Approve the claim; lines cancelled for good give the teachers their credit back,
        as refunds on their accounts saved in the same transaction as the approval."""

        def command(claim: Claim) -> list[Aggregate]:
            claim.approve(by=by, now=now)
            return self._restore_cancelled(claim, by, now) if claim.pending_events else []

        self._change(claim_id, command)

    def _restore_cancelled(self, claim: Claim, by: str, now: datetime) -> list[Aggregate]:
        accounts: dict[UUID, CreditAccount] = {}
        for line in claim.lines.values():
            if line.status not in (LineStatus.CANCELLED, LineStatus.UPHELD):
                continue
            account = accounts.get(line.account_id) or self._get(
                line.account_id, CreditAccount, CreditAccountNotFound, "credit account"
            )
            accounts[line.account_id] = account
            # What the vendor refunded since the claim already came back to the teacher.
            hold = account.get_hold(line.hold_id)
            amount = min(line.captured_cents, hold.captured_cents - hold.refunded_cents)
            if amount <= 0:
                continue
            Refund(
                campaign_id=account.campaign_id,
                teacher_id=account.teacher_id,
                key=f"claim-cancel:{claim.id}:{line.hold_id}",
                by=by,
                now=now,
                hold_id=line.hold_id,
                amount_cents=amount,
            ).apply_to(account)
        return list(accounts.values())

    def reject_lines(
        self,
        claim_id: UUID,
        *,
        key: str,
        rejections: Sequence[tuple[UUID, str, str]],
        by: str,
        now: datetime,
    ) -> None:
        """Reject lines, each (hold id, reason, outcome); releases or closes their markers."""
        rejections = tuple((hold_id, reason, outcome) for hold_id, reason, outcome in rejections)
        digest = request_digest("reject_lines", rejections)

        def command(claim: Claim) -> list[Aggregate]:
            if not claim.reject_lines(
                key=check_key(key), digest=digest, rejections=rejections, by=by, now=now
            ):
                return []
            changed: list[Aggregate] = []
            for hold_id, _, outcome in rejections:
                marker = self._find(redemption_claim_id(hold_id))
                assert marker is not None, "every line has its marker"
                if outcome == RETURN_TO_CLAIMABLE:
                    marker.release(by=by, now=now)
                else:
                    marker.close(by=by, now=now)
                changed.append(marker)
            rejected = sum(claim.lines[hold_id].captured_cents for hold_id, _, _ in rejections)
            return [*changed, self._count(claim, -rejected, now)]

        self._change(claim_id, command)

    def dispute_line(
        self, claim_id: UUID, hold_id: UUID, *, key: str, reason: str, by: str, now: datetime
    ) -> None:
        digest = request_digest("dispute_line", hold_id, reason)

        def command(claim: Claim) -> list[Aggregate]:
            claim.dispute_line(
                key=check_key(key), digest=digest, hold_id=hold_id, reason=reason, by=by, now=now
            )
            return []

        self._change(claim_id, command)

    def decide_dispute(
        self, claim_id: UUID, hold_id: UUID, *, decision: str, by: str, now: datetime
    ) -> None:
        """Uphold or overturn a disputed rejection; an overturned line counts again."""

        def command(claim: Claim) -> list[Aggregate]:
            if not claim.decide_dispute(hold_id=hold_id, decision=decision, by=by, now=now):
                return []
            if decision != OVERTURNED:
                return []
            return [self._count(claim, claim.lines[hold_id].captured_cents, now)]

        self._change(claim_id, command)

    # Payment batches ---------------------------------------------------------------------

    def create_payment_batch(
        self,
        *,
        key: str,
        claim_ids: Sequence[UUID],
        value_date: date,
        payees: Payees,
        by: str,
        now: datetime,
    ) -> UUID:
        """Batch approved claims for payment on a value date; payees carry reviewed IBANs."""
        batch_id = payment_batch_id(check_key(key))
        payees = check_payees(payees)
        ids = tuple(sorted(claim_ids))
        digest = request_digest("create_payment_batch", ids, value_date, payees)

        def attempt():
            existing = self._find(batch_id)
            if existing is not None:
                existing.check_same_request(digest)
                return batch_id
            claims = [self.get_claim(i) for i in ids]
            for claim in claims:
                claim.add_to_batch(batch_id=batch_id, by=by, now=now)
            debits, notes = self._deduct_debit_notes(claims, batch_id, now)
            batch = PaymentBatch.create(
                debits=debits,
                batch_key=key,
                request_digest=digest,
                claims=tuple((c.id, c.vendor_id, c.payable_cents) for c in claims),
                payees=payees,
                value_date=value_date,
                by=by,
                now=now,
            )
            self.record(batch, *claims, *notes)
            return batch_id

        return self.retrying(attempt, "the claims")

    def _deduct_debit_notes(
        self, claims: Sequence[Claim], batch_id: UUID, now: datetime
    ) -> tuple[tuple[tuple[UUID, str, int], ...], list[VendorDebits]]:
        paying: dict[str, int] = {}
        for claim in claims:
            paying[claim.vendor_id] = paying.get(claim.vendor_id, 0) + claim.payable_cents
        debits: list[tuple[UUID, str, int]] = []
        changed: list[VendorDebits] = []
        for vendor_id, cents in sorted(paying.items()):
            notes = self._find(vendor_debits_id(vendor_id))
            if notes is None:
                continue
            deducted = notes.deduct(batch_id=batch_id, paying_cents=cents, now=now)
            debits.extend((note_id, vendor_id, amount) for note_id, amount in deducted)
            if deducted:
                changed.append(notes)
        return tuple(debits), changed

    # Refunds of claimed redemptions ------------------------------------------------------

    def refund(self, command: Refund) -> RefundReceipt:
        """A vendor's refund to a teacher. If the redemption is in a claim that will pay
        (or paid) its line, the same transaction raises a debit note on the vendor."""

        def attempt():
            account = self._get(
                command.account_id, CreditAccount, CreditAccountNotFound, "credit account"
            )
            receipt = command.apply_to(account)
            changed: list[Aggregate] = [account]
            if account.pending_events:
                changed.extend(self._refund_in_claim(account, receipt, command))
            self.record(*changed)
            return receipt

        return self.retrying(attempt, "the credit account")

    def debit_notes(self, vendor_id: str, position: int | None = None) -> VendorDebits | None:
        """A vendor's debit notes now, or as of a log position."""
        if position is None:
            return self._find(vendor_debits_id(vendor_id))
        return self.find_as_of(vendor_debits_id(vendor_id), position)

    def _refund_in_claim(
        self, account: CreditAccount, receipt: RefundReceipt, command: Refund
    ) -> list[Aggregate]:
        marker = self._find(redemption_claim_id(receipt.hold_id))
        if marker is None or marker.is_released:
            return []  # not in a claim: the vendor will claim what is left
        claim = self.get_claim(marker.claim_id)
        line = claim.lines[receipt.hold_id]
        captured = line.captured_cents
        if claim.refund_line(
            hold_id=receipt.hold_id,
            refund_id=receipt.refund_id,
            refunded_cents=receipt.amount_cents,
            now=command.now,
        ):
            # Under review: the line claims less, and the vendor's yearly tally counts less
            # (a line rejected or disputed is not counted in it).
            if line.status not in (LineStatus.SUBMITTED, LineStatus.OVERTURNED):
                return [claim]
            return [claim, self._count(claim, line.captured_cents - captured, command.now)]
        if line.status not in PAYABLE:
            return []  # a cancelled line approved gave the teacher back all that was left
        hold = account.get_hold(receipt.hold_id)
        notes = self._find(vendor_debits_id(hold.vendor_id)) or VendorDebits.open(
            vendor_id=hold.vendor_id, now=command.now
        )
        notes.raise_note(
            refund_id=receipt.refund_id,
            account_id=account.id,
            hold_id=receipt.hold_id,
            claim_id=claim.id,
            refunded_cents=receipt.amount_cents,
            captured_cents=line.captured_cents,
            reimbursed_cents=line.reimbursed_cents,
            by=command.by,
            now=command.now,
        )
        return [notes]

    def get_batch(self, batch_id: UUID) -> PaymentBatch:
        return self._get(batch_id, PaymentBatch, PaymentBatchNotFound, "payment batch")

    def payment_file(self, batch_id: UUID, *, debtor: Debtor, created_at: datetime) -> bytes:
        """The batch's pain.001 bytes, validated against the schema."""
        return write_pain001(self.get_batch(batch_id).transfer_file(debtor, created_at))

    def expected_payments(self, batch_id: UUID) -> tuple[ExpectedPayment, ...]:
        return self.get_batch(batch_id).expected_payments()

    def reconcile_statement(
        self, batch_id: UUID, statement: bytes, *, by: str, now: datetime
    ) -> PaymentBatch.StatementReconciled:
        """Read a bank statement (CSV or camt.053, told apart by its first bytes) against the
        batch and record what it showed: matched, unmatched with a reason, missing,
        duplicates. The same statement again records nothing and answers the same."""
        if len(statement) > MAX_STATEMENT_BYTES:
            raise InvalidStatement(f"a statement is at most {MAX_STATEMENT_BYTES} bytes")
        lines = read_statement(statement)
        digest = hashlib.sha256(statement).hexdigest()

        def attempt():
            batch = self.get_batch(batch_id)
            found = batch.record_reconciliation(
                digest, reconcile(batch.expected_payments(), lines), by=by, now=now
            )
            self.record(batch)
            return found

        return self.retrying(attempt, "the payment batch")

    def mark_batch_paid(
        self, batch_id: UUID, *, bank_reference: str, by: str, now: datetime
    ) -> None:
        """Record the bank's confirmation on the batch and on each of its claims."""

        def attempt():
            batch = self.get_batch(batch_id)
            if not batch.mark_paid(bank_reference=bank_reference, by=by, now=now):
                return
            claims = [self.get_claim(c) for c, _, _ in batch.claims]
            for claim in claims:
                claim.mark_paid(batch_id=batch_id, bank_reference=bank_reference, by=by, now=now)
            self.record(batch, *claims)

        return self.retrying(attempt, "the batch")

    # Plumbing ----------------------------------------------------------------------------

    def _take_marker(
        self, redemption: Redemption, claim_id: UUID, by: str, now: datetime
    ) -> RedemptionClaim:
        marker = self._find(redemption_claim_id(redemption.hold_id))
        if marker is None:
            return RedemptionClaim.take(
                account_id=redemption.account_id,
                hold_id=redemption.hold_id,
                claim_id=claim_id,
                by=by,
                now=now,
            )
        marker.take_again(claim_id=claim_id, by=by, now=now)
        return marker

    def _count(self, claim: Claim, amount_cents: int, now: datetime) -> VendorYear:
        tally = self._find(vendor_year_id(claim.vendor_id, reimbursement_year(claim.submitted_at)))
        assert tally is not None, "a claim's tally is saved with it"
        tally.count(claim_id=claim.id, amount_cents=amount_cents, now=now)
        return tally

    def _change(self, claim_id: UUID, command: Callable[[Claim], list[Aggregate]]) -> None:
        """Load, command, save the claim and what else changed; retry on a concurrent write."""

        def attempt():
            claim = self.get_claim(claim_id)
            others = command(claim)
            self.record(claim, *others)

        return self.retrying(attempt, "the claim")


def read_statement(statement: bytes) -> list[StatementLine]:
    if statement.lstrip()[:1] == b"<":
        return read_statement_camt053(statement)
    try:
        return read_statement_csv(statement.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InvalidStatement("a CSV statement is UTF-8 text") from None
