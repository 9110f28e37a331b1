"""Holds: credit set aside for an order, and the words around them.

A hold is *pending* from the moment a teacher orders at a vendor until it ends, exactly once:
*captured* when the vendor delivers (in full or in part), *released* when the order is
cancelled, or *expired* when its time has passed without either. Every hold has a lifetime:
`DEFAULT_HOLD_TTL_S` unless the caller asks otherwise, never more than `MAX_HOLD_TTL_S`, and
never beyond the campaign's end.

The `Hold` record lives inside its credit account; it is changed only by the account's
events, never directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID

from ledger.eligibility import RedemptionEvidence, ResourceKind, check_kind_cap
from ledger.errors import InvalidAmount, InvalidInput
from ledger.money import MAX_AMOUNT_CENTS

DEFAULT_HOLD_TTL_S = 30 * 60
MAX_HOLD_TTL_S = 7 * 24 * 3600
MAX_PENDING_HOLDS = 64
MAX_ORDER_REF_LENGTH = 64


class HoldStatus(Enum):
    PENDING = "pending"
    CAPTURED = "captured"
    RELEASED = "released"
    EXPIRED = "expired"


class TopUpKind(Enum):
    """Which level of local authority pays a top-up; recorded for reports per territory."""

    COMMUNE = "commune"
    DEPARTEMENT = "departement"
    REGION = "region"
    OTHER = "other"


@dataclass(slots=True)
class Hold:
    hold_id: UUID
    vendor_id: str
    order_ref: str
    amount_cents: int
    expires_at: datetime
    status: HoldStatus = HoldStatus.PENDING
    captured_cents: int = 0
    refunded_cents: int = 0
    resource_id: UUID | None = None  # set when the hold redeems a catalogue resource
    kind: ResourceKind | None = None
    captured_at: datetime | None = None

    @property
    def committed_cents(self) -> int:
        """What this hold takes of the credit now: held, or captured less refunds."""
        if self.status is HoldStatus.PENDING:
            return self.amount_cents
        if self.status is HoldStatus.CAPTURED:
            return self.captured_cents - self.refunded_cents
        return 0


def check_hold_terms(order_ref: str, ttl_s: int) -> None:
    if not isinstance(order_ref, str) or not 0 < len(order_ref) <= MAX_ORDER_REF_LENGTH:
        raise InvalidInput(f"an order reference has 1 to {MAX_ORDER_REF_LENGTH} characters")
    if type(ttl_s) is not int or not 0 < ttl_s <= MAX_HOLD_TTL_S:
        raise InvalidInput(f"a hold lives 1 to {MAX_HOLD_TTL_S} seconds", field="ttl_s")


def check_kind_cap_of(
    holds: list[Hold], evidence: RedemptionEvidence, cap_cents: int | None, amount_cents: int
) -> None:
    """A campaign may cap what its credit spends on one kind of resource (training, …):
    held, or captured less refunds, counts as spent."""
    spent = sum(h.committed_cents for h in holds if h.kind is evidence.kind)
    check_kind_cap(evidence, cap_cents, spent, amount_cents)


def check_positive(amount_cents: int) -> None:
    if type(amount_cents) is not int or not 0 < amount_cents <= MAX_AMOUNT_CENTS:
        raise InvalidAmount("an amount must be a positive whole number of cents")


def evidence_fields(evidence: RedemptionEvidence | None) -> dict[str, Any]:
    """The fields of `HoldPlaced` that record what a redemption bought."""
    if evidence is None:
        return {}
    return {
        "resource_id": evidence.resource_id,
        "resource_revision": evidence.revision,
        "resource_kind": evidence.kind,
        "resource_labels": evidence.labels,
    }
