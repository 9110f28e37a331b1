"""The catalogue over HTTP: vendors list, change, withdraw and relist their resources;
every role searches the resources on sale and reads one.

A vendor lists its own resources, withdrawn ones included; the operator and the auditor
list any vendor's. The catalogue, which every role reads, names vendors by id only (their
profiles are in `api.vendor_api`).

The catalogue read model follows the log in the background; a search first catches it up,
so a vendor finds the resource it has just listed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from api import schemas as s
from api.common import VENDOR, VENDOR_OR_STAFF, own_vendor, page, paging, path_uuid
from api.spec import ALL_ROLES, Call, Handler, Operation, Reply
from ledger.catalogue import MAX_PRICE_CENTS, Resource, SchoolLevel
from ledger.eligibility import Label, ResourceKind
from ledger.errors import Forbidden, ResourceNotFound
from projections.catalogue import MAX_PAGE_SIZE, CatalogueEntry
from projections.schema import catalogue_resources


def resource_json(resource: Resource, snapshot: Any = None) -> dict[str, Any]:
    snapshot = snapshot or resource.current
    terms = snapshot.terms
    return {
        "resource_id": str(resource.id),
        "vendor_id": resource.vendor_id,
        "reference": resource.reference,
        "title": terms.title,
        "description": terms.description,
        "kind": terms.kind.value,
        "levels": [level.value for level in terms.levels],
        "price_cents": terms.price_cents,
        "revision": snapshot.revision,
        "is_listed": snapshot.is_listed,
        "labels": [label.value for label in snapshot.labels],
    }


def entry_json(entry: CatalogueEntry) -> dict[str, Any]:
    return {
        "resource_id": str(entry.resource_id),
        "vendor_id": entry.vendor_id,
        "reference": entry.reference,
        "title": entry.title,
        "kind": entry.kind.value,
        "levels": [level.value for level in entry.levels],
        "price_cents": entry.price_cents,
        "revision": entry.revision,
        "is_listed": entry.is_listed,
        "labels": [label.value for label in entry.labels],
    }


async def list_resource(call: Call) -> Reply:
    vendor = str(own_vendor(call))
    services, body = call.services, call.body

    def listed() -> Resource:
        resource_id = services.catalogue.list_resource(
            vendor_id=vendor,
            reference=body["reference"],
            title=body["title"],
            description=body.get("description", ""),
            kind=body["kind"],
            levels=body["levels"],
            price_cents=body["price_cents"],
            by=call.caller.name,
            now=call.now,
        )
        return services.catalogue.get_resource(resource_id)

    return Reply(resource_json(await services.run(listed)), status=201)


def change_resource(command: str) -> Handler:
    """The handler of a vendor's change to one of its resources: `command(resource_id,
    body, by, now)` on the catalogue; answers the resource as it now stands."""

    async def handler(call: Call) -> Reply:
        vendor = str(own_vendor(call))
        resource_id = path_uuid(call, "resource_id")
        catalogue, body = call.services.catalogue, dict(call.body)

        def changed() -> Resource:
            if catalogue.get_resource(resource_id).vendor_id != vendor:
                raise Forbidden("this resource is listed by another vendor")
            if command == "update_resource":
                catalogue.update_resource(resource_id, by=call.caller.name, now=call.now, **body)
            else:
                act = getattr(catalogue, command)
                act(resource_id, reason=body["reason"], by=call.caller.name, now=call.now)
            return catalogue.get_resource(resource_id)

        return Reply(resource_json(await call.services.run(changed)))

    handler.__name__ = command
    return handler


def vendor_entries(engine: Any, vendor_id: str, limit: int, offset: int) -> list[CatalogueEntry]:
    """One page of a vendor's resources, withdrawn ones included, by title then id."""
    table = catalogue_resources
    query = (
        select(table)
        .where(table.c.vendor_id == vendor_id)
        .order_by(table.c.title, table.c.resource_id)
        .limit(limit)
        .offset(offset)
    )
    with engine.connect() as conn:
        return [CatalogueEntry.from_row(row) for row in conn.execute(query)]


async def list_vendor_resources(call: Call) -> Reply:
    vendor = str(own_vendor(call))
    limit, offset = page(call)
    services = call.services
    await services.run(services.catch_up, "catalogue")
    entries = await services.run(vendor_entries, services.engine, vendor, limit, offset)
    return Reply({"items": [entry_json(e) for e in entries], "limit": limit, "offset": offset})


async def search_catalogue(call: Call) -> Reply:
    limit, offset = page(call)
    services, query = call.services, call.query
    await services.run(services.catch_up, "catalogue")
    entries = await services.run(
        lambda: services.catalogue_view.search(
            label=query.get("label"),
            kind=query.get("kind"),
            level=query.get("level"),
            limit=limit,
            offset=offset,
        )
    )
    return Reply({"items": [entry_json(e) for e in entries], "limit": limit, "offset": offset})


async def get_resource(call: Call) -> Reply:
    resource_id = path_uuid(call, "resource_id")
    resource = await call.services.run(call.services.catalogue.get_resource, resource_id)
    snapshot = resource.snapshot_at(call.now)
    if snapshot is None:
        raise ResourceNotFound(f"no resource {resource_id}")
    return Reply(resource_json(resource, snapshot))


# Schemas and examples -----------------------------------------------------------------

REFERENCE = {"type": "string", "minLength": 1, "maxLength": 128}
KIND = s.enum(*(kind.value for kind in ResourceKind))
LEVEL = s.enum(*(level.value for level in SchoolLevel))
LABEL = s.enum(*(label.value for label in Label))
LEVELS = s.array(LEVEL, max_items=len(SchoolLevel), min_items=1)
PRICE = {**s.CENTS, "maximum": MAX_PRICE_CENTS}
DESCRIPTION = {"type": "string", "maxLength": 4000}
VENDOR_ID = "3f1e2a4b-6c7d-5e8f-9a0b-1c2d3e4f5a6b"
RESOURCE_ID = "6f1c2b9e-2d4a-4c1e-9a53-0d6a3f0b7c11"
ENTRY_FIELDS = {
    "resource_id": s.UUID,
    "vendor_id": s.TEXT,
    "reference": REFERENCE,
    "title": s.TITLE,
    "kind": KIND,
    "levels": LEVELS,
    "price_cents": PRICE,
    "revision": s.COUNT,
    "is_listed": s.BOOLEAN,
    "labels": s.array(LABEL, max_items=len(Label)),
}
ENTRY = s.obj(ENTRY_FIELDS)
RESOURCE = s.obj({**ENTRY_FIELDS, "description": DESCRIPTION})
EXAMPLE_ENTRY = {
    "resource_id": RESOURCE_ID,
    "vendor_id": VENDOR_ID,
    "reference": "lecture-cp",
    "title": "Lire au CP",
    "kind": "digital_textbook",
    "levels": ["elementaire"],
    "price_cents": 1990,
    "revision": 1,
    "is_listed": True,
    "labels": ["reconnu_interet_pedagogique", "francais"],
}
EXAMPLE_RESOURCE = {**EXAMPLE_ENTRY, "description": "Un manuel de lecture pour le CP."}
PAGE = s.obj(
    {
        "items": s.array(ENTRY, max_items=MAX_PAGE_SIZE),
        "limit": s.COUNT,
        "offset": s.COUNT,
    }
)
EXAMPLE_PAGE = {"items": [EXAMPLE_ENTRY], "limit": 50, "offset": 0}


def resource_change(
    command: str, path: str, summary: str, body: dict[str, Any], example: Any
) -> Operation:
    return Operation(
        operation_id=command,
        method="POST",
        path=f"/v1/vendors/{{vendor_id}}/resources/{{resource_id}}/{path}",
        summary=summary,
        tag="vendor",
        roles=VENDOR,
        handler=change_resource(command),
        body=body,
        response=RESOURCE,
        example_body=example,
        example_response=EXAMPLE_RESOURCE,
        ownership="self",
    )


UPDATE = {
    **s.obj(
        {},
        {
            "title": s.TITLE,
            "description": DESCRIPTION,
            "kind": KIND,
            "levels": LEVELS,
            "price_cents": PRICE,
            "if_revision": {"type": "integer", "minimum": 1},
        },
    ),
    "minProperties": 1,
}

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        operation_id="list_resource",
        method="POST",
        path="/v1/vendors/{vendor_id}/resources",
        summary="List a resource in the catalogue under a reference of mine",
        description="The same reference and terms again answer the same resource.",
        tag="vendor",
        roles=VENDOR,
        handler=list_resource,
        status=201,
        body=s.obj(
            {
                "reference": REFERENCE,
                "title": s.TITLE,
                "kind": KIND,
                "levels": LEVELS,
                "price_cents": PRICE,
            },
            {"description": DESCRIPTION},
        ),
        response=RESOURCE,
        example_body={
            "reference": "lecture-cp",
            "title": "Lire au CP",
            "description": "Un manuel de lecture pour le CP.",
            "kind": "digital_textbook",
            "levels": ["elementaire"],
            "price_cents": 1990,
        },
        example_response={**EXAMPLE_RESOURCE, "labels": []},
        ownership="self",
    ),
    Operation(
        operation_id="list_vendor_resources",
        method="GET",
        path="/v1/vendors/{vendor_id}/resources",
        summary="A vendor's resources, withdrawn ones included, by title",
        tag="vendor",
        roles=VENDOR_OR_STAFF,
        handler=list_vendor_resources,
        query={"type": "object", "properties": paging()},
        response=PAGE,
        example_response=EXAMPLE_PAGE,
        ownership="self",
    ),
    resource_change(
        "update_resource",
        "terms",
        "Change some terms of my resource (title, description, kind, levels, price)",
        UPDATE,
        {"price_cents": 2190, "if_revision": 1},
    ),
    resource_change(
        "withdraw_resource",
        "withdraw",
        "Withdraw my resource from sale",
        s.REASON,
        {"reason": "nouvelle édition en préparation"},
    ),
    resource_change(
        "relist_resource",
        "relist",
        "Put my withdrawn resource on sale again",
        s.REASON,
        {"reason": "nouvelle édition disponible"},
    ),
    Operation(
        operation_id="search_catalogue",
        method="GET",
        path="/v1/catalogue",
        summary="Search the resources on sale by label, kind and school level",
        tag="catalogue",
        roles=ALL_ROLES,
        handler=search_catalogue,
        query={
            "type": "object",
            "properties": {"label": LABEL, "kind": KIND, "level": LEVEL, **paging()},
        },
        response=PAGE,
        example_response=EXAMPLE_PAGE,
    ),
    Operation(
        operation_id="get_resource",
        method="GET",
        path="/v1/catalogue/{resource_id}",
        summary="One resource, with its price and labels in force now",
        tag="catalogue",
        roles=ALL_ROLES,
        handler=get_resource,
        response=RESOURCE,
        example_response=EXAMPLE_RESOURCE,
    ),
)
