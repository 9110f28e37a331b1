"""Commands on a teacher's credit account, and the receipts they answer with.

A command is a small frozen record of plain values: who, when, which account, which client
key, and what to do. `apply_to(account)` first looks for an earlier outcome under the same key
(a retry answers as the first attempt did and records nothing), then guards and records.

Commands are values so that the group committer can queue them, apply many to cached
accounts, save them all in one transaction, and apply them again after a conflict: applying
a command whose key is already recorded changes nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar
from uuid import UUID

from ledger.authorities import authority_territory
from ledger.credits import DEFAULT_HOLD_TTL_S, CreditAccount, TopUpKind
from ledger.eligibility import RedemptionEvidence
from ledger.errors import DomainError, InvalidInput, OutsideTerritory
from ledger.ids import check_key, check_opaque_id, credit_account_id, derived_id, request_digest


@dataclass(frozen=True, slots=True)
class HoldReceipt:
    hold_id: UUID
    amount_cents: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class CaptureReceipt:
    hold_id: UUID
    captured_cents: int
    released_cents: int


@dataclass(frozen=True, slots=True)
class ReleaseReceipt:
    hold_id: UUID
    released_cents: int


@dataclass(frozen=True, slots=True)
class RefundReceipt:
    refund_id: UUID
    hold_id: UUID
    amount_cents: int


@dataclass(frozen=True, slots=True)
class TopUpReceipt:
    topup_id: UUID
    amount_cents: int


@dataclass(frozen=True, slots=True)
class ExpiryReceipt:
    account_id: UUID
    returned_cents: int
    already_expired: bool = False


Receipt = HoldReceipt | CaptureReceipt | ReleaseReceipt | RefundReceipt | TopUpReceipt
Receipt = Receipt | ExpiryReceipt


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountCommand(ABC):
    """Base of every command on one credit account."""

    name: ClassVar[str] = "account_command"

    campaign_id: UUID
    teacher_id: str
    by: str
    now: datetime
    # Derived once: the group committer asks for it several times per command.
    account_id: UUID = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.now, datetime) or self.now.tzinfo is None:
            raise InvalidInput("command time must be a timezone-aware date-time")
        object.__setattr__(self, "account_id", credit_account_id(self.campaign_id, self.teacher_id))

    @abstractmethod
    def apply_to(self, account: CreditAccount) -> Receipt:
        """Guard, then record on the account; answer with a receipt."""


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyedCommand(AccountCommand):
    """A command that moves money: it carries the client's idempotency key."""

    key: str
    digest: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        AccountCommand.__post_init__(self)
        check_key(self.key)
        digest = request_digest(self.name, self.campaign_id, self.teacher_id, *self.payload())
        object.__setattr__(self, "digest", digest)

    def payload(self) -> tuple[object, ...]:
        return ()

    def first_time(self, account: CreditAccount) -> bool:
        return account.previous_outcome(self.name, self.key, self.digest) is None


@dataclass(frozen=True, slots=True, kw_only=True)
class TopUp(KeyedCommand):
    name: ClassVar[str] = "top_up"
    authority_id: str
    kind: TopUpKind
    amount_cents: int

    def __post_init__(self) -> None:
        KeyedCommand.__post_init__(self)
        territory = authority_territory(check_opaque_id(self.authority_id, "authority id"))
        if territory.kind is not self.kind:
            raise InvalidInput(
                f"{self.authority_id} is a {territory.kind.value}, not a {self.kind.value}",
                field="kind",
            )

    def payload(self) -> tuple[object, ...]:
        return (self.authority_id, self.kind.value, self.amount_cents)

    def apply_to(self, account: CreditAccount) -> TopUpReceipt:
        territory = authority_territory(self.authority_id).name
        if territory not in account.territories:
            raise OutsideTerritory(
                f"{self.authority_id} may top up only the teachers of {territory}",
                territory=territory,
            )
        topup_id = derived_id(account.id, self.name, self.key)
        if self.first_time(account):
            account.top_up(
                topup_id=topup_id,
                key=self.key,
                digest=self.digest,
                authority_id=self.authority_id,
                kind=self.kind,
                amount_cents=self.amount_cents,
                by=self.by,
                now=self.now,
            )
        return TopUpReceipt(topup_id, self.amount_cents)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceHold(KeyedCommand):
    name: ClassVar[str] = "place_hold"
    vendor_id: str
    order_ref: str
    amount_cents: int
    ttl_s: int = DEFAULT_HOLD_TTL_S
    # A redemption of a catalogue resource (`ledger.redemptions`): what it records, the
    # campaign's cap on its kind, and the refusal the vendor's or resource's state called
    # for. A refusal is raised only on a first attempt: a retry answers as the first did.
    resource_id: UUID | None = None
    evidence: RedemptionEvidence | None = None
    kind_cap_cents: int | None = None
    refusal: DomainError | None = field(default=None, compare=False)

    def payload(self) -> tuple[object, ...]:
        if self.resource_id is not None:  # the price is the resource's: the resource is asked
            return (self.vendor_id, self.order_ref, self.resource_id, self.ttl_s)
        return (self.vendor_id, self.order_ref, self.amount_cents, self.ttl_s)

    def apply_to(self, account: CreditAccount) -> HoldReceipt:
        check_opaque_id(self.vendor_id, "vendor id")
        hold_id = derived_id(account.id, self.name, self.key)
        if self.first_time(account):
            if self.refusal is not None:
                raise self.refusal
            assert (self.resource_id is None) == (self.evidence is None), "a redemption"
            account.place_hold(
                hold_id=hold_id,
                key=self.key,
                digest=self.digest,
                vendor_id=self.vendor_id,
                order_ref=self.order_ref,
                amount_cents=self.amount_cents,
                ttl_s=self.ttl_s,
                by=self.by,
                now=self.now,
                evidence=self.evidence,
                kind_cap_cents=self.kind_cap_cents,
            )
        hold = account.holds[hold_id]
        return HoldReceipt(hold_id, hold.amount_cents, hold.expires_at)


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureHold(KeyedCommand):
    name: ClassVar[str] = "capture_hold"
    hold_id: UUID
    amount_cents: int

    def payload(self) -> tuple[object, ...]:
        return (self.hold_id, self.amount_cents)

    def apply_to(self, account: CreditAccount) -> CaptureReceipt:
        if self.first_time(account):
            account.capture_hold(
                hold_id=self.hold_id,
                key=self.key,
                digest=self.digest,
                amount_cents=self.amount_cents,
                by=self.by,
                now=self.now,
            )
        hold = account.holds[self.hold_id]
        return CaptureReceipt(
            self.hold_id, hold.captured_cents, hold.amount_cents - hold.captured_cents
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseHold(KeyedCommand):
    name: ClassVar[str] = "release_hold"
    hold_id: UUID

    def payload(self) -> tuple[object, ...]:
        return (self.hold_id,)

    def apply_to(self, account: CreditAccount) -> ReleaseReceipt:
        if self.first_time(account):
            account.release_hold(
                hold_id=self.hold_id, key=self.key, digest=self.digest, by=self.by, now=self.now
            )
        return ReleaseReceipt(self.hold_id, account.holds[self.hold_id].amount_cents)


@dataclass(frozen=True, slots=True, kw_only=True)
class Refund(KeyedCommand):
    name: ClassVar[str] = "refund"
    hold_id: UUID
    amount_cents: int

    def payload(self) -> tuple[object, ...]:
        return (self.hold_id, self.amount_cents)

    def apply_to(self, account: CreditAccount) -> RefundReceipt:
        refund_id = derived_id(account.id, self.name, self.key)
        if self.first_time(account):
            account.refund(
                refund_id=refund_id,
                key=self.key,
                digest=self.digest,
                hold_id=self.hold_id,
                amount_cents=self.amount_cents,
                by=self.by,
                now=self.now,
            )
        return RefundReceipt(refund_id, self.hold_id, self.amount_cents)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpireRemainder(AccountCommand):
    """Year-end expiry of one account. Idempotent by nature: an account expires once."""

    name: ClassVar[str] = "expire_remainder"

    def apply_to(self, account: CreditAccount) -> ExpiryReceipt:
        if account.is_expired:
            return ExpiryReceipt(account.id, account.expired_cents, already_expired=True)
        account.expire_remainder(by=self.by, now=self.now)
        return ExpiryReceipt(account.id, account.expired_cents)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpireHolds(AccountCommand):
    """Sweep: record the expiry of every overdue pending hold of one account."""

    name: ClassVar[str] = "expire_holds"

    def apply_to(self, account: CreditAccount) -> ExpiryReceipt:
        account.expire_holds(self.now)
        return ExpiryReceipt(account.id, 0)
