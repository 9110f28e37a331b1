"""The reference catalogue: what teachers may buy with their credit, and its labels.

A **resource** is something an EdTech vendor sells to teachers: a software licence, a digital
textbook, an online service, a training. The vendor *lists* it under a reference of its own,
and the resource's id derives from (vendor, reference), so listing the same reference twice
is the same resource: a retry with the same terms answers the same id, other terms are
refused. Listing is one call with a handful of fields, so the smallest start-up can be present.

The vendor may *update* the terms (title, description, kind, school levels, price); each
update that changes something bumps the resource's **revision**. It may *withdraw* the
resource from sale, with a reason, and *relist* it later; a withdrawn resource cannot be
updated or labelled.

A **label** is a mark of quality granted, and withdrawn, by the independent labelling
committee: « Reconnu d'intérêt pédagogique » and « Français ». Each decision carries a
reason, who recorded it and the date the committee decided; the label is in force from the
moment the decision is recorded, never backdated, so a redemption already made is never
judged again under a label it could not see.

Nothing is overwritten: the aggregate keeps one snapshot per event, so `price_at`,
`revision_at`, `labels_at` and `is_listed_at` answer for any past moment, and
`evidence_at(moment)` is what a redemption records (see `ledger.eligibility`). Commands carry
their time (`now`), which may not go back before the resource's last change: history is a
timeline, read back by moment.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import Enum
from typing import Any, TypeVar
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from ledger.eligibility import (
    Label,
    RedemptionEvidence,
    ResourceKind,
    as_items,
    in_enum_order,
    member_of,
)
from ledger.errors import (
    IdempotencyKeyReused,
    InvalidAmount,
    InvalidInput,
    InvalidPeriod,
    LabelAlreadyGranted,
    LabelNotGranted,
    ResourceAlreadyListed,
    ResourceChangedLater,
    ResourceNotFound,
    ResourceRevisionMismatch,
    ResourceWithdrawn,
)
from ledger.ids import TIRELIRE_NAMESPACE, check_key, check_opaque_id

MAX_TITLE_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 4000
MAX_REASON_LENGTH = 500
# 10 000 €: far above a teacher's yearly credit (about 78 €), below any plausible error.
MAX_PRICE_CENTS = 1_000_000

T = TypeVar("T")


class SchoolLevel(Enum):
    MATERNELLE = "maternelle"
    ELEMENTAIRE = "elementaire"
    COLLEGE = "college"
    LYCEE = "lycee"


@dataclass(frozen=True, slots=True)
class Terms:
    """What the vendor says about a resource, checked and in one canonical form."""

    title: str
    description: str
    kind: ResourceKind
    levels: tuple[SchoolLevel, ...]  # in school order, each once
    price_cents: int

    def digest_fields(self) -> tuple[object, ...]:
        levels = tuple(level.value for level in self.levels)
        return (self.title, self.description, self.kind.value, levels, self.price_cents)


TERM_FIELDS = ("title", "description", "kind", "levels", "price_cents")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The resource as it stood after one event."""

    revision: int
    terms: Terms
    labels: tuple[Label, ...]  # in the enum's order
    is_listed: bool


class Resource(Aggregate):
    """A resource listed by a vendor. The id is `resource_id(vendor_id, reference)`."""

    class Event(Aggregate.Event):
        pass

    class Listed(Aggregate.Created):
        vendor_id: str
        reference: str
        title: str
        description: str
        kind: ResourceKind
        levels: tuple[SchoolLevel, ...]
        price_cents: int
        request_digest: str
        listed_by: str
        listed_at: datetime

        def apply(self, resource: Resource) -> None:
            resource.vendor_id = self.vendor_id
            resource.reference = self.reference
            resource.request_digest = self.request_digest
            terms = Terms(self.title, self.description, self.kind, self.levels, self.price_cents)
            resource.history = []
            resource.remember(self.timestamp, Snapshot(1, terms, (), is_listed=True))

    class Updated(Event):
        revision: int
        changed: tuple[str, ...]
        title: str
        description: str
        kind: ResourceKind
        levels: tuple[SchoolLevel, ...]
        price_cents: int
        updated_by: str
        updated_at: datetime

        def apply(self, resource: Resource) -> None:
            terms = Terms(self.title, self.description, self.kind, self.levels, self.price_cents)
            snapshot = replace(resource.current, revision=self.revision, terms=terms)
            resource.remember(self.timestamp, snapshot)

    class Withdrawn(Event):
        reason: str
        withdrawn_by: str
        withdrawn_at: datetime

        def apply(self, resource: Resource) -> None:
            resource.remember(self.timestamp, replace(resource.current, is_listed=False))

    class Relisted(Event):
        reason: str
        relisted_by: str
        relisted_at: datetime

        def apply(self, resource: Resource) -> None:
            resource.remember(self.timestamp, replace(resource.current, is_listed=True))

    class LabelGranted(Event):
        label: Label
        reason: str
        decided_on: date
        granted_by: str
        granted_at: datetime

        def apply(self, resource: Resource) -> None:
            labels = in_enum_order(Label, {*resource.current.labels, self.label})
            resource.remember(self.timestamp, replace(resource.current, labels=labels))

    class LabelWithdrawn(Event):
        label: Label
        reason: str
        decided_on: date
        withdrawn_by: str
        withdrawn_at: datetime

        def apply(self, resource: Resource) -> None:
            labels = tuple(label for label in resource.current.labels if label != self.label)
            resource.remember(self.timestamp, replace(resource.current, labels=labels))

    def remember(self, moment: datetime, snapshot: Snapshot) -> None:
        self.history.append((moment, snapshot))

    # Commands ----------------------------------------------------------------------------

    @classmethod
    def list_resource(
        cls, *, vendor_id: str, reference: str, terms: Terms, digest: str, by: str, now: datetime
    ) -> Resource:
        check_moment(now)
        return cls._create(
            cls.Listed,
            id=resource_id(vendor_id, reference),
            timestamp=now,
            vendor_id=vendor_id,
            reference=reference,
            title=terms.title,
            description=terms.description,
            kind=terms.kind,
            levels=terms.levels,
            price_cents=terms.price_cents,
            request_digest=digest,
            listed_by=by,
            listed_at=now,
        )

    def check_same_request(self, digest: str) -> None:
        if digest != self.request_digest:
            raise IdempotencyKeyReused(
                f"resource {self.reference!r} of vendor {self.vendor_id!r} was listed with "
                "other terms; update it instead",
                key=self.reference,
            )

    def update(
        self, *, by: str, now: datetime, if_revision: int | None = None, **changes: Any
    ) -> bool:
        """Change some terms; False (and nothing recorded) when they are already so."""
        assert set(changes) <= set(TERM_FIELDS), f"unknown terms {set(changes)}"
        self.check_can_change(now)
        if if_revision is not None and if_revision != self.revision:
            raise ResourceRevisionMismatch(
                f"revision {if_revision} was asked, the resource is at revision {self.revision}",
                revision=self.revision,
            )
        old = self.current.terms
        fields = {name: getattr(old, name) for name in TERM_FIELDS}
        new = check_terms(**{**fields, **{k: v for k, v in changes.items() if v is not None}})
        changed = tuple(n for n in TERM_FIELDS if getattr(new, n) != getattr(old, n))
        if not changed:
            return False
        self.trigger_event(
            self.Updated,
            timestamp=now,
            revision=self.revision + 1,
            changed=changed,
            **{name: getattr(new, name) for name in TERM_FIELDS},
            updated_by=by,
            updated_at=now,
        )
        return True

    def withdraw(self, *, reason: str, by: str, now: datetime) -> None:
        self.check_can_change(now)
        reason = check_reason(reason)
        self.trigger_event(
            self.Withdrawn, timestamp=now, reason=reason, withdrawn_by=by, withdrawn_at=now
        )

    def relist(self, *, reason: str, by: str, now: datetime) -> None:
        self.check_in_order(now)
        if self.current.is_listed:
            raise ResourceAlreadyListed(f"resource {self.id} is listed")
        reason = check_reason(reason)
        self.trigger_event(
            self.Relisted, timestamp=now, reason=reason, relisted_by=by, relisted_at=now
        )

    def grant_label(
        self, label: Label | str, *, reason: str, decided_on: date, by: str, now: datetime
    ) -> None:
        self.check_can_change(now)
        label, reason = check_decision(label, reason, decided_on, now)
        if label in self.current.labels:
            raise LabelAlreadyGranted(f"« {label.display_name} » is already granted")
        self.trigger_event(
            self.LabelGranted,
            timestamp=now,
            label=label,
            reason=reason,
            decided_on=decided_on,
            granted_by=by,
            granted_at=now,
        )

    def withdraw_label(
        self, label: Label | str, *, reason: str, decided_on: date, by: str, now: datetime
    ) -> None:
        # A withdrawn resource keeps its labels until the committee says otherwise.
        self.check_in_order(now)
        label, reason = check_decision(label, reason, decided_on, now)
        if label not in self.current.labels:
            raise LabelNotGranted(f"« {label.display_name} » is not granted")
        self.trigger_event(
            self.LabelWithdrawn,
            timestamp=now,
            label=label,
            reason=reason,
            decided_on=decided_on,
            withdrawn_by=by,
            withdrawn_at=now,
        )

    def check_in_order(self, now: datetime) -> None:
        check_moment(now)
        last = self.history[-1][0]
        if now < last:
            raise ResourceChangedLater(f"resource {self.id} last changed at {last}, after {now}")

    def check_can_change(self, now: datetime) -> None:
        self.check_in_order(now)
        if not self.current.is_listed:
            raise ResourceWithdrawn(f"resource {self.id} is withdrawn; relist it first")

    # Queries -----------------------------------------------------------------------------

    @property
    def current(self) -> Snapshot:
        return self.history[-1][1]

    @property
    def revision(self) -> int:
        return self.current.revision

    @property
    def terms(self) -> Terms:
        return self.current.terms

    def snapshot_at(self, moment: datetime) -> Snapshot | None:
        """The resource as it stood at `moment`; None before it was listed."""
        check_moment(moment)
        index = bisect_right(self.history, moment, key=lambda entry: entry[0])
        return self.history[index - 1][1] if index else None

    def price_at(self, moment: datetime) -> int:
        return self._listed_snapshot_at(moment).terms.price_cents

    def revision_at(self, moment: datetime) -> int:
        return self._listed_snapshot_at(moment).revision

    def labels_at(self, moment: datetime) -> tuple[Label, ...]:
        snapshot = self.snapshot_at(moment)
        return snapshot.labels if snapshot else ()

    def is_listed_at(self, moment: datetime) -> bool:
        snapshot = self.snapshot_at(moment)
        return snapshot is not None and snapshot.is_listed

    def evidence_at(self, moment: datetime) -> RedemptionEvidence:
        snapshot = self._listed_snapshot_at(moment)
        if not snapshot.is_listed:
            raise ResourceWithdrawn(f"resource {self.id} was withdrawn at {moment}")
        terms = snapshot.terms
        return RedemptionEvidence(
            self.id, snapshot.revision, terms.kind, terms.price_cents, snapshot.labels
        )

    def _listed_snapshot_at(self, moment: datetime) -> Snapshot:
        snapshot = self.snapshot_at(moment)
        if snapshot is None:
            raise ResourceNotFound(f"resource {self.id} was not listed yet at {moment}")
        return snapshot


# Checks ----------------------------------------------------------------------------------


def resource_id(vendor_id: str, reference: str) -> UUID:
    check_opaque_id(vendor_id, "vendor id")
    check_key(reference, "resource reference")
    # "/" cannot occur in a vendor id, so no two (vendor, reference) pairs share a name.
    return uuid5(TIRELIRE_NAMESPACE, f"resource:{vendor_id}/{reference}")


def check_terms(
    title: str,
    description: str,
    kind: ResourceKind | str,
    levels: Iterable[SchoolLevel | str],
    price_cents: int,
) -> Terms:
    if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE_LENGTH:
        raise InvalidInput(f"a title has 1 to {MAX_TITLE_LENGTH} characters", field="title")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidInput(
            f"a description has at most {MAX_DESCRIPTION_LENGTH} characters", field="description"
        )
    if type(price_cents) is not int or not 0 < price_cents <= MAX_PRICE_CENTS:
        raise InvalidAmount(
            f"a price is a whole number of cents from 1 to {MAX_PRICE_CENTS}", field="price_cents"
        )
    chosen = {member_of(SchoolLevel, level, "school level") for level in as_items(levels)}
    if not chosen:
        raise InvalidInput("a resource targets at least one school level", field="levels")
    return Terms(
        title,
        description,
        member_of(ResourceKind, kind, "kind"),
        in_enum_order(SchoolLevel, chosen),
        price_cents,
    )


def check_reason(reason: str) -> str:
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON_LENGTH:
        raise InvalidInput(f"a reason has 1 to {MAX_REASON_LENGTH} characters", field="reason")
    return reason


def check_decision(
    label: Label | str, reason: str, decided_on: date, now: datetime
) -> tuple[Label, str]:
    if type(decided_on) is not date:
        raise InvalidPeriod("the decision date is a calendar date", field="decided_on")
    if decided_on > now.date():
        raise InvalidPeriod("a decision cannot be dated after it is recorded", field="decided_on")
    return member_of(Label, label, "label"), check_reason(reason)


def check_moment(moment: datetime) -> None:
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise InvalidPeriod("moments are timezone-aware date-times")
