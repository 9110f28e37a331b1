"""A teacher's credit account for one campaign, and the holds placed on it.

The account is granted the campaign's face value and may be topped up by local authorities.
Its money is always in exactly one of four places:

- *available*: the teacher may spend it;
- *held*: set aside for an order at a vendor by a **hold**, until the hold ends;
- *captured*: paid to the vendor (less what was refunded since);
- *returned*: at the campaign's end, the remainder goes back to the funders, pro rata.

Holds end once (see `ledger.holds`); a captured hold can be *refunded* up to its capture.
Every command that moves money carries a client key. Its outcome is kept by the account under
(command, key) with a digest of the request: a retry answers as the first attempt did and
records nothing; the same key with another request is refused. The ids a command creates
(holds, top-ups, refunds) derive from that key. Time comes in with every command and is
recorded on the event; nothing here reads a clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.domain import Aggregate

from ledger.eligibility import Label, RedemptionEvidence, ResourceKind
from ledger.errors import (
    CaptureExceedsHold,
    CreditAccountExpired,
    HoldAlreadyResolved,
    HoldExpired,
    HoldNotCaptured,
    HoldNotFound,
    IdempotencyKeyReused,
    InsufficientCredit,
    OutsideValidity,
    RefundExceedsCaptured,
    TooManyPendingHolds,
)
from ledger.holds import (
    DEFAULT_HOLD_TTL_S,
    MAX_HOLD_TTL_S,
    MAX_PENDING_HOLDS,
    Hold,
    HoldStatus,
    TopUpKind,
    check_hold_terms,
    check_kind_cap_of,
    check_positive,
    evidence_fields,
)
from ledger.money import Amounts, pro_rata

# Re-exported: the holds' names are read from here by the commands and the API.
__all__ = ["DEFAULT_HOLD_TTL_S", "MAX_HOLD_TTL_S", "MAX_PENDING_HOLDS", "CreditAccount"]
__all__ += ["Hold", "HoldStatus", "TopUpKind"]


class CreditAccount(Aggregate):
    """One teacher's credit in one campaign. The id is uuid5(campaign id, teacher id)."""

    class Event(Aggregate.Event):
        pass

    class Granted(Aggregate.Created):
        campaign_id: UUID
        teacher_id: str
        amount_cents: int
        funding: Amounts
        valid_from: datetime
        valid_until: datetime
        grant_key: str
        granted_by: str
        granted_at: datetime
        # The school's territories (`ledger.authorities`); absent from events recorded
        # before territories were kept, which read as none.
        territories: tuple[str, ...] = ()

        def apply(self, account: CreditAccount) -> None:
            account.campaign_id = self.campaign_id
            account.teacher_id = self.teacher_id
            account.territories = frozenset(self.territories)
            account.granted_cents = self.amount_cents
            account.valid_from = self.valid_from
            account.valid_until = self.valid_until
            account.funding = dict(self.funding)
            account.available_cents = account.granted_cents
            account.held_cents = 0
            account.captured_cents = 0
            account.returned_cents = 0
            account.topped_up_cents = 0
            account.is_expired = False
            account.expired_cents = 0
            account.holds = {}
            account.outcomes = {}

    class ToppedUp(Event):
        topup_id: UUID
        key: str
        digest: str
        authority_id: str
        kind: TopUpKind
        amount_cents: int
        topped_up_by: str
        topped_up_at: datetime

        def apply(self, account: CreditAccount) -> None:
            account.available_cents += self.amount_cents
            account.topped_up_cents += self.amount_cents
            account.funding[self.authority_id] = (
                account.funding.get(self.authority_id, 0) + self.amount_cents
            )
            account.outcomes[("top_up", self.key)] = (self.digest, self.topup_id)

    class HoldPlaced(Event):
        hold_id: UUID
        key: str
        digest: str
        vendor_id: str
        order_ref: str
        amount_cents: int
        expires_at: datetime
        placed_by: str
        placed_at: datetime
        # The redemption's evidence, when the hold buys a catalogue resource.
        resource_id: UUID | None = None
        resource_revision: int = 0
        resource_kind: ResourceKind | None = None
        resource_labels: tuple[Label, ...] = ()

        def apply(self, account: CreditAccount) -> None:
            account.available_cents -= self.amount_cents
            account.held_cents += self.amount_cents
            account.holds[self.hold_id] = Hold(
                self.hold_id,
                self.vendor_id,
                self.order_ref,
                self.amount_cents,
                self.expires_at,
                resource_id=self.resource_id,
                kind=self.resource_kind,
            )
            account.outcomes[("place_hold", self.key)] = (self.digest, self.hold_id)

    class HoldCaptured(Event):
        hold_id: UUID
        key: str
        digest: str
        vendor_id: str
        amount_cents: int
        released_cents: int
        captured_by: str
        captured_at: datetime

        def apply(self, account: CreditAccount) -> None:
            hold = account.holds[self.hold_id]
            hold.status = HoldStatus.CAPTURED
            hold.captured_cents = self.amount_cents
            hold.captured_at = self.captured_at
            account.held_cents -= self.amount_cents + self.released_cents
            account.available_cents += self.released_cents
            account.captured_cents += self.amount_cents
            account.outcomes[("capture_hold", self.key)] = (self.digest, self.hold_id)

    class HoldReleased(Event):
        hold_id: UUID
        key: str
        digest: str
        amount_cents: int
        released_by: str
        released_at: datetime

        def apply(self, account: CreditAccount) -> None:
            account.holds[self.hold_id].status = HoldStatus.RELEASED
            account.held_cents -= self.amount_cents
            account.available_cents += self.amount_cents
            account.outcomes[("release_hold", self.key)] = (self.digest, self.hold_id)

    class HoldExpired(Event):
        hold_id: UUID
        amount_cents: int
        expired_at: datetime

        def apply(self, account: CreditAccount) -> None:
            account.holds[self.hold_id].status = HoldStatus.EXPIRED
            account.held_cents -= self.amount_cents
            account.available_cents += self.amount_cents

    class Refunded(Event):
        refund_id: UUID
        key: str
        digest: str
        hold_id: UUID
        vendor_id: str
        amount_cents: int
        returned: Amounts  # to funders directly when the account had already expired
        refunded_by: str
        refunded_at: datetime

        def apply(self, account: CreditAccount) -> None:
            account.holds[self.hold_id].refunded_cents += self.amount_cents
            account.captured_cents -= self.amount_cents
            account.available_cents += self.amount_cents - sum(c for _, c in self.returned)
            account.returned_cents += sum(c for _, c in self.returned)
            account.outcomes[("refund", self.key)] = (self.digest, self.refund_id)

    class RemainderExpired(Event):
        amount_cents: int
        returned: Amounts
        expired_by: str
        expired_at: datetime

        def apply(self, account: CreditAccount) -> None:
            account.available_cents -= self.amount_cents
            account.returned_cents += self.amount_cents
            account.expired_cents = self.amount_cents
            account.is_expired = True

    # Idempotency -------------------------------------------------------------------------

    def previous_outcome(self, command: str, key: str, digest: str) -> UUID | None:
        """The id the first attempt returned, for a retry; None for a new key."""
        seen = self.outcomes.get((command, key))
        if seen is None:
            return None
        if seen[0] != digest:
            raise IdempotencyKeyReused(
                f"key {key!r} was used for another {command} request", key=key
            )
        return seen[1]

    # Commands ----------------------------------------------------------------------------

    def top_up(
        self,
        *,
        topup_id: UUID,
        key: str,
        digest: str,
        authority_id: str,
        kind: TopUpKind,
        amount_cents: int,
        by: str,
        now: datetime,
    ) -> None:
        check_positive(amount_cents)
        self.check_not_expired()
        if now >= self.valid_until:
            raise OutsideValidity("the campaign has ended; top-ups are closed")
        self.trigger_event(
            self.ToppedUp,
            timestamp=now,
            topup_id=topup_id,
            key=key,
            digest=digest,
            authority_id=authority_id,
            kind=kind,
            amount_cents=amount_cents,
            topped_up_by=by,
            topped_up_at=now,
        )

    def place_hold(
        self,
        *,
        hold_id: UUID,
        key: str,
        digest: str,
        vendor_id: str,
        order_ref: str,
        amount_cents: int,
        ttl_s: int,
        by: str,
        now: datetime,
        evidence: RedemptionEvidence | None = None,
        kind_cap_cents: int | None = None,
    ) -> None:
        check_positive(amount_cents)
        self.check_not_expired()
        check_hold_terms(order_ref, ttl_s)
        if evidence is not None:
            check_kind_cap_of(list(self.holds.values()), evidence, kind_cap_cents, amount_cents)
        if not self.valid_from <= now < self.valid_until:
            raise OutsideValidity("holds are placed within the campaign's validity window")
        overdue = self.overdue_holds(now)
        freed = sum(h.amount_cents for h in overdue)
        if amount_cents > self.available_cents + freed:
            raise InsufficientCredit(
                f"{amount_cents} cents asked, {self.available_cents + freed} available",
                available_cents=self.available_cents + freed,
                asked_cents=amount_cents,
            )
        if self.pending_count() - len(overdue) >= MAX_PENDING_HOLDS:
            raise TooManyPendingHolds(
                f"at most {MAX_PENDING_HOLDS} holds may be pending", limit=MAX_PENDING_HOLDS
            )
        for hold in overdue:  # their money comes back first, as facts of their own
            self._expire(hold, now)
        expires_at = min(now + timedelta(seconds=ttl_s), self.valid_until)
        self.trigger_event(
            self.HoldPlaced,
            timestamp=now,
            hold_id=hold_id,
            key=key,
            digest=digest,
            vendor_id=vendor_id,
            order_ref=order_ref,
            amount_cents=amount_cents,
            expires_at=expires_at,
            placed_by=by,
            placed_at=now,
            **evidence_fields(evidence),
        )

    def capture_hold(
        self, *, hold_id: UUID, key: str, digest: str, amount_cents: int, by: str, now: datetime
    ) -> None:
        hold = self.pending_hold(hold_id, now)
        check_positive(amount_cents)
        if amount_cents > hold.amount_cents:
            raise CaptureExceedsHold(
                f"capture of {amount_cents} cents exceeds the hold of {hold.amount_cents}",
                held_cents=hold.amount_cents,
            )
        self.trigger_event(
            self.HoldCaptured,
            timestamp=now,
            hold_id=hold_id,
            key=key,
            digest=digest,
            vendor_id=hold.vendor_id,
            amount_cents=amount_cents,
            released_cents=hold.amount_cents - amount_cents,
            captured_by=by,
            captured_at=now,
        )

    def release_hold(self, *, hold_id: UUID, key: str, digest: str, by: str, now: datetime) -> None:
        hold = self.pending_hold(hold_id, now)
        self.trigger_event(
            self.HoldReleased,
            timestamp=now,
            hold_id=hold_id,
            key=key,
            digest=digest,
            amount_cents=hold.amount_cents,
            released_by=by,
            released_at=now,
        )

    def refund(
        self,
        *,
        refund_id: UUID,
        key: str,
        digest: str,
        hold_id: UUID,
        amount_cents: int,
        by: str,
        now: datetime,
    ) -> None:
        hold = self.get_hold(hold_id)
        check_positive(amount_cents)
        if hold.status is not HoldStatus.CAPTURED:
            raise HoldNotCaptured(f"hold {hold_id} is {hold.status.value}, not captured")
        refundable = hold.captured_cents - hold.refunded_cents
        if amount_cents > refundable:
            raise RefundExceedsCaptured(
                f"refund of {amount_cents} cents exceeds the {refundable} still refundable",
                refundable_cents=refundable,
            )
        # After the year-end expiry the credit is gone: a refund goes back to the funders.
        returned = pro_rata(self.funding, amount_cents) if self.is_expired else ()
        self.trigger_event(
            self.Refunded,
            timestamp=now,
            refund_id=refund_id,
            key=key,
            digest=digest,
            hold_id=hold_id,
            vendor_id=hold.vendor_id,
            amount_cents=amount_cents,
            returned=returned,
            refunded_by=by,
            refunded_at=now,
        )

    def expire_holds(self, now: datetime) -> int:
        """Record the expiry of every pending hold whose time has passed."""
        overdue = self.overdue_holds(now)
        for hold in overdue:
            self._expire(hold, now)
        return len(overdue)

    def expire_remainder(self, by: str, now: datetime) -> None:
        """Year-end: expire pending holds, then return what is left to the funders."""
        self.check_not_expired()
        if now < self.valid_until:
            raise OutsideValidity(f"the campaign runs until {self.valid_until}")
        self.expire_holds(now)
        self.trigger_event(
            self.RemainderExpired,
            timestamp=now,
            amount_cents=self.available_cents,
            returned=pro_rata(self.funding, self.available_cents),
            expired_by=by,
            expired_at=now,
        )

    # Guards and queries ------------------------------------------------------------------

    def _expire(self, hold: Hold, now: datetime) -> None:
        self.trigger_event(
            self.HoldExpired,
            timestamp=now,
            hold_id=hold.hold_id,
            amount_cents=hold.amount_cents,
            expired_at=now,
        )

    def check_not_expired(self) -> None:
        if self.is_expired:
            raise CreditAccountExpired("the campaign has ended and this credit has expired")

    def get_hold(self, hold_id: UUID) -> Hold:
        try:
            return self.holds[hold_id]
        except KeyError:
            raise HoldNotFound(f"no hold {hold_id} on this account") from None

    def pending_hold(self, hold_id: UUID, now: datetime) -> Hold:
        hold = self.get_hold(hold_id)
        if hold.status is not HoldStatus.PENDING:
            raise HoldAlreadyResolved(
                f"hold {hold_id} is already {hold.status.value}", status=hold.status.value
            )
        if now >= hold.expires_at:
            raise HoldExpired(f"hold {hold_id} expired at {hold.expires_at.isoformat()}")
        return hold

    def overdue_holds(self, now: datetime) -> list[Hold]:
        return [
            h for h in self.holds.values() if h.status is HoldStatus.PENDING and now >= h.expires_at
        ]

    def pending_count(self) -> int:
        return sum(1 for h in self.holds.values() if h.status is HoldStatus.PENDING)
