"""A vendor's statement over HTTP, now or as of the past: sales, claims, payments, debit
notes (`projections.vendors`). A vendor reads its own; the operator and the auditor any."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from api import schemas as s
from api.common import POSITION, VENDOR_OR_STAFF, iso, own_vendor, parse_day
from api.past import AS_OF_TEXT, as_of, as_of_query, read_models
from api.spec import Call, Operation, Reply
from api.vendor_api import VENDOR_ID
from projections.vendors import TOTALS as STATEMENT_TOTALS
from projections.vendors import VendorStatement, VendorStatementProjection, VendorStatements

STATEMENTS = VendorStatementProjection.name


async def get_vendor_statement(call: Call) -> Reply:
    vendor = str(own_vendor(call))
    first = parse_day(call.query["from"], "from")
    last = parse_day(call.query["to"], "to")
    services, point = call.services, as_of(call.query)

    def read() -> tuple[VendorStatement, Any, int]:
        with read_models(services, point, STATEMENTS) as models:
            statement = VendorStatements(models.engine).statement(vendor, first, last)
        debits = services.desk.debit_notes(vendor, None if point.now else models.position)
        return statement, debits, models.position

    statement, debits, position = await services.run(read)
    notes = [] if debits is None else list(debits.notes.values())
    in_period = [n for n in notes if first <= n.raised_at.astimezone(UTC).date() <= last]
    totals = {name: getattr(statement, name) for name in STATEMENT_TOTALS}
    return Reply(
        {
            "vendor_id": vendor,
            "position": position,
            "from": first.isoformat(),
            "to": last.isoformat(),
            "opening_balance_cents": statement.opening_balance_cents,
            **totals,
            "owed_in_period_cents": statement.owed_in_period_cents,
            "balance_owed_cents": statement.balance_owed_cents,
            "open_debit_notes_cents": 0 if debits is None else debits.open_cents,
            "debit_notes": [
                {
                    "note_id": str(n.note_id),
                    "claim_id": str(n.claim_id),
                    "hold_id": str(n.hold_id),
                    "refunded_cents": n.refunded_cents,
                    "debit_cents": n.debit_cents,
                    "raised_at": iso(n.raised_at),
                    "batch_id": None if n.batch_id is None else str(n.batch_id),
                }
                for n in sorted(in_period, key=lambda n: (n.raised_at, n.note_id))
            ],
        }
    )


# Schemas and examples -----------------------------------------------------------------

DEBIT_NOTE = s.obj(
    {
        "note_id": s.UUID,
        "claim_id": s.UUID,
        "hold_id": s.UUID,
        "refunded_cents": s.CENTS,
        "debit_cents": s.CENTS_OR_ZERO,
        "raised_at": s.DATETIME,
        "batch_id": s.nullable(s.UUID),
    }
)
STATEMENT = s.obj(
    {
        "vendor_id": s.TEXT,
        "position": POSITION,
        "from": s.DATE,
        "to": s.DATE,
        "opening_balance_cents": s.SIGNED_CENTS,
        **{name: s.SIGNED_CENTS for name in STATEMENT_TOTALS},
        "owed_in_period_cents": s.SIGNED_CENTS,
        "balance_owed_cents": s.SIGNED_CENTS,
        "open_debit_notes_cents": s.CENTS_OR_ZERO,
        "debit_notes": s.array(DEBIT_NOTE, max_items=100_000),
    }
)
EXAMPLE_STATEMENT = {
    "vendor_id": VENDOR_ID,
    "position": 1207,
    "from": "2027-09-01",
    "to": "2027-09-30",
    "opening_balance_cents": 0,
    **dict.fromkeys(STATEMENT_TOTALS, 0),
    "captured_count": 2,
    "captured_cents": 3980,
    "refunded_count": 1,
    "refunded_cents": 500,
    "claims_submitted_count": 1,
    "claims_submitted_cents": 3980,
    "claims_approved_cents": 3980,
    "debit_notes_count": 1,
    "debit_notes_cents": 500,
    "owed_in_period_cents": 3480,
    "balance_owed_cents": 3480,
    "open_debit_notes_cents": 500,
    "debit_notes": [
        {
            "note_id": "1a2b3c4d-5e6f-5a7b-8c9d-0e1f2a3b4c5d",
            "claim_id": "7e6d5c4b-3a29-5817-8f6e-5d4c3b2a1908",
            "hold_id": "0b6a3c5e-5d07-5f0e-9b1b-8c1f7d8e2a10",
            "refunded_cents": 500,
            "debit_cents": 500,
            "raised_at": "2027-09-20T14:00:00+00:00",
            "batch_id": None,
        }
    ],
}


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        operation_id="get_vendor_statement",
        method="GET",
        path="/v1/vendors/{vendor_id}/statement",
        summary="A vendor's statement for a run of days: sales, claims, payments, debit notes",
        description="`from` and `to` are UTC days, both included. The balance owed is "
        "captured − refunded − withheld − paid; below zero, the vendor owes the programme. "
        "Without `at` or `position`: now, from the statements read model caught up first."
        + AS_OF_TEXT,
        tag="vendor",
        roles=VENDOR_OR_STAFF,
        handler=get_vendor_statement,
        query={
            "type": "object",
            "required": ["from", "to"],
            "properties": {"from": s.DATE, "to": s.DATE, **as_of_query("The statement")},
        },
        response=STATEMENT,
        example_response=EXAMPLE_STATEMENT,
        ownership="self",
    ),
)
