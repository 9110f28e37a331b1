"""Errors of payment files, bank statements, claims and payment batches."""

from __future__ import annotations

from ledger.errors.base import Conflict, InvalidAmount, InvalidIdentifier, InvalidInput, NotFound


# Payment files.
class InvalidPaymentFile(InvalidInput):
    code = "invalid_payment_file"
    title = "The payment file does not match its schema"


class EmptyPaymentFile(InvalidInput):
    code = "empty_payment_file"
    title = "A payment file needs at least one transfer"


class TooManyTransfers(InvalidInput):
    code = "too_many_transfers"
    title = "Too many transfers for one payment file"


class InvalidTransferAmount(InvalidAmount):
    code = "invalid_transfer_amount"
    title = "Invalid transfer amount"


class DuplicateEndToEndId(InvalidInput):
    code = "duplicate_end_to_end_id"
    title = "Two transfers of a payment file share an end-to-end id"


class InvalidPaymentText(InvalidInput):
    code = "invalid_payment_text"
    title = "Text not allowed in a SEPA payment file"


class InvalidBic(InvalidIdentifier):
    code = "invalid_bic"
    title = "Invalid BIC"


class ExecutionDateInPast(InvalidInput):
    code = "execution_date_in_past"
    title = "The execution date is before the payment file was created"


# Bank statements.
class InvalidStatement(InvalidInput):
    code = "invalid_statement"
    title = "Invalid bank statement"


class InvalidStatementLine(InvalidStatement):
    code = "invalid_statement_line"
    title = "Invalid bank statement line"


# Claims and payments.
class InvalidReimbursementRule(InvalidInput):
    code = "invalid_reimbursement_rule"
    title = "Invalid reimbursement rule"


class OverlappingRules(InvalidReimbursementRule):
    code = "overlapping_reimbursement_rules"
    title = "Two reimbursement rules are in force at the same moment"


class InvalidClaim(InvalidInput):
    code = "invalid_claim"
    title = "Invalid claim"


class InvalidPaymentBatch(InvalidInput):
    code = "invalid_payment_batch"
    title = "Invalid payment batch"


class ClaimNotFound(NotFound):
    code = "claim_not_found"
    title = "Claim not found"


class ClaimLineNotFound(NotFound):
    code = "claim_line_not_found"
    title = "No such line on the claim"


class PaymentBatchNotFound(NotFound):
    code = "payment_batch_not_found"
    title = "Payment batch not found"


class NoReimbursementRule(Conflict):
    code = "no_reimbursement_rule"
    title = "No reimbursement rule is in force at that moment"


class RedemptionAlreadyClaimed(Conflict):
    code = "redemption_already_claimed"
    title = "The redemption is already in a claim"


class ClaimStatusConflict(Conflict):
    code = "claim_status_conflict"
    title = "The claim's status does not allow this"


class ClaimLineConflict(Conflict):
    code = "claim_line_conflict"
    title = "The claim line's status does not allow this"


class ClaimAwaitingDisputes(Conflict):
    code = "claim_awaiting_disputes"
    title = "The claim has disputes open or still possible"


class DisputeWindowClosed(Conflict):
    code = "dispute_window_closed"
    title = "The time to dispute this rejection has passed"


class PaymentBatchStatusConflict(Conflict):
    code = "payment_batch_status_conflict"
    title = "The payment batch's status does not allow this"
