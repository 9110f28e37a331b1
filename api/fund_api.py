"""The internet fund's levies over HTTP: the regulator decides each period's contribution
rate, telecom operators declare their revenue (and correct it) and pay their levy, the fund
manager records the transfers it receives and follows the late and missing levies, and
auditors read every levy and the fund's balance.

The operator (`Role.OPERATOR`, Banque des Territoires in the pilot) manages the fund: no
role of its own, as it already runs the programme. A telecom operator's token names it by
its SIREN (`telecom:{SIREN}`, `api.parties`): it declares, corrects, pays and reads its own
levies only (403 for another SIREN's).

Retries answer as the first time: a rate decision and a declaration are keyed by their
period and SIREN (other details are refused, 422), a correction by the caller's
`Idempotency-Key` (scoped to the caller), and a payment by the bank's reference of the
transfer, which the operator and the fund manager share: a transfer reported by both is
matched once.
"""

from __future__ import annotations

from typing import Any

from api import schemas as s
from api.common import OPERATOR, page, paging, parse_day, scoped_key
from api.fund_views import (
    EXAMPLE_LEVY,
    EXAMPLE_RATE,
    EXAMPLE_STATUS,
    LEVY,
    LEVY_STATUS,
    PAID_LEVY,
    PAYMENT_REF,
    RATE,
    levy_json,
    rate_json,
    status_json,
)
from api.parties import caller_siren
from api.spec import Call, Operation, Reply, Role
from ledger.errors import Forbidden
from ledger.identifiers import check_siren

TELECOM = frozenset({Role.TELECOM_OPERATOR})
REGULATOR = frozenset({Role.REGULATOR})
FUND_READERS = frozenset({Role.OPERATOR, Role.REGULATOR, Role.AUDITOR})
LEVY_SHOWN = ("all", "missing", "late")


def own_siren(call: Call) -> str:
    """The SIREN the path names; a telecom operator may only name its own."""
    siren = call.path["siren"]
    if call.caller.role is Role.TELECOM_OPERATOR and caller_siren(call.caller) != siren:
        raise Forbidden("a telecom operator acts on its own levies only")
    return check_siren(siren)


# Handlers -------------------------------------------------------------------------------


async def decide_rate(call: Call) -> Reply:
    fund, body, period = call.services.fund, call.body, call.path["period"]

    def decide() -> dict[str, Any]:
        fund.decide_rate(
            period=period,
            rate_numerator=body["rate_numerator"],
            rate_denominator=body["rate_denominator"],
            reference=body["reference"],
            decided_on=parse_day(body["decided_on"], "decided_on"),
            due_on=parse_day(body["due_on"], "due_on"),
            by=call.caller.name,
            now=call.now,
        )
        return rate_json(fund.get_levy_period(period))

    return Reply(await call.services.run(decide), status=201)


async def list_period_levies(call: Call) -> Reply:
    period, shown = call.path["period"], call.query["show"]
    limit, offset = page(call)

    def listing() -> dict[str, Any]:
        fund = call.services.fund
        chosen = {
            "all": fund.levy_statuses,
            "missing": fund.overdue_levies,
            "late": fund.late_payments,
        }[shown](period, call.now)
        levies = chosen[offset : offset + limit]
        return {
            **rate_json(fund.get_levy_period(period)),
            "show": shown,
            "levies": [status_json(levy) for levy in levies],
            "total": len(chosen),
            "more": offset + len(levies) < len(chosen),
        }

    return Reply(await call.services.run(listing))


async def declare_revenue(call: Call) -> Reply:
    siren, period = own_siren(call), call.path["period"]

    def declare() -> dict[str, Any]:
        fund = call.services.fund
        fund.declare_revenue(
            siren=siren,
            period=period,
            revenue_cents=call.body["revenue_cents"],
            by=call.caller.name,
            now=call.now,
        )
        return levy_json(fund.get_levy(siren, period), call.now)

    return Reply(await call.services.run(declare), status=201)


async def correct_declaration(call: Call) -> Reply:
    siren, period = own_siren(call), call.path["period"]
    key = scoped_key(call.caller, call.idempotency_key)

    def correct() -> dict[str, Any]:
        fund = call.services.fund
        fund.correct_declaration(
            siren=siren,
            period=period,
            key=key,
            revenue_cents=call.body["revenue_cents"],
            reason=call.body["reason"],
            by=call.caller.name,
            now=call.now,
        )
        return levy_json(fund.get_levy(siren, period), call.now)

    return Reply(await call.services.run(correct))


async def pay_levy(call: Call) -> Reply:
    siren, period = own_siren(call), call.path["period"]

    def pay() -> dict[str, Any]:
        fund = call.services.fund
        fund.receive_levy_payment(
            siren=siren,
            period=period,
            payment_ref=call.body["payment_ref"],
            amount_cents=call.body["amount_cents"],
            by=call.caller.name,
            now=call.now,
        )
        return levy_json(fund.get_levy(siren, period), call.now)

    return Reply(await call.services.run(pay))


async def get_levy(call: Call) -> Reply:
    siren, period = own_siren(call), call.path["period"]

    def read() -> dict[str, Any]:
        return levy_json(call.services.fund.get_levy(siren, period), call.now)

    return Reply(await call.services.run(read))


async def get_internet_fund(call: Call) -> Reply:
    def read() -> dict[str, Any]:
        fund = call.services.fund.get_fund()
        paid_in = 0 if fund is None else fund.paid_in_cents
        paid_out = 0 if fund is None else fund.paid_out_cents
        return {
            "balance_cents": paid_in - paid_out,
            "paid_in_cents": paid_in,
            "paid_out_cents": paid_out,
        }

    return Reply(await call.services.run(read))


# Operations -----------------------------------------------------------------------------

LEVY_PATH = "/v1/telecom-operators/{siren}/levies/{period}"
OWN_LEVY = "A telecom operator (token subject `telecom:{SIREN}`) names its own SIREN only."

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        operation_id="decide_contribution_rate",
        method="POST",
        path="/v1/levy-periods/{period}/rate",
        summary="Decide a period's contribution rate (the regulator)",
        description="A period is a year (2027), a half (2027-S1), a quarter (2027-T3) or a "
        "month (2027-09). The rate is an exact fraction of revenue, kept in lowest terms; a "
        "decision is never revised: the same decision again answers as the first time, "
        "another is refused (422 `rate_already_decided`).",
        tag="regulator",
        roles=REGULATOR,
        handler=decide_rate,
        status=201,
        body=s.obj(
            {
                "rate_numerator": {"type": "integer", "minimum": 1, "maximum": 10**12},
                "rate_denominator": {"type": "integer", "minimum": 1, "maximum": 10**12},
                "reference": s.SHORT_TEXT,
                "decided_on": s.DATE,
                "due_on": s.DATE,
            }
        ),
        response=RATE,
        moves_money=True,
        example_body={
            "rate_numerator": 35,
            "rate_denominator": 10_000,
            "reference": "Décision ARCEP n° 2027-0456",
            "decided_on": "2027-02-15",
            "due_on": "2027-12-31",
        },
        example_response=EXAMPLE_RATE,
    ),
    Operation(
        operation_id="list_period_levies",
        method="GET",
        path="/v1/levy-periods/{period}/levies",
        summary="A period's rate and its levies: all, the missing ones, or those paid late",
        description="`missing`: past their due date with an amount outstanding (the payment "
        "is missing); `late`: with a payment received after the due date. In the order "
        "operators declared, as they stand at the time of the request.",
        tag="internet fund",
        roles=FUND_READERS,
        handler=list_period_levies,
        query=s.obj({}, {"show": {**s.enum(*LEVY_SHOWN), "default": "all"}, **paging()}),
        response=s.obj(
            {
                **RATE["properties"],
                "show": s.enum(*LEVY_SHOWN),
                "levies": s.array(LEVY_STATUS),
                "total": s.COUNT,
                "more": s.BOOLEAN,
            }
        ),
        example_response={
            **EXAMPLE_RATE,
            "operators": 1,
            "show": "missing",
            "levies": [{**EXAMPLE_STATUS, "overdue_cents": 350_000}],
            "total": 1,
            "more": False,
        },
        ownership="any",
    ),
    Operation(
        operation_id="declare_revenue",
        method="POST",
        path=LEVY_PATH,
        summary="Declare a telecom operator's revenue for a period: its levy at the rate",
        description=f"{OWN_LEVY} The levy is revenue × rate, to the cent, a half cent up. "
        "One declaration per operator and period: the same again answers as the first "
        "time, another is refused (422 `levy_already_declared`): correct it instead.",
        tag="telecom operator",
        roles=TELECOM,
        handler=declare_revenue,
        status=201,
        body=s.obj({"revenue_cents": s.CENTS_OR_ZERO}),
        response=LEVY,
        moves_money=True,
        example_body={"revenue_cents": 100_000_000},
        example_response=EXAMPLE_LEVY,
        ownership="self",
    ),
    Operation(
        operation_id="correct_declaration",
        method="POST",
        path=f"{LEVY_PATH}/corrections",
        summary="Correct a declared revenue: the levy moves by the difference it makes",
        description=f"{OWN_LEVY} Keyed by the Idempotency-Key: sent again, it records "
        "nothing. A correction downwards may leave the levy overpaid (negative "
        "`outstanding_cents`).",
        tag="telecom operator",
        roles=TELECOM,
        handler=correct_declaration,
        body=s.obj({"revenue_cents": s.CENTS_OR_ZERO, "reason": s.TEXT}),
        response=LEVY,
        moves_money=True,
        example_body={"revenue_cents": 120_000_000, "reason": "chiffre d'affaires audité"},
        example_response={
            **EXAMPLE_LEVY,
            "revenue_cents": 120_000_000,
            "levy_cents": 420_000,
            "outstanding_cents": 420_000,
        },
        ownership="self",
    ),
    Operation(
        operation_id="pay_levy",
        method="POST",
        path=f"{LEVY_PATH}/payments",
        summary="Pay a levy into the fund, under the bank's reference of the transfer",
        description=f"{OWN_LEVY} The fund manager (operator) records a transfer received for "
        "any operator. A reference recorded already answers as the first time; a payment "
        "beyond what remains due is refused (409 `payment_exceeds_levy`).",
        tag="telecom operator",
        roles=TELECOM | OPERATOR,
        handler=pay_levy,
        body=s.obj({"payment_ref": PAYMENT_REF, "amount_cents": s.CENTS}),
        response=LEVY,
        moves_money=True,
        example_body={"payment_ref": "VIR-2027-0042", "amount_cents": 350_000},
        example_response=PAID_LEVY,
        ownership="self",
    ),
    Operation(
        operation_id="get_levy",
        method="GET",
        path=LEVY_PATH,
        summary="A telecom operator's levy for a period: revenue, levy, payments, arrears",
        description=f"{OWN_LEVY} The operator, the regulator and auditors read any.",
        tag="telecom operator",
        roles=TELECOM | FUND_READERS,
        handler=get_levy,
        response=LEVY,
        example_response=PAID_LEVY,
        ownership="self",
    ),
    Operation(
        operation_id="get_internet_fund",
        method="GET",
        path="/v1/internet-fund",
        summary="The fund's balance: levies paid in less household subsidies paid out",
        tag="internet fund",
        roles=FUND_READERS,
        handler=get_internet_fund,
        response=s.obj(
            {
                "balance_cents": s.CENTS_OR_ZERO,
                "paid_in_cents": s.CENTS_OR_ZERO,
                "paid_out_cents": s.CENTS_OR_ZERO,
            }
        ),
        example_response={
            "balance_cents": 340_000,
            "paid_in_cents": 350_000,
            "paid_out_cents": 10_000,
        },
        ownership="any",
    ),
)
