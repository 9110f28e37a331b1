"""Error codes are part of the API: clients match on them, so each is unique and stable."""

from __future__ import annotations

import inspect
import re

from ledger import errors
from ledger.errors import DomainError, all_error_classes

SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")

# Pinned: changing a code breaks clients. Add new codes here; never edit an existing one.
STABLE_CODES = {
    "DomainError": "domain_error",
    "InvalidInput": "invalid_input",
    "InvalidAmount": "invalid_amount",
    "InvalidIdentifier": "invalid_identifier",
    "InvalidPeriod": "invalid_period",
    "InvalidFunders": "invalid_funders",
    "NotFound": "not_found",
    "CampaignNotFound": "campaign_not_found",
    "CreditAccountNotFound": "credit_account_not_found",
    "HoldNotFound": "hold_not_found",
    "Conflict": "conflict",
    "IdempotencyKeyReused": "idempotency_key_reused",
    "CampaignNotOpen": "campaign_not_open",
    "CampaignStillRunning": "campaign_still_running",
    "OutsideValidity": "outside_campaign_validity",
    "BudgetExceeded": "campaign_budget_exceeded",
    "InsufficientCredit": "insufficient_credit",
    "TooManyPendingHolds": "too_many_pending_holds",
    "CreditAccountExpired": "credit_account_expired",
    "HoldAlreadyResolved": "hold_already_resolved",
    "HoldExpired": "hold_expired",
    "CaptureExceedsHold": "capture_exceeds_hold",
    "RefundExceedsCaptured": "refund_exceeds_captured",
    "HoldNotCaptured": "hold_not_captured",
    "ConcurrencyConflict": "concurrency_conflict",
    "RequestInFlight": "request_in_flight",
    "AccessDenied": "access_denied",
    "Unauthenticated": "unauthenticated",
    "InvalidToken": "invalid_token",
    "TokenExpired": "token_expired",
    "Forbidden": "forbidden",
    "OutsideTerritory": "outside_territory",
    "RateLimited": "rate_limited",
    "MalformedRequest": "malformed_request",
    "PayloadTooLarge": "payload_too_large",
    "InvalidSigningKey": "invalid_signing_key",
    "StoreUnavailable": "store_unavailable",
    "SchemaNotMigrated": "schema_not_migrated",
    "InvalidSiren": "invalid_siren",
    "InvalidSiret": "invalid_siret",
    "InvalidIban": "invalid_iban",
    "VendorNotFound": "vendor_not_found",
    "BankChangeNotFound": "bank_change_not_found",
    "VendorStatusConflict": "vendor_status_conflict",
    "BankChangePending": "bank_change_pending",
    "BankChangeAlreadyReviewed": "bank_change_already_reviewed",
    "ReviewerIsRequester": "reviewer_is_requester",
    "IbanNotReviewed": "iban_not_reviewed",
    "ResourceNotFound": "resource_not_found",
    "ResourceWithdrawn": "resource_withdrawn",
    "ResourceAlreadyListed": "resource_already_listed",
    "ResourceRevisionMismatch": "resource_revision_mismatch",
    "ResourceChangedLater": "resource_changed_later",
    "LabelAlreadyGranted": "label_already_granted",
    "LabelNotGranted": "label_not_granted",
    "ResourceNotEligible": "resource_not_eligible",
    "InvalidPaymentFile": "invalid_payment_file",
    "EmptyPaymentFile": "empty_payment_file",
    "TooManyTransfers": "too_many_transfers",
    "InvalidTransferAmount": "invalid_transfer_amount",
    "DuplicateEndToEndId": "duplicate_end_to_end_id",
    "InvalidPaymentText": "invalid_payment_text",
    "InvalidBic": "invalid_bic",
    "ExecutionDateInPast": "execution_date_in_past",
    "InvalidStatement": "invalid_statement",
    "InvalidStatementLine": "invalid_statement_line",
    "InvalidReimbursementRule": "invalid_reimbursement_rule",
    "OverlappingRules": "overlapping_reimbursement_rules",
    "InvalidClaim": "invalid_claim",
    "InvalidPaymentBatch": "invalid_payment_batch",
    "ClaimNotFound": "claim_not_found",
    "ClaimLineNotFound": "claim_line_not_found",
    "PaymentBatchNotFound": "payment_batch_not_found",
    "NoReimbursementRule": "no_reimbursement_rule",
    "RedemptionAlreadyClaimed": "redemption_already_claimed",
    "ClaimStatusConflict": "claim_status_conflict",
    "ClaimLineConflict": "claim_line_conflict",
    "ClaimAwaitingDisputes": "claim_awaiting_disputes",
    "DisputeWindowClosed": "dispute_window_closed",
    "PaymentBatchStatusConflict": "payment_batch_status_conflict",
    "InvalidUai": "invalid_uai",
    "InvalidWipeCertificate": "invalid_wipe_certificate",
    "TooManyDevices": "too_many_devices",
    "DeviceNotFound": "device_not_found",
    "LotNotFound": "lot_not_found",
    "OrganisationNotFound": "organisation_not_found",
    "TerritoryNotFound": "territory_not_found",
    "OrganisationNotApproved": "organisation_not_approved",
    "NotCustodian": "not_custodian",
    "DeviceStageConflict": "device_stage_conflict",
    "HandoverAwaitingConfirmation": "handover_awaiting_confirmation",
    "NoHandoverAwaiting": "no_handover_awaiting_confirmation",
    "WipeCertificateMissing": "wipe_certificate_missing",
    "WipeAlreadyCertified": "wipe_already_certified",
    "DeviceUnfit": "device_unfit",
    "DeviceNotAllocated": "device_not_allocated",
    "SchoolMismatch": "school_mismatch",
    "DeviceCostCapExceeded": "device_cost_cap_exceeded",
    "TerritoryBudgetExceeded": "territory_budget_exceeded",
    "InvalidRate": "invalid_rate",
    "InvalidHouseholdKey": "invalid_household_key",
    "ContributionRateNotFound": "contribution_rate_not_found",
    "LevyNotFound": "levy_not_found",
    "SubsidyNotFound": "subsidy_not_found",
    "CoFinancingNotFound": "cofinancing_not_found",
    "RateAlreadyDecided": "rate_already_decided",
    "LevyAlreadyDeclared": "levy_already_declared",
    "PaymentExceedsLevy": "payment_exceeds_levy",
    "HouseholdAlreadySubsidised": "household_already_subsidised",
    "PupilAlreadySubsidised": "pupil_already_subsidised",
    "DeviceNotDeliveredToPupil": "device_not_delivered_to_pupil",
    "InsufficientFund": "insufficient_fund",
    "PaymentExceedsPledge": "payment_exceeds_pledge",
    "MatchedAmountExceeded": "matched_amount_exceeded",
    "CoFinancingClosed": "cofinancing_closed",
    "InvalidProof": "invalid_proof",
    "InvalidTreeSize": "invalid_tree_size",
    "InvalidCheckpoint": "invalid_checkpoint",
    "InvalidCheckpointSignature": "invalid_checkpoint_signature",
    "ExportMismatch": "export_mismatch",
    "MalformedReport": "malformed_report",
    "ReportMismatch": "report_mismatch",
    "CheckpointNotFound": "checkpoint_not_found",
    "EventNotFound": "event_not_found",
    "CheckpointNotExtending": "checkpoint_not_extending",
    "CheckpointAlreadyCosigned": "checkpoint_already_cosigned",
    "CheckpointMismatch": "checkpoint_mismatch",
    "CheckpointNotKept": "checkpoint_not_kept",
}


def test_every_error_class_has_its_own_snake_case_code():
    codes = [cls.code for cls in all_error_classes()]
    assert all(SNAKE_CASE.match(code) for code in codes), codes
    assert len(codes) == len(set(codes))


def test_error_codes_are_stable():
    assert {cls.__name__: cls.code for cls in all_error_classes()} == STABLE_CODES


def test_every_error_class_of_the_module_is_in_the_tree():
    defined = {
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, DomainError)
    }
    assert defined == set(all_error_classes())


def test_every_error_class_has_a_title_of_its_own():
    titles = [cls.title for cls in all_error_classes()]
    assert all(titles) and len(titles) == len(set(titles))


def test_an_error_renders_its_code_message_and_details():
    error = errors.InsufficientCredit("9000 cents asked", asked_cents=9000)
    assert error.as_dict() == {
        "code": "insufficient_credit",
        "message": "9000 cents asked",
        "asked_cents": 9000,
    }
    assert isinstance(error, errors.Conflict)
