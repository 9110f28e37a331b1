"""Redemption claims: the marker that keeps a redemption in one claim at a time.

A vendor claims its captured holds (redemptions). Each redemption gets a marker whose id
derives from the hold's id, created in the same transaction as the claim that takes it: a
second claim of the same redemption tries to create the same marker, and the event store's
primary key refuses it, even when two claims race. A line rejected back to *claimable*
releases the marker (it may be claimed again); a cancelled or paid line closes it.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from ledger.errors import (
    RedemptionAlreadyClaimed,
)


def redemption_claim_id(hold_id: UUID) -> UUID:
    """The marker's id: one per hold, whatever claim takes it."""
    return uuid5(hold_id, "redemption-claim")


class RedemptionClaim(Aggregate):
    """The marker of a redemption taken by a claim. The id is `redemption_claim_id(hold)`."""

    class Event(Aggregate.Event):
        pass

    class Claimed(Aggregate.Created):
        account_id: UUID
        hold_id: UUID
        claim_id: UUID
        claimed_by: str
        claimed_at: datetime

        def apply(self, marker: RedemptionClaim) -> None:
            marker.hold_id = self.hold_id
            marker.claim_id = self.claim_id
            marker.is_released = False
            marker.is_closed = False

    class ClaimedAgain(Event):
        claim_id: UUID
        claimed_by: str
        claimed_at: datetime

        def apply(self, marker: RedemptionClaim) -> None:
            marker.claim_id = self.claim_id
            marker.is_released = False

    class Released(Event):
        claim_id: UUID
        released_by: str
        released_at: datetime

        def apply(self, marker: RedemptionClaim) -> None:
            marker.is_released = True

    class Closed(Event):
        claim_id: UUID
        closed_by: str
        closed_at: datetime

        def apply(self, marker: RedemptionClaim) -> None:
            marker.is_closed = True

    @classmethod
    def take(
        cls, *, account_id: UUID, hold_id: UUID, claim_id: UUID, by: str, now: datetime
    ) -> RedemptionClaim:
        return cls._create(
            cls.Claimed,
            id=redemption_claim_id(hold_id),
            timestamp=now,
            account_id=account_id,
            hold_id=hold_id,
            claim_id=claim_id,
            claimed_by=by,
            claimed_at=now,
        )

    def take_again(self, *, claim_id: UUID, by: str, now: datetime) -> None:
        if self.is_closed or not self.is_released:
            raise RedemptionAlreadyClaimed(
                f"hold {self.hold_id} is already in claim {self.claim_id}",
                hold_id=str(self.hold_id),
                claim_id=str(self.claim_id),
            )
        self.trigger_event(
            self.ClaimedAgain, timestamp=now, claim_id=claim_id, claimed_by=by, claimed_at=now
        )

    def release(self, *, by: str, now: datetime) -> None:
        assert not (self.is_released or self.is_closed), "a line is rejected once"
        self.trigger_event(
            self.Released, timestamp=now, claim_id=self.claim_id, released_by=by, released_at=now
        )

    def close(self, *, by: str, now: datetime) -> None:
        assert not (self.is_released or self.is_closed), "a line is rejected once"
        self.trigger_event(
            self.Closed, timestamp=now, claim_id=self.claim_id, closed_by=by, closed_at=now
        )
