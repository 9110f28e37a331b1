"""One tree of domain errors, each with a stable snake_case code.

Everything a user can cause raises a `DomainError`; the API maps each family to one HTTP
status and renders the code in an RFC 9457 problem body. Programmer errors are assertions.
Library errors are converted to domain errors `from None` at the edge where they arise.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a user can cause. `code` is stable: clients match on it."""

    code = "domain_error"
    title = "The request was refused"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.details}


# Bad input: the request itself is wrong, whatever the state of the books.
class InvalidInput(DomainError):
    code = "invalid_input"
    title = "Invalid input"


class InvalidAmount(InvalidInput):
    code = "invalid_amount"
    title = "Invalid amount"


class InvalidIdentifier(InvalidInput):
    code = "invalid_identifier"
    title = "Invalid identifier"


class InvalidPeriod(InvalidInput):
    code = "invalid_period"
    title = "Invalid period"


class InvalidFunders(InvalidInput):
    code = "invalid_funders"
    title = "Invalid funders"


# Not found.
class NotFound(DomainError):
    code = "not_found"
    title = "Not found"


class CampaignNotFound(NotFound):
    code = "campaign_not_found"
    title = "Campaign not found"


class CreditAccountNotFound(NotFound):
    code = "credit_account_not_found"
    title = "Credit account not found"


class HoldNotFound(NotFound):
    code = "hold_not_found"
    title = "Hold not found"


# Conflicts with the state of the books.
class Conflict(DomainError):
    code = "conflict"
    title = "Conflict with the current state"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    title = "Idempotency key reused with a different request"


class CampaignNotOpen(Conflict):
    code = "campaign_not_open"
    title = "The campaign is not open"


class CampaignStillRunning(Conflict):
    code = "campaign_still_running"
    title = "The campaign's validity window has not ended"


class OutsideValidity(Conflict):
    code = "outside_campaign_validity"
    title = "Outside the campaign's validity window"


class BudgetExceeded(Conflict):
    code = "campaign_budget_exceeded"
    title = "The campaign budget is exceeded"


class InsufficientCredit(Conflict):
    code = "insufficient_credit"
    title = "Insufficient credit"


class TooManyPendingHolds(Conflict):
    code = "too_many_pending_holds"
    title = "Too many holds are pending on this account"


class CreditAccountExpired(Conflict):
    code = "credit_account_expired"
    title = "The credit account has expired"


class HoldAlreadyResolved(Conflict):
    code = "hold_already_resolved"
    title = "The hold is no longer pending"


class HoldExpired(Conflict):
    code = "hold_expired"
    title = "The hold has expired"


class CaptureExceedsHold(Conflict):
    code = "capture_exceeds_hold"
    title = "Capture exceeds the held amount"


class RefundExceedsCaptured(Conflict):
    code = "refund_exceeds_captured"
    title = "Refund exceeds the captured amount"


class HoldNotCaptured(Conflict):
    code = "hold_not_captured"
    title = "The hold was not captured"


class ConcurrencyConflict(Conflict):
    code = "concurrency_conflict"
    title = "Too many concurrent changes; retry"


class RequestInFlight(Conflict):
    code = "request_in_flight"
    title = "A request with this idempotency key is still being processed"


# Access: who may call what. Raised by the API's edge, never by the books.
class AccessDenied(DomainError):
    code = "access_denied"
    title = "Access denied"


class Unauthenticated(AccessDenied):
    code = "unauthenticated"
    title = "Authentication required"


class InvalidToken(Unauthenticated):
    code = "invalid_token"
    title = "The bearer token or API key is not valid"


class TokenExpired(Unauthenticated):
    code = "token_expired"
    title = "The bearer token has expired"


class Forbidden(AccessDenied):
    code = "forbidden"
    title = "Not allowed for this caller"


class OutsideTerritory(AccessDenied):
    code = "outside_territory"
    title = "Outside the authority's territory"


class RateLimited(DomainError):
    code = "rate_limited"
    title = "Too many requests; slow down"


class MalformedRequest(InvalidInput):
    code = "malformed_request"
    title = "The request could not be read"


class PayloadTooLarge(InvalidInput):
    code = "payload_too_large"
    title = "The request body is too large"


class InvalidSigningKey(InvalidInput):
    code = "invalid_signing_key"
    title = "The signing key is missing or unreadable"


# The store is unreachable or misconfigured: not the user's fault, but a clear message.
class StoreUnavailable(DomainError):
    code = "store_unavailable"
    title = "The event store is unavailable"


class SchemaNotMigrated(StoreUnavailable):
    code = "schema_not_migrated"
    title = "The database has not been migrated; run `tirelire migrate`"


# Identifiers (SIREN, SIRET, IBAN).
class InvalidSiren(InvalidIdentifier):
    code = "invalid_siren"
    title = "Invalid SIREN"


class InvalidSiret(InvalidIdentifier):
    code = "invalid_siret"
    title = "Invalid SIRET"


class InvalidIban(InvalidIdentifier):
    code = "invalid_iban"
    title = "Invalid IBAN"


# Vendors and their bank details.
class VendorNotFound(NotFound):
    code = "vendor_not_found"
    title = "Vendor not found"


class BankChangeNotFound(NotFound):
    code = "bank_change_not_found"
    title = "Bank details change not found"


class VendorStatusConflict(Conflict):
    code = "vendor_status_conflict"
    title = "The vendor's status does not allow this"


class BankChangePending(Conflict):
    code = "bank_change_pending"
    title = "A bank details change is already pending"


class BankChangeAlreadyReviewed(Conflict):
    code = "bank_change_already_reviewed"
    title = "The bank details change was already reviewed otherwise"


class ReviewerIsRequester(Conflict):
    code = "reviewer_is_requester"
    title = "A bank details change is reviewed by someone other than its requester"


class IbanNotReviewed(Conflict):
    code = "iban_not_reviewed"
    title = "No reviewed IBAN to pay the vendor on"


# The catalogue and its labels.
class ResourceNotFound(NotFound):
    code = "resource_not_found"
    title = "Resource not found"


class ResourceWithdrawn(Conflict):
    code = "resource_withdrawn"
    title = "The resource is withdrawn from the catalogue"


class ResourceAlreadyListed(Conflict):
    code = "resource_already_listed"
    title = "The resource is already listed"


class ResourceRevisionMismatch(Conflict):
    code = "resource_revision_mismatch"
    title = "The resource has a newer revision"


class ResourceChangedLater(Conflict):
    code = "resource_changed_later"
    title = "The resource changed after the time of this command"


class LabelAlreadyGranted(Conflict):
    code = "label_already_granted"
    title = "The label is already granted"


class LabelNotGranted(Conflict):
    code = "label_not_granted"
    title = "The label is not granted"


class ResourceNotEligible(Conflict):
    code = "resource_not_eligible"
    title = "The resource is not eligible for this credit"


def all_error_classes() -> list[type[DomainError]]:
    """Every class of the tree, for the API's mapping and for tests of code stability."""
    found: list[type[DomainError]] = []
    pending: list[type[DomainError]] = [DomainError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


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


# Device banks: donated computers from donor to pupil (`ledger.devices` and its family).
class InvalidUai(InvalidIdentifier):
    code = "invalid_uai"
    title = "Invalid UAI"


class InvalidWipeCertificate(InvalidInput):
    code = "invalid_wipe_certificate"
    title = "Invalid erasure certificate"


class TooManyDevices(InvalidInput):
    code = "too_many_devices"
    title = "Too many devices for one command"


class DeviceNotFound(NotFound):
    code = "device_not_found"
    title = "Device not found"


class LotNotFound(NotFound):
    code = "lot_not_found"
    title = "Lot not found"


class OrganisationNotFound(NotFound):
    code = "organisation_not_found"
    title = "Organisation not found"


class TerritoryNotFound(NotFound):
    code = "territory_not_found"
    title = "Territory not found"


class OrganisationNotApproved(Conflict):
    code = "organisation_not_approved"
    title = "The organisation is not approved for this role"


class NotCustodian(Conflict):
    code = "not_custodian"
    title = "The device is not in this party's custody"


class DeviceStageConflict(Conflict):
    code = "device_stage_conflict"
    title = "The device's stage does not allow this"


class HandoverAwaitingConfirmation(Conflict):
    code = "handover_awaiting_confirmation"
    title = "A handover of the device awaits confirmation"


class NoHandoverAwaiting(Conflict):
    code = "no_handover_awaiting_confirmation"
    title = "No handover of the device awaits this party's confirmation"


class WipeCertificateMissing(Conflict):
    code = "wipe_certificate_missing"
    title = "The device has no erasure certificate"


class WipeAlreadyCertified(Conflict):
    code = "wipe_already_certified"
    title = "The device already has another erasure certificate"


class DeviceUnfit(Conflict):
    code = "device_unfit"
    title = "The device was graded unfit for refurbishment"


class DeviceNotAllocated(Conflict):
    code = "device_not_allocated"
    title = "The device is not allocated to a pupil"


class SchoolMismatch(Conflict):
    code = "school_mismatch"
    title = "The device is allocated to a pupil of another school"


class DeviceCostCapExceeded(Conflict):
    code = "device_cost_cap_exceeded"
    title = "The programme's cap per equipped pupil is exceeded"


class TerritoryBudgetExceeded(Conflict):
    code = "territory_budget_exceeded"
    title = "The territory's programme budget is exceeded"


# Internet fund: levies on telecom operators, household subsidies, co-financing
# (`ledger.levies`, `ledger.subsidies`, `ledger.cofinancing`, `ledger.fund_app`).
class InvalidRate(InvalidInput):
    code = "invalid_rate"
    title = "Invalid contribution rate"


class InvalidHouseholdKey(InvalidInput):
    code = "invalid_household_key"
    title = "The household key is missing or unreadable"


class ContributionRateNotFound(NotFound):
    code = "contribution_rate_not_found"
    title = "No contribution rate is decided for this period"


class LevyNotFound(NotFound):
    code = "levy_not_found"
    title = "Levy not found"


class SubsidyNotFound(NotFound):
    code = "subsidy_not_found"
    title = "Household subsidy not found"


class CoFinancingNotFound(NotFound):
    code = "cofinancing_not_found"
    title = "No co-financing is open for this territory"


class RateAlreadyDecided(IdempotencyKeyReused):
    code = "rate_already_decided"
    title = "Another contribution rate is decided for this period"


class LevyAlreadyDeclared(IdempotencyKeyReused):
    code = "levy_already_declared"
    title = "The operator declared another revenue for this period; correct it instead"


class PaymentExceedsLevy(Conflict):
    code = "payment_exceeds_levy"
    title = "The payment exceeds what remains due on the levy"


class HouseholdAlreadySubsidised(IdempotencyKeyReused):
    code = "household_already_subsidised"
    title = "The household is already subsidised in this period"


class PupilAlreadySubsidised(Conflict):
    code = "pupil_already_subsidised"
    title = "Another household is already subsidised for this pupil in this period"


class DeviceNotDeliveredToPupil(Conflict):
    code = "device_not_delivered_to_pupil"
    title = "The device was not delivered to this pupil"


class InsufficientFund(Conflict):
    code = "insufficient_fund"
    title = "The fund's balance does not cover the subsidy"


class PaymentExceedsPledge(Conflict):
    code = "payment_exceeds_pledge"
    title = "The payment exceeds what the funder pledged and has not paid"


class MatchedAmountExceeded(Conflict):
    code = "matched_amount_exceeded"
    title = "The spend exceeds the matched co-financing"


class CoFinancingClosed(Conflict):
    code = "cofinancing_closed"
    title = "The territory's co-financing is closed"


# Audit proofs (`ledger.merkle`).
class InvalidProof(InvalidInput):
    """A proof that does not show what it claims; `reason` says which check refused it."""

    code = "invalid_proof"
    title = "The Merkle proof does not verify"


class InvalidTreeSize(InvalidInput):
    """A tree size or leaf index the log cannot answer for (beyond its size, or reversed)."""

    code = "invalid_tree_size"
    title = "No such tree size or leaf index in the log"


# Audit: signed checkpoints and exports of the log (`ledger.checkpoints`, `ledger.audit_log`).
class InvalidCheckpoint(InvalidInput):
    """A checkpoint whose fields are missing, malformed or out of range."""

    code = "invalid_checkpoint"
    title = "The checkpoint is malformed"


class InvalidCheckpointSignature(InvalidInput):
    """A checkpoint signature that does not verify under the given public key."""

    code = "invalid_checkpoint_signature"
    title = "The checkpoint signature does not verify"


class ExportMismatch(InvalidInput):
    """An export that is malformed or disagrees with its checkpoints; `line` names where."""

    code = "export_mismatch"
    title = "The export does not match its checkpoints"
