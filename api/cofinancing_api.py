"""Co-financing over HTTP: each euro a device-bank territory spends comes one part from the
operator (Banque des Territoires), one from local authorities and one from companies
(`ledger.cofinancing`).

The operator, as fund manager, opens a territory's co-financing with the kinds' ratio
(1:1:1 by default), records payments received from any funder, spends the matched money,
and closes the co-financing at the programme's end, when what was paid and not spent
returns to each funder pro rata. Auditors read the report.

Funders pledge and pay under their own name, which their token gives (`api.parties`): a
company is `company:{SIRET}`, a local authority `authority:{its id}`, and the operator
pledges for the territory's programme funder (the `funder_id` it registered the territory
with). A funder answers with its own figures only, and pays only for itself (403 if it
names another). Each pledge, payment and spend is keyed by the caller's `Idempotency-Key`:
sent again, it records nothing and answers as the first time.
"""

from __future__ import annotations

from typing import Any

from api import schemas as s
from api.common import OPERATOR, STAFF, scoped_key
from api.parties import caller_funder
from api.spec import Call, Operation, Reply, Role
from ledger.cofinancing import CoFinancingReport, FunderFigures, SpendPurpose
from ledger.errors import Forbidden
from ledger.fund_app import InternetFund
from ledger.matching import DEFAULT_RATIO, MAX_RATIO_WEIGHT, FunderKind
from ledger.territories import territory_id

FUNDERS = frozenset({Role.OPERATOR, Role.AUTHORITY, Role.COMPANY})
KIND_OF_ROLE = {
    Role.OPERATOR: FunderKind.OPERATOR,
    Role.AUTHORITY: FunderKind.LOCAL_AUTHORITY,
    Role.COMPANY: FunderKind.COMPANY,
}


def funder_of(call: Call, fund: InternetFund) -> str:
    """Blocking: who the caller pledges or pays as (see the module's docstring)."""
    if call.caller.role is Role.OPERATOR:
        return fund.device_bank.get_territory(territory_id(call.path["territory_code"])).funder_id
    return caller_funder(call.caller)


# Rendering ------------------------------------------------------------------------------


def funder_json(figures: FunderFigures) -> dict[str, Any]:
    return {
        "funder_id": figures.funder_id,
        "kind": figures.kind.value,
        "pledged_cents": figures.pledged_cents,
        "paid_cents": figures.paid_cents,
        "spent_cents": figures.spent_cents,
        "returned_cents": figures.returned_cents,
    }


def report_json(report: CoFinancingReport) -> dict[str, Any]:
    return {
        "territory_code": report.territory_code,
        "ratio": list(report.ratio),
        "is_closed": report.is_closed,
        "pledged_cents": report.pledged_cents,
        "paid_cents": report.paid_cents,
        "matched_cents": report.matched_cents,
        "spent_cents": report.spent_cents,
        "available_cents": report.available_cents,
        "returned_cents": report.returned_cents,
        "kinds": [
            {
                "kind": k.kind.value,
                "weight": k.weight,
                "pledged_cents": k.pledged_cents,
                "paid_cents": k.paid_cents,
                "spent_cents": k.spent_cents,
            }
            for k in report.kinds
        ],
        "funders": [funder_json(f) for f in report.funders],
    }


def own_figures(fund: InternetFund, territory: str, funder: str) -> dict[str, Any]:
    report = fund.cofinancing_report(territory)
    (figures,) = (f for f in report.funders if f.funder_id == funder)
    return funder_json(figures)


def lineage_json(amounts: Any) -> list[dict[str, Any]]:
    return [{"funder_id": funder, "amount_cents": cents} for funder, cents in amounts]


# Handlers -------------------------------------------------------------------------------


async def open_cofinancing(call: Call) -> Reply:
    territory, fund = call.path["territory_code"], call.services.fund
    ratio = tuple((call.body or {}).get("ratio", DEFAULT_RATIO))

    def open_() -> dict[str, Any]:
        fund.open_cofinancing(territory=territory, ratio=ratio, by=call.caller.name, now=call.now)
        return report_json(fund.cofinancing_report(territory))

    return Reply(await call.services.run(open_), status=201)


async def get_cofinancing(call: Call) -> Reply:
    territory, fund = call.path["territory_code"], call.services.fund
    report = await call.services.run(fund.cofinancing_report, territory)
    return Reply(report_json(report))


async def pledge_cofinancing(call: Call) -> Reply:
    territory, fund = call.path["territory_code"], call.services.fund
    key = scoped_key(call.caller, call.idempotency_key)

    def pledge() -> dict[str, Any]:
        funder = funder_of(call, fund)
        fund.pledge(
            territory=territory,
            key=key,
            funder_id=funder,
            funder_kind=KIND_OF_ROLE[call.caller.role],
            amount_cents=call.body["amount_cents"],
            by=call.caller.name,
            now=call.now,
        )
        return own_figures(fund, territory, funder)

    return Reply(await call.services.run(pledge), status=201)


async def pay_cofinancing(call: Call) -> Reply:
    territory, fund = call.path["territory_code"], call.services.fund
    key, named = scoped_key(call.caller, call.idempotency_key), call.body.get("funder_id")
    funder_pays = call.caller.role is not Role.OPERATOR
    if funder_pays and named is not None and named != caller_funder(call.caller):
        raise Forbidden("a funder pays for itself only")

    def pay() -> dict[str, Any]:
        funder = named or funder_of(call, fund)
        fund.receive_cofinancing_payment(
            territory=territory,
            key=key,
            funder_id=funder,
            amount_cents=call.body["amount_cents"],
            by=call.caller.name,
            now=call.now,
        )
        return own_figures(fund, territory, funder)

    return Reply(await call.services.run(pay))


async def spend_cofinancing(call: Call) -> Reply:
    territory, fund, body = call.path["territory_code"], call.services.fund, call.body
    key = scoped_key(call.caller, call.idempotency_key)

    def spend() -> dict[str, Any]:
        lineage = fund.spend(
            territory=territory,
            key=key,
            amount_cents=body["amount_cents"],
            purpose=body["purpose"],
            reference=body["reference"],
            by=call.caller.name,
            now=call.now,
        )
        return {
            "amount_cents": body["amount_cents"],
            "purpose": body["purpose"],
            "reference": body["reference"],
            "lineage": lineage_json(lineage),
            "available_cents": fund.cofinancing_report(territory).available_cents,
        }

    return Reply(await call.services.run(spend))


async def close_cofinancing(call: Call) -> Reply:
    territory, fund = call.path["territory_code"], call.services.fund

    def close() -> dict[str, Any]:
        returns = fund.close_cofinancing(territory=territory, by=call.caller.name, now=call.now)
        return {
            "returns": lineage_json(returns),
            "report": report_json(fund.cofinancing_report(territory)),
        }

    return Reply(await call.services.run(close))


# Operations -----------------------------------------------------------------------------

KIND = s.enum(*(k.value for k in FunderKind))
WEIGHT = {"type": "integer", "minimum": 1, "maximum": MAX_RATIO_WEIGHT}
RATIO = {**s.array(WEIGHT, 3, 3), "description": "operator, local authorities, companies"}
FUNDER = s.obj(
    {
        "funder_id": s.OPAQUE_ID,
        "kind": KIND,
        "pledged_cents": s.CENTS_OR_ZERO,
        "paid_cents": s.CENTS_OR_ZERO,
        "spent_cents": s.CENTS_OR_ZERO,
        "returned_cents": s.CENTS_OR_ZERO,
    }
)
AMOUNTS = s.array(s.obj({"funder_id": s.OPAQUE_ID, "amount_cents": s.CENTS}), 600)
REPORT = s.obj(
    {
        "territory_code": s.OPAQUE_ID,
        "ratio": RATIO,
        "is_closed": s.BOOLEAN,
        "pledged_cents": s.CENTS_OR_ZERO,
        "paid_cents": s.CENTS_OR_ZERO,
        "matched_cents": s.CENTS_OR_ZERO,
        "spent_cents": s.CENTS_OR_ZERO,
        "available_cents": s.CENTS_OR_ZERO,
        "returned_cents": s.CENTS_OR_ZERO,
        "kinds": s.array(
            s.obj(
                {
                    "kind": KIND,
                    "weight": WEIGHT,
                    "pledged_cents": s.CENTS_OR_ZERO,
                    "paid_cents": s.CENTS_OR_ZERO,
                    "spent_cents": s.CENTS_OR_ZERO,
                }
            ),
            3,
        ),
        "funders": s.array(FUNDER, 200),
    }
)
COMPANY_FUNDER = "company:38012986646850"
EXAMPLE_FUNDER = {
    "funder_id": COMPANY_FUNDER,
    "kind": "company",
    "pledged_cents": 500_000,
    "paid_cents": 0,
    "spent_cents": 0,
    "returned_cents": 0,
}
EMPTY_KINDS = [
    {"kind": k.value, "weight": 1, "pledged_cents": 0, "paid_cents": 0, "spent_cents": 0}
    for k in FunderKind
]
EXAMPLE_REPORT = {
    "territory_code": "lyon",
    "ratio": [1, 1, 1],
    "is_closed": False,
    "pledged_cents": 0,
    "paid_cents": 0,
    "matched_cents": 0,
    "spent_cents": 0,
    "available_cents": 0,
    "returned_cents": 0,
    "kinds": EMPTY_KINDS,
    "funders": [],
}
LINEAGE = [
    {"funder_id": "authority:commune-69123", "amount_cents": 10_000},
    {"funder_id": "banque-des-territoires", "amount_cents": 10_000},
    {"funder_id": COMPANY_FUNDER, "amount_cents": 10_000},
]
PATH = "/v1/territories/{territory_code}/cofinancing"
KEYED = "Keyed by the Idempotency-Key: sent again, it records nothing."

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        operation_id="open_cofinancing",
        method="POST",
        path=PATH,
        summary="Open a territory's co-financing with the funder kinds' ratio",
        description="The ratio weighs the operator, local authorities and companies, in "
        "that order: 1:1:1 unless given. Opening again with the same ratio answers as the "
        "first time; with another, it is refused (422).",
        tag="co-financing",
        roles=OPERATOR,
        handler=open_cofinancing,
        status=201,
        body=s.obj({}, {"ratio": RATIO}),
        response=REPORT,
        moves_money=True,
        example_body={"ratio": [1, 1, 1]},
        example_response=EXAMPLE_REPORT,
        ownership="any",
    ),
    Operation(
        operation_id="get_cofinancing",
        method="GET",
        path=PATH,
        summary="A territory's co-financing: pledged, paid, matched, spent and returned",
        tag="co-financing",
        roles=STAFF,
        handler=get_cofinancing,
        response=REPORT,
        example_response=EXAMPLE_REPORT,
        ownership="any",
    ),
    Operation(
        operation_id="pledge_cofinancing",
        method="POST",
        path=f"{PATH}/pledges",
        summary="Pledge to a territory's co-financing, as the funder the token names",
        description=f"No money moves. A company pledges as a company, a local authority as "
        f"one, the operator for the territory's programme funder. {KEYED} Answers the "
        "funder's own figures.",
        tag="co-financing",
        roles=FUNDERS,
        handler=pledge_cofinancing,
        status=201,
        body=s.obj({"amount_cents": s.CENTS}),
        response=FUNDER,
        moves_money=True,
        example_body={"amount_cents": 500_000},
        example_response=EXAMPLE_FUNDER,
        ownership="token",
    ),
    Operation(
        operation_id="pay_cofinancing",
        method="POST",
        path=f"{PATH}/payments",
        summary="Pay (part of) a pledge into a territory's co-financing",
        description=f"A funder pays for itself (`funder_id`, if given, is its own); the "
        f"operator records a payment received from any funder it names, or from the "
        f"territory's programme funder. At most what was pledged and not paid (409 "
        f"`payment_exceeds_pledge`). {KEYED}",
        tag="co-financing",
        roles=FUNDERS,
        handler=pay_cofinancing,
        body=s.obj({"amount_cents": s.CENTS}, {"funder_id": s.OPAQUE_ID}),
        response=FUNDER,
        moves_money=True,
        example_body={"amount_cents": 500_000, "funder_id": COMPANY_FUNDER},
        example_response={**EXAMPLE_FUNDER, "paid_cents": 500_000},
        ownership="token",
    ),
    Operation(
        operation_id="spend_cofinancing",
        method="POST",
        path=f"{PATH}/spends",
        summary="Spend a territory's matched money on devices or subsidies",
        description=f"Up to the matched amount not yet spent (409 `matched_amount_exceeded` "
        f"beyond it). Answers the spend's lineage: which funders' cents it spent. {KEYED}",
        tag="co-financing",
        roles=OPERATOR,
        handler=spend_cofinancing,
        body=s.obj(
            {
                "amount_cents": s.CENTS,
                "purpose": s.enum(*(p.value for p in SpendPurpose)),
                "reference": s.OPAQUE_ID,
            }
        ),
        response=s.obj(
            {
                "amount_cents": s.CENTS,
                "purpose": s.enum(*(p.value for p in SpendPurpose)),
                "reference": s.OPAQUE_ID,
                "lineage": AMOUNTS,
                "available_cents": s.CENTS_OR_ZERO,
            }
        ),
        moves_money=True,
        example_body={"amount_cents": 30_000, "purpose": "devices", "reference": "lot-2027-12"},
        example_response={
            "amount_cents": 30_000,
            "purpose": "devices",
            "reference": "lot-2027-12",
            "lineage": LINEAGE,
            "available_cents": 0,
        },
        ownership="any",
    ),
    Operation(
        operation_id="close_cofinancing",
        method="POST",
        path=f"{PATH}/closure",
        summary="Close a territory's co-financing: the unspent money returns pro rata",
        description="Each funder gets back what of its payments was not spent. Closing "
        "again answers the same returns; nothing may be pledged, paid or spent after.",
        tag="co-financing",
        roles=OPERATOR,
        handler=close_cofinancing,
        response=s.obj({"returns": AMOUNTS, "report": REPORT}),
        moves_money=True,
        example_response={
            "returns": LINEAGE,
            "report": {**EXAMPLE_REPORT, "is_closed": True, "returned_cents": 30_000},
        },
        ownership="any",
    ),
)
