"""Eligibility: what a campaign's credit may buy, and what a redemption records of it.

The catalogue (`ledger.catalogue`) lists resources of several *kinds*, and the independent
committee grants them *labels*. A campaign says what its credit may buy with an
`EligibilityRule`:

- any resource listed in the catalogue at the moment of the redemption, or
- only resources carrying, at that moment, every one of the rule's labels;

and, optionally, a cap in cents per kind: a teacher may spend at most so much of one
campaign's credit on, say, training. What the teacher has spent so far is the ledger's to
say; the rule only compares.

`EligibilityRule.check` refuses with `ResourceNotEligible` (its `reason` detail says which
test failed), or answers with the `RedemptionEvidence`: the resource's id, revision, kind,
price and the labels in force at that moment. The ledger records the evidence on each
redemption, so an auditor can judge every purchase again against the rule without reading
the catalogue's later history.

Rules and evidence hold enum members, ints, UUIDs and tuples: plain values an event carries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Protocol, TypeVar
from uuid import UUID

from ledger.errors import (
    InvalidAmount,
    InvalidInput,
    ResourceNotEligible,
)
from ledger.money import MAX_AMOUNT_CENTS

MAX_KIND_CAP_CENTS = MAX_AMOUNT_CENTS


class ResourceKind(Enum):
    SOFTWARE_LICENCE = "software_licence"
    DIGITAL_TEXTBOOK = "digital_textbook"
    ONLINE_SERVICE = "online_service"
    TRAINING = "training"
    OTHER = "other"


class Label(Enum):
    RECONNU_INTERET_PEDAGOGIQUE = "reconnu_interet_pedagogique"
    FRANCAIS = "francais"

    @property
    def display_name(self) -> str:
        return LABEL_NAMES[self]


LABEL_NAMES = {
    Label.RECONNU_INTERET_PEDAGOGIQUE: "Reconnu d'intérêt pédagogique",
    Label.FRANCAIS: "Français",
}

KindCaps = tuple[tuple[ResourceKind, int], ...]  # (kind, cap in cents), in the enum's order


@dataclass(frozen=True, slots=True)
class RedemptionEvidence:
    """What a redemption records of the resource it bought: enough to judge it again later."""

    resource_id: UUID
    revision: int
    kind: ResourceKind
    price_cents: int
    labels: tuple[Label, ...]


class CataloguedResource(Protocol):
    """What a rule reads of a resource (`ledger.catalogue.Resource`)."""

    @property
    def id(self) -> UUID: ...
    def is_listed_at(self, moment: datetime) -> bool: ...
    def labels_at(self, moment: datetime) -> tuple[Label, ...]: ...
    def evidence_at(self, moment: datetime) -> RedemptionEvidence: ...


@dataclass(frozen=True, slots=True)
class EligibilityRule:
    """Which resources a campaign's credit may buy. No labels: any listed resource."""

    required_labels: tuple[Label, ...] = ()
    kind_caps_cents: KindCaps = ()

    def __post_init__(self) -> None:
        # Canonical form (enum order, each once), so equal rules compare and digest equal.
        labels = {member_of(Label, label, "label") for label in as_items(self.required_labels)}
        caps = check_kind_caps(self.kind_caps_cents)
        object.__setattr__(self, "required_labels", in_enum_order(Label, labels))
        object.__setattr__(self, "kind_caps_cents", caps)

    @classmethod
    def any_listed(
        cls, kind_caps_cents: Mapping[ResourceKind, int] | KindCaps = ()
    ) -> EligibilityRule:
        return cls((), tuple(dict(kind_caps_cents).items()))

    @classmethod
    def labelled(
        cls,
        labels: Iterable[Label | str],
        kind_caps_cents: Mapping[ResourceKind, int] | KindCaps = (),
    ) -> EligibilityRule:
        rule = cls(tuple(as_items(labels)), tuple(dict(kind_caps_cents).items()))
        if not rule.required_labels:
            raise InvalidInput("name at least one label, or take any listed resource")
        return rule

    def cap_cents(self, kind: ResourceKind) -> int | None:
        return dict(self.kind_caps_cents).get(kind)

    def check(
        self,
        resource: CataloguedResource,
        moment: datetime,
        spent_by_kind_cents: Mapping[ResourceKind, int],
        amount_cents: int,
    ) -> RedemptionEvidence:
        """Refuse a redemption this rule does not allow; else answer what it must record."""
        if type(amount_cents) is not int or amount_cents <= 0:
            raise InvalidAmount("a redemption is a positive number of cents")
        if not resource.is_listed_at(moment):
            raise ResourceNotEligible(
                f"resource {resource.id} was not listed in the catalogue at {moment}",
                reason="not_listed",
                resource_id=str(resource.id),
            )
        missing = [
            label for label in self.required_labels if label not in resource.labels_at(moment)
        ]
        if missing:
            names = ", ".join(f"« {label.display_name} »" for label in missing)
            raise ResourceNotEligible(
                f"this credit buys labelled resources only; resource {resource.id} lacked "
                f"{names} at {moment}",
                reason="missing_labels",
                resource_id=str(resource.id),
                missing_labels=tuple(label.value for label in missing),
            )
        evidence = resource.evidence_at(moment)
        self.check_kind_cap(evidence, spent_by_kind_cents.get(evidence.kind, 0), amount_cents)
        return evidence

    def check_kind_cap(
        self, evidence: RedemptionEvidence, spent_cents: int, amount_cents: int
    ) -> None:
        check_kind_cap(evidence, self.cap_cents(evidence.kind), spent_cents, amount_cents)


def check_kind_cap(
    evidence: RedemptionEvidence, cap_cents: int | None, spent_cents: int, amount_cents: int
) -> None:
    """Refuse a redemption that would take this credit's spending on its kind over the cap."""
    assert type(spent_cents) is int and spent_cents >= 0, "the ledger's spending is exact"
    if cap_cents is not None and spent_cents + amount_cents > cap_cents:
        raise ResourceNotEligible(
            f"{amount_cents} cents more on {evidence.kind.value} would bring spending to "
            f"{spent_cents + amount_cents} cents, over this credit's cap of {cap_cents} cents",
            reason="over_kind_cap",
            resource_id=str(evidence.resource_id),
            kind=evidence.kind.value,
            cap_cents=cap_cents,
            spent_cents=spent_cents,
        )


def check_kind_caps(kind_caps_cents: Iterable[tuple[ResourceKind | str, int]]) -> KindCaps:
    try:
        pairs = [(member_of(ResourceKind, k, "kind"), cents) for k, cents in kind_caps_cents]
    except (TypeError, ValueError):
        raise InvalidInput("caps are (kind, cents) pairs", field="kind_caps_cents") from None
    caps = dict(pairs)
    if len(caps) != len(pairs):
        raise InvalidInput("each kind has one cap at most", field="kind_caps_cents")
    for kind, cents in pairs:
        if type(cents) is not int or not 0 < cents <= MAX_KIND_CAP_CENTS:
            raise InvalidAmount(
                f"the cap on {kind.value} is a whole number of cents from 1 to "
                f"{MAX_KIND_CAP_CENTS}",
                field="kind_caps_cents",
            )
    return tuple((kind, caps[kind]) for kind in ResourceKind if kind in caps)


def as_items(values: Iterable[object]) -> Iterable[object]:
    """A collection's items; a lone string or member is refused, not split into letters."""
    if isinstance(values, str | Enum) or not isinstance(values, Iterable):
        raise InvalidInput(f"expected a list, not {values!r}")
    return values


E = TypeVar("E", bound=Enum)


def member_of(enum_type: type[E], value: object, what: str) -> E:
    """An enum member from itself or its value: the API passes plain strings."""
    try:
        return enum_type(value)
    except (ValueError, TypeError):
        names = ", ".join(member.value for member in enum_type)
        raise InvalidInput(f"{what} must be one of: {names}", field=what) from None


def in_enum_order(enum_type: type[E], members: set[E]) -> tuple[E, ...]:
    return tuple(member for member in enum_type if member in members)
