"""Errors of the device banks: donated computers from donor to pupil."""

from __future__ import annotations

from ledger.errors.base import Conflict, InvalidIdentifier, InvalidInput, NotFound


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
