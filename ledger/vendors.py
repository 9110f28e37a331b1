"""Vendors: the EdTech companies teachers spend their credit at, and where they are paid.

A vendor is a company, so it is known by its SIREN: its id is derived from the SIREN, and
a company applies once. Its application names the establishment (SIRET) that trades, a
contact reference (an opaque token: the person behind it lives elsewhere, so the books
never hold personal data) and the IBAN it wants to be paid on.

The operator reviews the application: *applied* ends *approved* or *rejected*. An approved
vendor can be *suspended* (its teachers' orders and its claims stop) and *reinstated*
(approved again). A command whose outcome already holds (approving an approved vendor) is a
retry and records nothing; any other move outside this lifecycle is refused.

Money goes to bank details the operator has reviewed, never to what a vendor merely typed.
The IBAN of the application is reviewed by the application's approval. Later a vendor asks
for a **bank change**: a keyed request that stays *pending*, one at a time, until another
person than its requester approves or rejects it. The vendor keeps being paid on its
reviewed IBAN meanwhile. Every reviewed IBAN is kept with the moment it came into force, so
`iban_at(moment)` says where a payment made at that moment had to go.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from ledger.errors import (
    BankChangeAlreadyReviewed,
    BankChangeNotFound,
    BankChangePending,
    IbanNotReviewed,
    IdempotencyKeyReused,
    InvalidInput,
    ReviewerIsRequester,
    VendorStatusConflict,
)
from ledger.identifiers import InvalidSiret, check_iban, check_siren, check_siret
from ledger.ids import TIRELIRE_NAMESPACE, check_opaque_id, request_digest

MAX_LEGAL_NAME_LENGTH = 200
MAX_REASON_LENGTH = 500


class VendorStatus(Enum):
    APPLIED = "applied"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUSPENDED = "suspended"


class BankChangeStatus(Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class BankDetails:
    """A reviewed IBAN and the moment from which payments go to it."""

    iban: str
    in_force_from: datetime


@dataclass(slots=True)
class BankChange:
    """A vendor's request for new bank details; changed only by the vendor's events."""

    change_id: UUID
    digest: str
    iban: str
    requested_by: str
    status: BankChangeStatus = BankChangeStatus.PENDING


# command: (the statuses it starts from, the status it ends in)
TRANSITIONS = {
    "approve": ((VendorStatus.APPLIED,), VendorStatus.APPROVED),
    "reject": ((VendorStatus.APPLIED,), VendorStatus.REJECTED),
    "suspend": ((VendorStatus.APPROVED,), VendorStatus.SUSPENDED),
    "reinstate": ((VendorStatus.SUSPENDED,), VendorStatus.APPROVED),
}


def vendor_id(siren: str) -> UUID:
    """The id of the vendor of a SIREN: one company, one vendor."""
    return uuid5(TIRELIRE_NAMESPACE, f"vendor:{check_siren(siren)}")


class Vendor(Aggregate):
    """An EdTech company listed to take teachers' credit. The id is `vendor_id(siren)`."""

    class Event(Aggregate.Event):
        pass

    class Applied(Aggregate.Created):
        legal_name: str
        siren: str
        siret: str
        contact_ref: str
        iban: str
        request_digest: str
        applied_by: str
        applied_at: datetime

        def apply(self, vendor: Vendor) -> None:
            vendor.legal_name = self.legal_name
            vendor.siren = self.siren
            vendor.siret = self.siret
            vendor.contact_ref = self.contact_ref
            vendor.applied_iban = self.iban
            vendor.request_digest = self.request_digest
            vendor.status = VendorStatus.APPLIED
            vendor.bank_history = ()
            vendor.bank_changes = {}

    class Approved(Event):
        iban: str  # the application's IBAN, reviewed with it
        approved_by: str
        approved_at: datetime

        def apply(self, vendor: Vendor) -> None:
            vendor.status = VendorStatus.APPROVED
            vendor.bank_history = (BankDetails(self.iban, self.approved_at),)

    class Rejected(Event):
        reason: str
        rejected_by: str
        rejected_at: datetime

        def apply(self, vendor: Vendor) -> None:
            vendor.status = VendorStatus.REJECTED

    class Suspended(Event):
        reason: str
        suspended_by: str
        suspended_at: datetime

        def apply(self, vendor: Vendor) -> None:
            vendor.status = VendorStatus.SUSPENDED

    class Reinstated(Event):
        reinstated_by: str
        reinstated_at: datetime

        def apply(self, vendor: Vendor) -> None:
            vendor.status = VendorStatus.APPROVED

    class BankDetailsChangeRequested(Event):
        change_id: UUID
        digest: str
        iban: str
        requested_by: str
        requested_at: datetime

        def apply(self, vendor: Vendor) -> None:
            vendor.bank_changes[self.change_id] = BankChange(
                self.change_id, self.digest, self.iban, self.requested_by
            )

    class BankDetailsChangeApproved(Event):
        change_id: UUID
        iban: str
        reviewed_by: str
        reviewed_at: datetime

        def apply(self, vendor: Vendor) -> None:
            vendor.bank_changes[self.change_id].status = BankChangeStatus.APPROVED
            details = BankDetails(self.iban, self.reviewed_at)
            vendor.bank_history = (*vendor.bank_history, details)

    class BankDetailsChangeRejected(Event):
        change_id: UUID
        reason: str
        reviewed_by: str
        reviewed_at: datetime

        def apply(self, vendor: Vendor) -> None:
            vendor.bank_changes[self.change_id].status = BankChangeStatus.REJECTED

    # Commands ----------------------------------------------------------------------------

    @classmethod
    def apply_to_be_listed(
        cls,
        *,
        legal_name: str,
        siren: str,
        siret: str,
        contact_ref: str,
        iban: str,
        by: str,
        now: datetime,
    ) -> Vendor:
        """A company's application, with its identifiers as typed (`ledger.identifiers`)."""
        siren, siret, iban = check_siren(siren), check_siret(siret), check_iban(iban)
        check_text(legal_name, "legal name", MAX_LEGAL_NAME_LENGTH)
        legal_name = legal_name.strip()
        check_opaque_id(contact_ref, "contact reference")
        if siret[:9] != siren:
            raise InvalidSiret(
                f"SIRET {siret} is not an establishment of SIREN {siren}",
                field="SIRET",
                reason="other_company",
            )
        return cls._create(
            cls.Applied,
            id=vendor_id(siren),
            timestamp=now,
            legal_name=legal_name,
            siren=siren,
            siret=siret,
            contact_ref=contact_ref,
            iban=iban,
            request_digest=request_digest(
                "apply_vendor", legal_name, siren, siret, contact_ref, iban
            ),
            applied_by=by,
            applied_at=now,
        )

    def check_same_request(self, request_digest: str) -> None:
        if request_digest != self.request_digest:
            raise IdempotencyKeyReused(
                f"SIREN {self.siren} has already applied with other details", siren=self.siren
            )

    def approve(self, *, by: str, now: datetime) -> None:
        if self._moves("approve"):
            self.trigger_event(
                self.Approved,
                timestamp=now,
                iban=self.applied_iban,
                approved_by=by,
                approved_at=now,
            )

    def reject(self, *, reason: str, by: str, now: datetime) -> None:
        check_text(reason, "reason", MAX_REASON_LENGTH)
        if self._moves("reject"):
            self.trigger_event(
                self.Rejected, timestamp=now, reason=reason, rejected_by=by, rejected_at=now
            )

    def suspend(self, *, reason: str, by: str, now: datetime) -> None:
        check_text(reason, "reason", MAX_REASON_LENGTH)
        if self._moves("suspend"):
            self.trigger_event(
                self.Suspended, timestamp=now, reason=reason, suspended_by=by, suspended_at=now
            )

    def reinstate(self, *, by: str, now: datetime) -> None:
        if self._moves("reinstate"):
            self.trigger_event(self.Reinstated, timestamp=now, reinstated_by=by, reinstated_at=now)

    def request_bank_change(
        self, *, change_id: UUID, digest: str, iban: str, by: str, now: datetime
    ) -> None:
        """Ask for new bank details; a retry of a recorded request records nothing."""
        assert check_iban(iban) == iban, "caller normalises"
        seen = self.bank_changes.get(change_id)
        if seen is not None:
            if seen.digest != digest:
                raise IdempotencyKeyReused(
                    "this key was used for another bank details change", change_id=str(change_id)
                )
            return
        if self.status not in (VendorStatus.APPROVED, VendorStatus.SUSPENDED):
            raise self._status_conflict("request a bank details change")
        pending = self.pending_bank_change
        if pending is not None:
            raise BankChangePending(
                f"bank change {pending.change_id} is still pending",
                change_id=str(pending.change_id),
            )
        self.trigger_event(
            self.BankDetailsChangeRequested,
            timestamp=now,
            change_id=change_id,
            digest=digest,
            iban=iban,
            requested_by=by,
            requested_at=now,
        )

    def approve_bank_change(self, *, change_id: UUID, by: str, now: datetime) -> None:
        """Put a requested IBAN in force from now; reviewed by another than its requester."""
        change = self._reviewable(change_id, BankChangeStatus.APPROVED, by)
        if change is not None:
            self.trigger_event(
                self.BankDetailsChangeApproved,
                timestamp=now,
                change_id=change_id,
                iban=change.iban,
                reviewed_by=by,
                reviewed_at=now,
            )

    def reject_bank_change(self, *, change_id: UUID, reason: str, by: str, now: datetime) -> None:
        check_text(reason, "reason", MAX_REASON_LENGTH)
        if self._reviewable(change_id, BankChangeStatus.REJECTED, by) is not None:
            self.trigger_event(
                self.BankDetailsChangeRejected,
                timestamp=now,
                change_id=change_id,
                reason=reason,
                reviewed_by=by,
                reviewed_at=now,
            )

    # Guards and queries ------------------------------------------------------------------

    def _moves(self, command: str) -> bool:
        """Whether a lifecycle command records a move: False for a retry, refused if barred."""
        sources, target = TRANSITIONS[command]
        if self.status is target:
            return False
        if self.status not in sources:
            raise self._status_conflict(command)
        return True

    def _status_conflict(self, what: str) -> VendorStatusConflict:
        return VendorStatusConflict(
            f"cannot {what}: vendor {self.siren} is {self.status.value}",
            status=self.status.value,
        )

    def _reviewable(self, change_id: UUID, outcome: BankChangeStatus, by: str) -> BankChange | None:
        """The pending change to review; None when it already ended with this outcome."""
        try:
            change = self.bank_changes[change_id]
        except KeyError:
            raise BankChangeNotFound(f"no bank change {change_id} for this vendor") from None
        if change.status is outcome:
            return None
        if change.status is not BankChangeStatus.PENDING:
            raise BankChangeAlreadyReviewed(
                f"bank change {change_id} is already {change.status.value}",
                status=change.status.value,
            )
        if by == change.requested_by:
            raise ReviewerIsRequester("the requester of a bank change cannot review it")
        return change

    @property
    def pending_bank_change(self) -> BankChange | None:
        for change in self.bank_changes.values():
            if change.status is BankChangeStatus.PENDING:
                return change
        return None

    def payable_iban(self) -> str:
        """The IBAN to pay now: reviewed, and only while the vendor is approved."""
        if not self.bank_history:
            raise IbanNotReviewed(f"vendor {self.siren} has no reviewed IBAN yet")
        if self.status is not VendorStatus.APPROVED:
            raise self._status_conflict("pay the vendor")
        return self.bank_history[-1].iban

    def iban_at(self, moment: datetime) -> str:
        """The reviewed IBAN in force at a moment (for an audit of a past payment)."""
        for details in reversed(self.bank_history):
            if details.in_force_from <= moment:
                return details.iban
        raise IbanNotReviewed(f"vendor {self.siren} had no reviewed IBAN at {moment}")


def check_text(text: str, what: str, max_length: int) -> None:
    if not isinstance(text, str) or not text.strip() or len(text) > max_length:
        raise InvalidInput(f"a {what} has 1 to {max_length} characters", field=what)
