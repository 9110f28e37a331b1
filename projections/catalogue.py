"""The catalogue read model: every resource as it stands now, searchable by label, kind and
school level.

The aggregate `ledger.catalogue.Resource` keeps the whole history of a resource, to judge a
redemption at its moment; teachers browsing the catalogue only need the present. This
projection folds the resource events into one row per resource (its current terms,
revision, listing and labels) and one row per label in force, which is what a search by
label joins on. Levels and labels are also kept on the resource's row as comma-separated
values, in the enums' order, so a page of results needs no second query.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic
from sqlalchemy import Connection, Engine, Row, delete, insert, literal, select, update

from ledger.catalogue import Resource, SchoolLevel
from ledger.eligibility import Label, ResourceKind, in_enum_order, member_of
from ledger.errors import InvalidInput
from projections.schema import catalogue_labels, catalogue_resources

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
SEPARATOR = ","  # enum values are snake_case words: none holds a comma


def joined(members: Sequence[Any]) -> str:
    return SEPARATOR.join(member.value for member in members)


class CatalogueProjection:
    name = "catalogue"
    tables = (catalogue_resources, catalogue_labels)

    def __init__(self) -> None:
        self.handlers: dict[type, Callable[[Connection, Any], None]] = {
            Resource.Listed: self.listed,
            Resource.Updated: self.updated,
            Resource.Withdrawn: self.withdrawn,
            Resource.Relisted: self.relisted,
            Resource.LabelGranted: self.label_granted,
            Resource.LabelWithdrawn: self.label_withdrawn,
        }
        self.topics = tuple(get_topic(event_type) for event_type in self.handlers)

    def apply(self, conn: Connection, events: Sequence[Any]) -> None:
        for event in events:
            self.handlers[type(event)](conn, event)

    def listed(self, conn: Connection, event: Resource.Listed) -> None:
        conn.execute(
            insert(catalogue_resources).values(
                resource_id=str(event.originator_id),
                vendor_id=event.vendor_id,
                reference=event.reference,
                revision=1,
                is_listed=True,
                labels="",
                **terms(event),
            )
        )

    def updated(self, conn: Connection, event: Resource.Updated) -> None:
        self.change(conn, event, revision=event.revision, **terms(event))

    def withdrawn(self, conn: Connection, event: Resource.Withdrawn) -> None:
        self.change(conn, event, is_listed=False)

    def relisted(self, conn: Connection, event: Resource.Relisted) -> None:
        self.change(conn, event, is_listed=True)

    def label_granted(self, conn: Connection, event: Resource.LabelGranted) -> None:
        conn.execute(
            insert(catalogue_labels).values(
                resource_id=str(event.originator_id), label=event.label.value
            )
        )
        self.write_labels(conn, event)

    def label_withdrawn(self, conn: Connection, event: Resource.LabelWithdrawn) -> None:
        conn.execute(
            delete(catalogue_labels).where(
                catalogue_labels.c.resource_id == str(event.originator_id),
                catalogue_labels.c.label == event.label.value,
            )
        )
        self.write_labels(conn, event)

    def write_labels(self, conn: Connection, event: Any) -> None:
        query = select(catalogue_labels.c.label).where(
            catalogue_labels.c.resource_id == str(event.originator_id)
        )
        labels = {Label(value) for value in conn.execute(query).scalars()}
        self.change(conn, event, labels=joined(in_enum_order(Label, labels)))

    @staticmethod
    def change(conn: Connection, event: Any, **values: Any) -> None:
        resource = catalogue_resources.c.resource_id == str(event.originator_id)
        changed = conn.execute(update(catalogue_resources).where(resource).values(**values))
        assert changed.rowcount == 1, f"resource {event.originator_id} was listed first"


def terms(event: Resource.Listed | Resource.Updated) -> dict[str, Any]:
    return {
        "title": event.title,
        "kind": event.kind.value,
        "levels": joined(event.levels),
        "price_cents": event.price_cents,
    }


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """A resource of the catalogue as it stands now."""

    resource_id: UUID
    vendor_id: str
    reference: str
    title: str
    kind: ResourceKind
    levels: tuple[SchoolLevel, ...]
    price_cents: int
    revision: int
    is_listed: bool
    labels: tuple[Label, ...]

    @classmethod
    def from_row(cls, row: Row) -> CatalogueEntry:
        return cls(
            resource_id=UUID(row.resource_id),
            vendor_id=row.vendor_id,
            reference=row.reference,
            title=row.title,
            kind=ResourceKind(row.kind),
            levels=split(SchoolLevel, row.levels),
            price_cents=int(row.price_cents),
            revision=int(row.revision),
            is_listed=bool(row.is_listed),
            labels=split(Label, row.labels),
        )


def split(enum_type: type, text: str) -> tuple[Any, ...]:
    return tuple(enum_type(value) for value in text.split(SEPARATOR) if value)


class CatalogueView:
    """Queries on the catalogue read model."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, resource_id: UUID) -> CatalogueEntry | None:
        query = select(catalogue_resources).where(
            catalogue_resources.c.resource_id == str(resource_id)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else CatalogueEntry.from_row(row)

    def search(
        self,
        label: Label | str | None = None,
        kind: ResourceKind | str | None = None,
        level: SchoolLevel | str | None = None,
        listed_only: bool = True,
        limit: int = DEFAULT_PAGE_SIZE,
        offset: int = 0,
    ) -> list[CatalogueEntry]:
        """One page of resources matching every filter given, by title then id."""
        check_page(limit, offset)
        table = catalogue_resources
        query = select(table).order_by(table.c.title, table.c.resource_id)
        if label is not None:
            label = member_of(Label, label, "label")
            query = query.join(
                catalogue_labels,
                (catalogue_labels.c.resource_id == table.c.resource_id)
                & (catalogue_labels.c.label == label.value),
            )
        if kind is not None:
            query = query.where(table.c.kind == member_of(ResourceKind, kind, "kind").value)
        if level is not None:
            # The level is a member of the enum, so the pattern holds no wildcard.
            value = member_of(SchoolLevel, level, "school level").value
            padded = literal(SEPARATOR) + table.c.levels + literal(SEPARATOR)
            query = query.where(padded.like(f"%{SEPARATOR}{value}{SEPARATOR}%"))
        if listed_only:
            query = query.where(table.c.is_listed.is_(True))
        with self.engine.connect() as conn:
            rows = conn.execute(query.limit(limit).offset(offset)).all()
        return [CatalogueEntry.from_row(row) for row in rows]


def check_page(limit: int, offset: int) -> None:
    if type(limit) is not int or not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"a page has 1 to {MAX_PAGE_SIZE} rows", field="limit")
    if type(offset) is not int or offset < 0:
        raise InvalidInput("an offset is a whole number from 0", field="offset")
