"""The base of the tree and the errors of the teacher's credit, vendors and catalogue."""

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
