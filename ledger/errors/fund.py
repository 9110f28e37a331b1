"""Errors of the internet fund: levies, household subsidies, co-financing."""

from __future__ import annotations

from ledger.errors.base import Conflict, IdempotencyKeyReused, InvalidInput, NotFound


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
