"""The internet fund's read models over HTTP, for auditors and the operator: the fund's
balance and its months, levies by operator and period, subsidies by territory and period,
and a territory's co-financing; now, or as of any point of the log (`api.past`).

These read `projections.fund_views.FundReports`. Now, the fund's read models are caught up
with the log first; as of the past, they are folded again up to then, and a levy is late
by the time then (the moment asked for, or the latest event's up to the position).
"""

from __future__ import annotations

from typing import Any

from api import schemas as s
from api.cofinancing_api import EXAMPLE_REPORT, REPORT, report_json
from api.common import POSITION, STAFF, paging
from api.fund_views import PERIOD
from api.past import AS_OF_TEXT, as_of, as_of_query, read_models
from api.spec import Call, Operation, Reply
from ledger.territories import territory_id
from projections.fund import FUND_PROJECTIONS
from projections.fund_views import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, FundReports

FUND = tuple(projection.name for projection in FUND_PROJECTIONS)


def read_fund(call: Call, render: Any) -> Any:
    """`render(view, when)` on the fund's read models as the query asks, with the position
    (blocking)."""
    with read_models(call.services, as_of(call.query), *FUND) as models:
        found = render(FundReports(models.engine), models.when(call.now))
    return {"position": models.position, **found}


async def get_fund(call: Call) -> Reply:
    first, last = call.query.get("from"), call.query.get("to")

    def render(view: FundReports, _when: Any) -> dict[str, Any]:
        months = [
            {
                "month": m.month,
                "paid_in_cents": m.paid_in_cents,
                "levy_payments": m.levy_payments,
                "paid_out_cents": m.paid_out_cents,
                "subsidies": m.subsidies,
                "closing_balance_cents": m.closing_balance_cents,
            }
            for m in view.months(first, last)
        ]
        return {"balance_cents": view.balance(), "months": months}

    return Reply(await call.services.run(read_fund, call, render))


async def list_levies(call: Call) -> Reply:
    query = call.query

    def render(view: FundReports, when: Any) -> dict[str, Any]:
        levies = view.levies(
            when,
            period=query.get("period"),
            siren=query.get("siren"),
            late_only=query["late_only"],
            limit=query["limit"],
            offset=query["offset"],
        )
        return {"late_at": when.isoformat(), "levies": [levy_json(levy) for levy in levies]}

    return Reply(await call.services.run(read_fund, call, render))


def levy_json(levy: Any) -> dict[str, Any]:
    return {
        "levy_id": str(levy.levy_id),
        "siren": levy.siren,
        "period": levy.period,
        "due_on": levy.due_on.isoformat(),
        "declared_cents": levy.declared_cents,
        "due_cents": levy.due_cents,
        "paid_cents": levy.paid_cents,
        "paid_late_cents": levy.paid_late_cents,
        "late_cents": levy.late_cents,
        "outstanding_cents": levy.outstanding_cents,
    }


async def list_subsidies(call: Call) -> Reply:
    query, code = call.query, call.query.get("territory")
    territory = territory_id(code) if code else None

    def render(view: FundReports, _when: Any) -> dict[str, Any]:
        found = view.subsidies(territory, query.get("period"), query["limit"], query["offset"])
        return {
            "subsidies": [
                {
                    "territory_id": str(f.territory_id),
                    "period": f.period,
                    "subsidies": f.subsidies,
                    "amount_cents": f.amount_cents,
                }
                for f in found
            ]
        }

    return Reply(await call.services.run(read_fund, call, render))


async def get_cofinancing(call: Call) -> Reply:
    code = call.path["territory_code"]

    def render(view: FundReports, _when: Any) -> dict[str, Any]:
        return {"report": report_json(view.cofinancing(code))}

    return Reply(await call.services.run(read_fund, call, render))


# Operations ---------------------------------------------------------------------------

AS_OF = as_of_query("The fund")
MONTH = {"type": "string", "pattern": "^20[0-9]{2}-(0[1-9]|1[0-2])$"}
PAGE = paging(DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
MONTH_FIGURES = s.obj(
    {
        "month": MONTH,
        "paid_in_cents": s.CENTS_OR_ZERO,
        "levy_payments": s.COUNT,
        "paid_out_cents": s.CENTS_OR_ZERO,
        "subsidies": s.COUNT,
        "closing_balance_cents": s.SIGNED_CENTS,
    }
)
LEVY = s.obj(
    {
        "levy_id": s.UUID,
        "siren": {"type": "string", "pattern": "^[0-9]{9}$"},
        "period": PERIOD,
        "due_on": s.DATE,
        "declared_cents": s.CENTS_OR_ZERO,
        "due_cents": s.SIGNED_CENTS,
        "paid_cents": s.CENTS_OR_ZERO,
        "paid_late_cents": s.CENTS_OR_ZERO,
        "late_cents": s.CENTS_OR_ZERO,
        "outstanding_cents": s.SIGNED_CENTS,
    }
)
SUBSIDIES = s.obj(
    {"territory_id": s.UUID, "period": PERIOD, "subsidies": s.COUNT, "amount_cents": s.CENTS}
)
EXAMPLE_MONTH = {
    "month": "2027-09",
    "paid_in_cents": 350_000,
    "levy_payments": 1,
    "paid_out_cents": 3_000,
    "subsidies": 1,
    "closing_balance_cents": 347_000,
}
EXAMPLE_LEVY = {
    "levy_id": "3c9a1f0e-5b7d-5e2a-8c4f-1d2e3f4a5b6c",
    "siren": "380129866",
    "period": "2027",
    "due_on": "2027-12-31",
    "declared_cents": 350_000,
    "due_cents": 350_000,
    "paid_cents": 350_000,
    "paid_late_cents": 0,
    "late_cents": 0,
    "outstanding_cents": 0,
}
TAG, PREFIX = "auditor", "/v1/audit/fund"

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        operation_id="get_fund_report",
        method="GET",
        path=PREFIX,
        summary="The internet fund's balance and its money in and out, month by month",
        description="Months (UTC) with a movement, from `from` to `to` (both included, "
        "`2027-09`); each closes with the fund's balance then. Without `at` or `position`: "
        "now, from the fund's read models caught up first." + AS_OF_TEXT,
        tag=TAG,
        roles=STAFF,
        handler=get_fund,
        query=s.obj({}, {"from": MONTH, "to": MONTH, **AS_OF}),
        response=s.obj(
            {
                "position": POSITION,
                "balance_cents": s.SIGNED_CENTS,
                "months": s.array(MONTH_FIGURES, 100_000),
            }
        ),
        example_response={"position": 1207, "balance_cents": 347_000, "months": [EXAMPLE_MONTH]},
    ),
    Operation(
        operation_id="list_fund_levies",
        method="GET",
        path=f"{PREFIX}/levies",
        summary="Telecom operators' levies by period and operator: due, paid and late",
        description="A levy is late once its due date has passed and something is still "
        "due, judged at `late_at`: the time of the request, or, as of the past, the time "
        "then." + AS_OF_TEXT,
        tag=TAG,
        roles=STAFF,
        handler=list_levies,
        query=s.obj(
            {},
            {
                "period": PERIOD,
                "siren": {"type": "string", "pattern": "^[0-9]{9}$"},
                "late_only": {"type": "boolean", "default": False},
                **PAGE,
                **AS_OF,
            },
        ),
        response=s.obj(
            {"position": POSITION, "late_at": s.DATETIME, "levies": s.array(LEVY, MAX_PAGE_SIZE)}
        ),
        example_response={
            "position": 1207,
            "late_at": "2028-01-15T09:00:00+00:00",
            "levies": [EXAMPLE_LEVY],
        },
    ),
    Operation(
        operation_id="list_fund_subsidies",
        method="GET",
        path=f"{PREFIX}/subsidies",
        summary="Household subsidies paid, per territory and period",
        description="Filtered by `territory` (its code) and `period`." + AS_OF_TEXT,
        tag=TAG,
        roles=STAFF,
        handler=list_subsidies,
        query=s.obj({}, {"territory": s.OPAQUE_ID, "period": PERIOD, **PAGE, **AS_OF}),
        response=s.obj({"position": POSITION, "subsidies": s.array(SUBSIDIES, MAX_PAGE_SIZE)}),
        example_response={
            "position": 1207,
            "subsidies": [
                {
                    "territory_id": "1c9d7c52-58f0-5b8e-9f7e-2f4b0c1a6e33",
                    "period": "2027-S2",
                    "subsidies": 1,
                    "amount_cents": 3_000,
                }
            ],
        },
    ),
    Operation(
        operation_id="get_fund_cofinancing",
        method="GET",
        path=f"{PREFIX}/cofinancing/{{territory_code}}",
        summary="A territory's co-financing from the read models, now or as of the past",
        description="The same report as the co-financing's own, read from the fund's read "
        "models." + AS_OF_TEXT,
        tag=TAG,
        roles=STAFF,
        handler=get_cofinancing,
        query=s.obj({}, AS_OF),
        response=s.obj({"position": POSITION, "report": REPORT}),
        example_response={"position": 1207, "report": EXAMPLE_REPORT},
        ownership="any",
    ),
)
