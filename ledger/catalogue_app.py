"""The catalogue application: vendors list resources, the labelling committee labels them
(the rules and the history of each resource live in `ledger.catalogue`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from ledger.application import LedgerApplication
from ledger.catalogue import (
    TERM_FIELDS,
    Resource,
    SchoolLevel,
    T,
    check_terms,
)
from ledger.eligibility import (
    Label,
    ResourceKind,
)
from ledger.errors import (
    InvalidInput,
    ResourceNotFound,
)
from ledger.ids import request_digest


class Catalogue(LedgerApplication):
    """The reference catalogue: vendors list resources, the committee labels them."""

    def list_resource(
        self,
        *,
        vendor_id: str,
        reference: str,
        title: str,
        description: str,
        kind: ResourceKind | str,
        levels: Iterable[SchoolLevel | str],
        price_cents: int,
        by: str,
        now: datetime,
    ) -> UUID:
        """List a resource; a retry with the same reference and terms answers the same id."""
        terms = check_terms(title, description, kind, levels, price_cents)
        digest = request_digest("list_resource", vendor_id, reference, *terms.digest_fields())
        resource = Resource.list_resource(
            vendor_id=vendor_id, reference=reference, terms=terms, digest=digest, by=by, now=now
        )
        try:
            self.record(resource)
        except IntegrityError:
            self.get_resource(resource.id).check_same_request(digest)
        return resource.id

    def get_resource(self, resource_id: UUID) -> Resource:
        try:
            return self.repository.get(resource_id)
        except AggregateNotFoundError:
            raise ResourceNotFound(f"no resource {resource_id}") from None

    def update_resource(
        self,
        resource_id: UUID,
        *,
        by: str,
        now: datetime,
        if_revision: int | None = None,
        **changes: Any,
    ) -> int:
        """Change some terms (title, description, kind, levels, price_cents; None leaves one
        as it is); answers the revision."""
        unknown = set(changes) - set(TERM_FIELDS)
        if unknown:
            raise InvalidInput(f"unknown terms: {', '.join(sorted(unknown))}")

        def update(resource: Resource) -> int:
            resource.update(by=by, now=now, if_revision=if_revision, **changes)
            return resource.revision

        return self._change(resource_id, update)

    def withdraw_resource(self, resource_id: UUID, *, reason: str, by: str, now: datetime) -> None:
        self._change(resource_id, lambda r: r.withdraw(reason=reason, by=by, now=now))

    def relist_resource(self, resource_id: UUID, *, reason: str, by: str, now: datetime) -> None:
        self._change(resource_id, lambda r: r.relist(reason=reason, by=by, now=now))

    def grant_label(
        self,
        resource_id: UUID,
        label: Label | str,
        *,
        reason: str,
        decided_on: date,
        by: str,
        now: datetime,
    ) -> None:
        self._change(
            resource_id,
            lambda r: r.grant_label(label, reason=reason, decided_on=decided_on, by=by, now=now),
        )

    def withdraw_label(
        self,
        resource_id: UUID,
        label: Label | str,
        *,
        reason: str,
        decided_on: date,
        by: str,
        now: datetime,
    ) -> None:
        self._change(
            resource_id,
            lambda r: r.withdraw_label(label, reason=reason, decided_on=decided_on, by=by, now=now),
        )

    def _change(self, resource_id: UUID, command: Callable[[Resource], T]) -> T:
        """Load, apply, save; on a concurrent write to the resource, load again and retry."""

        def attempt():
            resource = self.get_resource(resource_id)
            answer = command(resource)
            self.record(resource)
            return answer

        return self.retrying(attempt, "the resource")
