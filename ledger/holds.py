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
from uuid import UUID

from ledger.errors import InvalidAmount
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


def check_positive(amount_cents: int) -> None:
    if type(amount_cents) is not int or not 0 < amount_cents <= MAX_AMOUNT_CENTS:
        raise InvalidAmount("an amount must be a positive whole number of cents")
