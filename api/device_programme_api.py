"""The device-bank programme over HTTP: the operator registers the pilot's territories with
their budgets, and approves the organisations that collect, refurbish and allocate devices
(or withdraws an approval, with a reason).

Each of these answers again what it recorded when sent again: a territory's id derives
from its code and an organisation's from its SIRET, so the same request is a retry that
records nothing, and other details under the same code or SIRET are refused (422
`idempotency_key_reused`). An organisation reads its own record, to see the roles it is
approved in; the operator and the auditor read any.
"""

from __future__ import annotations

from api import schemas as s
from api.common import OPERATOR, STAFF
from api.device_examples import TERRITORY_ID
from api.device_views import (
    APPROVED_ROLE,
    ORGANISATION,
    TERRITORY,
    TERRITORY_CODE,
    organisation_json,
    territory_json,
)
from api.parties import caller_party
from api.spec import Call, Operation, Reply, Role
from ledger.errors import Forbidden
from ledger.organisations import organisation_id
from ledger.parties import organisation
from ledger.territories import TerritoryKind, territory_id

ORGANISATIONS = frozenset({Role.COLLECTOR, Role.REFURBISHER, Role.EDUCATION_SERVICE})


async def register_territory(call: Call) -> Reply:
    bank, body = call.services.devices, call.body

    def register() -> dict:
        territory = bank.register_territory(
            code=body["code"],
            name=body["name"],
            kind=body["kind"],
            budget_cents=body["budget_cents"],
            funder_id=body["funder_id"],
            by=call.caller.name,
            now=call.now,
        )
        return territory_json(bank.get_territory(territory))

    return Reply(await call.services.run(register), status=201)


async def get_territory(call: Call) -> Reply:
    bank = call.services.devices
    territory = await call.services.run(
        lambda: bank.get_territory(territory_id(call.path["territory_code"]))
    )
    return Reply(territory_json(territory))


async def approve_organisation(call: Call) -> Reply:
    bank, body, siret = call.services.devices, call.body, call.path["siret"]

    def approve() -> dict:
        org = bank.approve_organisation(
            siret=siret, name=body["name"], role=body["role"], by=call.caller.name, now=call.now
        )
        return organisation_json(bank.get_organisation(org))

    return Reply(await call.services.run(approve))


async def withdraw_approval(call: Call) -> Reply:
    bank, body, siret = call.services.devices, call.body, call.path["siret"]

    def withdraw() -> dict:
        bank.withdraw_approval(
            siret=siret,
            role=body["role"],
            reason=body["reason"],
            by=call.caller.name,
            now=call.now,
        )
        return organisation_json(bank.get_organisation(organisation_id(siret)))

    return Reply(await call.services.run(withdraw))


async def get_organisation(call: Call) -> Reply:
    bank, siret = call.services.devices, call.path["siret"]
    if call.caller.role in ORGANISATIONS and caller_party(call.caller) != organisation(siret):
        raise Forbidden("an organisation reads its own record only")
    org = await call.services.run(lambda: bank.get_organisation(organisation_id(siret)))
    return Reply(organisation_json(org))


# Operations -----------------------------------------------------------------------------

SIRET = "55210055400013"
ORGANISATION_ID = "0c1d2e3f-4a5b-5c6d-9e7f-8a9b0c1d2e3f"
EXAMPLE_TERRITORY = {
    "territory_id": TERRITORY_ID,
    "code": "lyon",
    "name": "Métropole de Lyon",
    "kind": "metropolis",
    "budget_cents": 12_000_000,
    "spent_cents": 0,
    "remaining_cents": 12_000_000,
    "funder_id": "banque-des-territoires",
}
EXAMPLE_ORGANISATION = {
    "organisation_id": ORGANISATION_ID,
    "siret": SIRET,
    "name": "Ateliers du Bocage",
    "roles": ["collector", "refurbisher"],
}

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        operation_id="register_territory",
        method="POST",
        path="/v1/territories",
        summary="Register a pilot territory and the programme budget its refurbishments spend",
        description="The territory's id derives from its code: the same request again "
        "answers the same territory; other details under the same code are refused. Each "
        "refurbishment and repair of its devices is charged to its budget, up to 60 € per "
        "device.",
        tag="operator",
        roles=OPERATOR,
        handler=register_territory,
        status=201,
        body=s.obj(
            {
                "code": TERRITORY_CODE,
                "name": s.TITLE,
                "kind": s.enum(*(k.value for k in TerritoryKind)),
                "budget_cents": s.CENTS,
                "funder_id": s.OPAQUE_ID,
            }
        ),
        response=TERRITORY,
        moves_money=True,
        example_body={
            k: EXAMPLE_TERRITORY[k] for k in ("code", "name", "kind", "budget_cents", "funder_id")
        },
        example_response=EXAMPLE_TERRITORY,
    ),
    Operation(
        operation_id="get_territory",
        method="GET",
        path="/v1/territories/{territory_code}",
        summary="A territory of the pilot: its budget, what its devices' works spent of it",
        tag="operator",
        roles=STAFF,
        handler=get_territory,
        response=TERRITORY,
        example_response={**EXAMPLE_TERRITORY, "spent_cents": 4500, "remaining_cents": 11_995_500},
        ownership="any",
    ),
    Operation(
        operation_id="approve_organisation",
        method="POST",
        path="/v1/organisations/{siret}/approvals",
        summary="Approve an organisation as a collector, refurbisher or education service",
        description="Registers the organisation under its SIRET the first time; an "
        "organisation may hold several roles, always under the same name. Approving a role "
        "in force again records nothing.",
        tag="operator",
        roles=OPERATOR,
        handler=approve_organisation,
        body=s.obj({"name": s.TITLE, "role": APPROVED_ROLE}),
        response=ORGANISATION,
        moves_money=True,
        example_body={"name": "Ateliers du Bocage", "role": "refurbisher"},
        example_response=EXAMPLE_ORGANISATION,
        ownership="any",
    ),
    Operation(
        operation_id="withdraw_approval",
        method="POST",
        path="/v1/organisations/{siret}/withdrawals",
        summary="Withdraw an organisation's approval for a role, with the reason",
        description="From now on it may no longer receive devices or work in that role; it "
        "may still hand over the devices it holds. Withdrawing an approval already "
        "withdrawn records nothing; one never given is refused (409).",
        tag="operator",
        roles=OPERATOR,
        handler=withdraw_approval,
        body=s.obj({"role": APPROVED_ROLE, "reason": s.TEXT}),
        response=ORGANISATION,
        moves_money=True,
        example_body={"role": "collector", "reason": "agrément expiré"},
        example_response={**EXAMPLE_ORGANISATION, "roles": ["refurbisher"]},
        ownership="any",
    ),
    Operation(
        operation_id="get_organisation",
        method="GET",
        path="/v1/organisations/{siret}",
        summary="An organisation and the roles it is approved in now",
        description="An organisation reads its own (its token's subject is "
        "`organisation:{SIRET}`); the operator and the auditor read any.",
        tag="operator",
        roles=STAFF | ORGANISATIONS,
        handler=get_organisation,
        response=ORGANISATION,
        example_response=EXAMPLE_ORGANISATION,
        ownership="self",
    ),
)
