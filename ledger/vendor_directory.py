"""The vendor directory: the application through which the operator admits, suspends and
pays EdTech vendors, and reviews their bank details (the rules live in `ledger.vendors`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from ledger.application import LedgerApplication
from ledger.errors import (
    VendorNotFound,
)
from ledger.identifiers import check_iban
from ledger.ids import check_key, derived_id, request_digest
from ledger.vendors import (
    Vendor,
)


class VendorDirectory(LedgerApplication):
    """The operator's directory of EdTech vendors and their reviewed bank details."""

    def apply_vendor(
        self,
        *,
        legal_name: str,
        siren: str,
        siret: str,
        contact_ref: str,
        iban: str,
        by: str,
        now: datetime,
    ) -> UUID:
        """Record an application; a retry with the same details answers the same id."""
        vendor = Vendor.apply_to_be_listed(
            legal_name=legal_name,
            siren=siren,
            siret=siret,
            contact_ref=contact_ref,
            iban=iban,
            by=by,
            now=now,
        )
        try:
            self.record(vendor)
        except IntegrityError:
            self.get_vendor(vendor.id).check_same_request(vendor.request_digest)
        return vendor.id

    def get_vendor(self, vendor_id: UUID) -> Vendor:
        try:
            return self.repository.get(vendor_id)
        except AggregateNotFoundError:
            raise VendorNotFound(f"no vendor {vendor_id}") from None

    def approve(self, vendor_id: UUID, *, by: str, now: datetime) -> None:
        self._change(vendor_id, lambda v: v.approve(by=by, now=now))

    def reject(self, vendor_id: UUID, *, reason: str, by: str, now: datetime) -> None:
        self._change(vendor_id, lambda v: v.reject(reason=reason, by=by, now=now))

    def suspend(self, vendor_id: UUID, *, reason: str, by: str, now: datetime) -> None:
        self._change(vendor_id, lambda v: v.suspend(reason=reason, by=by, now=now))

    def reinstate(self, vendor_id: UUID, *, by: str, now: datetime) -> None:
        self._change(vendor_id, lambda v: v.reinstate(by=by, now=now))

    def request_bank_change(
        self, vendor_id: UUID, *, key: str, iban: str, by: str, now: datetime
    ) -> UUID:
        """Ask for new bank details under a client key; answers the change's id."""
        change_id = derived_id(vendor_id, "bank-change", check_key(key))
        iban = check_iban(iban)
        digest = request_digest("request_bank_change", iban)
        self._change(
            vendor_id,
            lambda v: v.request_bank_change(
                change_id=change_id, digest=digest, iban=iban, by=by, now=now
            ),
        )
        return change_id

    def approve_bank_change(
        self, vendor_id: UUID, change_id: UUID, *, by: str, now: datetime
    ) -> None:
        self._change(
            vendor_id, lambda v: v.approve_bank_change(change_id=change_id, by=by, now=now)
        )

    def reject_bank_change(
        self, vendor_id: UUID, change_id: UUID, *, reason: str, by: str, now: datetime
    ) -> None:
        self._change(
            vendor_id,
            lambda v: v.reject_bank_change(change_id=change_id, reason=reason, by=by, now=now),
        )

    def _change(self, vendor_id: UUID, command: Callable[[Vendor], None]) -> None:
        """Load, command, save; on a concurrent write load again and retry."""

        def attempt():
            vendor = self.get_vendor(vendor_id)
            command(vendor)
            self.record(vendor)

        return self.retrying(attempt, "the vendor")
