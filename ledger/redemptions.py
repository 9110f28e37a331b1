"""Redemptions: a teacher spends credit on a catalogue resource of an approved vendor.

A redemption is a hold that names what it buys. Three contexts have a say, each in its own
aggregate of the one log:

- the **vendor** must be approved: a suspended vendor takes no new orders, though the holds
  it already has can still be captured;
- the **resource** must be listed at that moment, and its price is the amount held;
- the **campaign**'s eligibility rule must allow it (labels; caps per kind, checked against
  what this credit has already committed to that kind).

The hold records the evidence (resource, revision, kind, labels in force), so an auditor can
judge every purchase again without reading the catalogue's later history. The vendor's and
the resource's verdicts travel with the command and are raised only on a first attempt: a
retry of a redemption that succeeded answers as it did, even if the vendor was suspended or
the price changed since.

Vendors are named in holds by their id (`str(Vendor.id)`), the same string the catalogue
lists resources under.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from ledger.batching import GroupCommitter
from ledger.catalogue_app import Catalogue
from ledger.commands import HoldReceipt, PlaceHold
from ledger.credits import DEFAULT_HOLD_TTL_S
from ledger.errors import DomainError, VendorNotFound, VendorStatusConflict
from ledger.references import FreshEnough, NotCached
from ledger.vendor_directory import VendorDirectory
from ledger.vendors import VendorStatus
from ledger.vouchers import VoucherLedger

T = TypeVar("T")


@dataclass
class Redemptions:
    vouchers: VoucherLedger
    vendors: VendorDirectory
    catalogue: Catalogue
    committer: GroupCommitter | None = None  # group commit when given, else one save each
    # Campaigns, vendors and resources read at most this stale (`ledger.references`); None
    # reads each from the store on every redemption.
    references: FreshEnough | None = None

    def redeem(
        self,
        *,
        campaign_id: UUID,
        teacher_id: str,
        key: str,
        resource_id: UUID,
        order_ref: str,
        by: str,
        now: datetime,
        ttl_s: int = DEFAULT_HOLD_TTL_S,
    ) -> HoldReceipt:
        """Hold the resource's price on the teacher's credit, with its evidence."""
        command = self.hold_command(
            campaign_id=campaign_id,
            teacher_id=teacher_id,
            key=key,
            resource_id=resource_id,
            order_ref=order_ref,
            by=by,
            now=now,
            ttl_s=ttl_s,
        )
        if self.committer is not None:
            return self.committer.execute(command)
        return self.vouchers.execute(command)

    def hold_command(
        self,
        *,
        campaign_id: UUID,
        teacher_id: str,
        key: str,
        resource_id: UUID,
        order_ref: str,
        by: str,
        now: datetime,
        ttl_s: int = DEFAULT_HOLD_TTL_S,
        may_load: bool = True,
    ) -> PlaceHold:
        """The hold a redemption places, with the verdicts of the vendor, the catalogue and
        the campaign (for a caller that submits it to a group committer itself). With
        `may_load` false, only fresh-enough reads are used, or NotCached is raised."""
        resource = self._read(resource_id, self.catalogue.get_resource, may_load)
        rule = self._read(campaign_id, self.vouchers.get_campaign, may_load).eligibility
        evidence, refusal = None, self.vendor_refusal(resource.vendor_id, may_load)
        if refusal is None:
            try:
                # Listing and labels here; the cap per kind needs the account's spending,
                # so the account checks it (`kind_cap_cents`).
                evidence = rule.check(resource, now, {}, resource.price_at(now))
            except DomainError as error:
                refusal = error
        return PlaceHold(
            campaign_id=campaign_id,
            teacher_id=teacher_id,
            key=key,
            by=by,
            now=now,
            vendor_id=resource.vendor_id,
            order_ref=order_ref,
            amount_cents=evidence.price_cents if evidence else 0,
            ttl_s=ttl_s,
            resource_id=resource_id,
            evidence=evidence,
            kind_cap_cents=rule.cap_cents(evidence.kind) if evidence else None,
            refusal=refusal,
        )

    def vendor_refusal(self, vendor_ref: str, may_load: bool = True) -> DomainError | None:
        """Why this vendor may not take a new order now, or None."""
        try:
            vendor = self._read(UUID(vendor_ref), self.vendors.get_vendor, may_load)
        except ValueError:
            return VendorNotFound(f"resources name vendors by id; {vendor_ref!r} is not one")
        except VendorNotFound as error:
            return error
        if vendor.status is VendorStatus.APPROVED:
            return None
        return VendorStatusConflict(
            f"vendor {vendor.legal_name!r} is {vendor.status.value} and takes no new orders",
            status=vendor.status.value,
        )

    def _read(self, aggregate_id: UUID, get: Callable[[UUID], T], may_load: bool) -> T:
        if self.references is None:
            if not may_load:
                raise NotCached(aggregate_id)
            return get(aggregate_id)
        return self.references.get(aggregate_id, lambda: get(aggregate_id), may_load)
