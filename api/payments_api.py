"""Payment batches over HTTP: the operator batches approved claims, pays them, and
reconciles the bank's statement.

Approved claims (`api.claims_api`) are paid in batches: one SEPA transfer per vendor, to the
legal name and *reviewed* IBAN the vendor directory holds (never an IBAN still under
review), in a pain.001 file the operator downloads and sends to the bank. The bank's
statement, CSV or camt.053, is then read against the batch: matched, unmatched with a
reason, missing, duplicates.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from api import schemas as s
from api.common import OPERATOR, body_uuid, iso, parse_day, path_uuid, scoped_key
from api.spec import Call, Operation, Reply, Role
from ledger.errors import VendorNotFound
from ledger.payments import MAX_CLAIMS_PER_BATCH, PaymentBatch
from ledger.sepa import Debtor

STAFF = frozenset({Role.OPERATOR, Role.AUDITOR})


def batch_json(batch: PaymentBatch) -> dict[str, Any]:
    return {
        "batch_id": str(batch.id),
        "status": batch.status.value,
        "value_date": batch.value_date.isoformat(),
        "created_at": iso(batch.created_on),
        "claims": [
            {"claim_id": str(c), "vendor_id": v, "payable_cents": cents}
            for c, v, cents in batch.claims
        ],
        "debit_notes": [
            {"note_id": str(n), "vendor_id": v, "debit_cents": cents}
            for n, v, cents in batch.debits
        ],
        "transfers": [
            {
                "end_to_end_id": t.end_to_end_id,
                "vendor_id": vendor_id,
                "creditor_name": t.creditor_name,
                "creditor_iban": t.creditor_iban,
                "amount_cents": t.amount_cents,
            }
            for (vendor_id, _, _), t in zip(batch.payees, batch.transfers(), strict=True)
        ],
        "claims_cents": batch.claims_cents,
        "debited_cents": batch.debited_cents,
        "total_cents": batch.total_cents,
        "bank_reference": batch.bank_reference,
        "statements_read": len(batch.reconciliations),
    }


def payees(call: Call, claim_ids: list[UUID]) -> list[tuple[str, str, str]]:
    """Each paid vendor's legal name and reviewed IBAN, from the vendor directory."""
    vendor_ids = sorted({call.services.desk.get_claim(c).vendor_id for c in claim_ids})
    found = []
    for vendor_id in vendor_ids:
        try:
            key = UUID(vendor_id)
        except ValueError:
            raise VendorNotFound(f"no vendor {vendor_id}") from None
        vendor = call.services.vendors.get_vendor(key)
        found.append((vendor_id, vendor.legal_name, vendor.payable_iban()))
    return found


async def create_payment_batch(call: Call) -> Reply:
    claim_ids = [body_uuid(c, "claim_ids") for c in call.body["claim_ids"]]
    value_date = parse_day(call.body["value_date"], "value_date")
    desk = call.services.desk

    def created() -> PaymentBatch:
        batch_id = desk.create_payment_batch(
            key=scoped_key(call.caller, call.idempotency_key),
            claim_ids=claim_ids,
            value_date=value_date,
            payees=tuple(payees(call, claim_ids)),
            by=call.caller.name,
            now=call.now,
        )
        return desk.get_batch(batch_id)

    return Reply(batch_json(await call.services.run(created)), status=201)


async def get_payment_batch(call: Call) -> Reply:
    batch = await call.services.run(call.services.desk.get_batch, path_uuid(call, "batch_id"))
    return Reply(batch_json(batch))


async def download_payment_file(call: Call) -> Reply:
    batch_id = path_uuid(call, "batch_id")
    desk = call.services.desk

    def written() -> bytes:
        # Dated by the batch's creation, not the download: the same file every time.
        created_at = desk.get_batch(batch_id).created_on
        settings = call.services.settings
        debtor = Debtor(settings.debtor_name, settings.debtor_iban)
        return desk.payment_file(batch_id, debtor=debtor, created_at=created_at)

    return Reply(
        await call.services.run(written),
        media_type="application/xml",
        headers={"Content-Disposition": f'attachment; filename="tirelire-{batch_id.hex}.xml"'},
    )


async def mark_batch_paid(call: Call) -> Reply:
    batch_id = path_uuid(call, "batch_id")
    desk, reference = call.services.desk, call.body["bank_reference"]

    def paid() -> PaymentBatch:
        desk.mark_batch_paid(batch_id, bank_reference=reference, by=call.caller.name, now=call.now)
        return desk.get_batch(batch_id)

    return Reply(batch_json(await call.services.run(paid)))


async def import_bank_statement(call: Call) -> Reply:
    batch_id = path_uuid(call, "batch_id")
    found = await call.services.run(
        lambda: call.services.desk.reconcile_statement(
            batch_id, call.body, by=call.caller.name, now=call.now
        )
    )
    return Reply(
        {
            "batch_id": str(batch_id),
            "matched": [
                {"end_to_end_id": e2e, "line_number": line, "bank_reference": reference}
                for e2e, line, reference in found.matched
            ],
            "unmatched": [
                {"line_number": line, "reason": reason} for line, reason in found.unmatched
            ],
            "missing": list(found.missing),
            "duplicates": [
                {"line_number": line, "end_to_end_id": e2e} for line, e2e in found.duplicates
            ],
            "is_complete": not (found.unmatched or found.missing or found.duplicates),
        }
    )


# Schemas and examples -----------------------------------------------------------------

CLAIM_ID = "7e6d5c4b-3a29-5817-8f6e-5d4c3b2a1908"
BATCH_ID = "2c3d4e5f-6a7b-5c8d-9e0f-1a2b3c4d5e6f"
VENDOR_ID = "3f1e2a4b-6c7d-5e8f-9a0b-1c2d3e4f5a6b"
BATCH = s.obj(
    {
        "batch_id": s.UUID,
        "status": s.enum("created", "paid"),
        "value_date": s.DATE,
        "created_at": s.DATETIME,
        "claims": s.array(
            s.obj({"claim_id": s.UUID, "vendor_id": s.TEXT, "payable_cents": s.CENTS}),
            max_items=MAX_CLAIMS_PER_BATCH,
        ),
        "debit_notes": s.array(
            s.obj({"note_id": s.UUID, "vendor_id": s.TEXT, "debit_cents": s.CENTS}),
            max_items=100_000,
        ),
        "transfers": s.array(
            s.obj(
                {
                    "end_to_end_id": s.TEXT,
                    "vendor_id": s.TEXT,
                    "creditor_name": s.TEXT,
                    "creditor_iban": s.TEXT,
                    "amount_cents": s.CENTS,
                }
            ),
            max_items=MAX_CLAIMS_PER_BATCH,
        ),
        "claims_cents": s.CENTS,
        "debited_cents": s.CENTS_OR_ZERO,
        "total_cents": s.CENTS,
        "bank_reference": s.nullable(s.TEXT),
        "statements_read": s.COUNT,
    }
)
EXAMPLE_BATCH = {
    "batch_id": BATCH_ID,
    "status": "created",
    "value_date": "2027-11-05",
    "created_at": "2027-11-03T10:00:00+00:00",
    "claims": [{"claim_id": CLAIM_ID, "vendor_id": VENDOR_ID, "payable_cents": 3980}],
    "debit_notes": [],
    "transfers": [
        {
            "end_to_end_id": "5b1f0c9e8d7a4b3c2d1e0f9a8b7c6d5e",
            "vendor_id": VENDOR_ID,
            "creditor_name": "Les Petits Savants",
            "creditor_iban": "FR7630006000011234567890189",
            "amount_cents": 3980,
        }
    ],
    "claims_cents": 3980,
    "debited_cents": 0,
    "total_cents": 3980,
    "bank_reference": None,
    "statements_read": 0,
}
EXAMPLE_STATEMENT_CSV = (
    "booking date;amount;currency;reference;counterparty iban;bank reference\n"
    "2027-11-05;-39,80;EUR;5b1f0c9e8d7a4b3c2d1e0f9a8b7c6d5e;FR7630006000011234567890189;REL-1\n"
    "2027-11-05;-12,50;EUR;FRAIS TENUE DE COMPTE;;REL-2\n"
)
RECONCILIATION = s.obj(
    {
        "batch_id": s.UUID,
        "matched": s.array(
            s.obj({"end_to_end_id": s.TEXT, "line_number": s.COUNT, "bank_reference": s.TEXT}),
            max_items=100_000,
        ),
        "unmatched": s.array(
            s.obj(
                {
                    "line_number": s.COUNT,
                    "reason": s.enum("unknown_reference", "amount_differs", "counterparty_differs"),
                }
            ),
            max_items=100_000,
        ),
        "missing": s.array(s.TEXT, max_items=100_000),
        "duplicates": s.array(
            s.obj({"line_number": s.COUNT, "end_to_end_id": s.TEXT}), max_items=100_000
        ),
        "is_complete": s.BOOLEAN,
    }
)

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        operation_id="create_payment_batch",
        method="POST",
        path="/v1/payment-batches",
        summary="Batch approved claims for payment on a value date: one transfer per vendor",
        description="Payees are the vendors' legal names and reviewed IBANs; their open debit "
        "notes are deducted from their transfers.",
        tag="operator",
        roles=OPERATOR,
        handler=create_payment_batch,
        status=201,
        body=s.obj(
            {
                "claim_ids": s.array(s.UUID, max_items=MAX_CLAIMS_PER_BATCH, min_items=1),
                "value_date": s.DATE,
            }
        ),
        response=BATCH,
        moves_money=True,
        example_body={"claim_ids": [CLAIM_ID], "value_date": "2027-11-05"},
        example_response=EXAMPLE_BATCH,
    ),
    Operation(
        operation_id="get_payment_batch",
        method="GET",
        path="/v1/payment-batches/{batch_id}",
        summary="A payment batch: its claims, debit notes and transfers",
        tag="operator",
        roles=STAFF,
        handler=get_payment_batch,
        response=BATCH,
        example_response=EXAMPLE_BATCH,
        ownership="any",
    ),
    Operation(
        operation_id="download_payment_file",
        method="GET",
        path="/v1/payment-batches/{batch_id}/pain001",
        summary="The batch's SEPA transfer file (pain.001.001.03), to send to the bank",
        tag="operator",
        roles=STAFF,
        handler=download_payment_file,
        response={"type": "string", "contentMediaType": "application/xml"},
        example_response='<?xml version="1.0" encoding="UTF-8"?>\n<Document>…</Document>',
        ownership="any",
    ),
    Operation(
        operation_id="mark_batch_paid",
        method="POST",
        path="/v1/payment-batches/{batch_id}/paid",
        summary="Record the bank's confirmation of the batch's debit, and its reference",
        tag="operator",
        roles=OPERATOR,
        handler=mark_batch_paid,
        body=s.obj({"bank_reference": {"type": "string", "minLength": 1, "maxLength": 35}}),
        response=BATCH,
        moves_money=True,
        example_body={"bank_reference": "BQ-2027-000123"},
        example_response={**EXAMPLE_BATCH, "status": "paid", "bank_reference": "BQ-2027-000123"},
        ownership="any",
    ),
    Operation(
        operation_id="import_bank_statement",
        method="POST",
        path="/v1/payment-batches/{batch_id}/statements",
        summary="Reconcile a bank statement (CSV export or camt.053 XML) with the batch",
        description="Every line ends matched, unmatched (with the reason) or duplicate; every "
        "transfer matched or missing. The same statement again answers the same.",
        tag="operator",
        roles=OPERATOR,
        handler=import_bank_statement,
        upload="text/csv",
        response=RECONCILIATION,
        example_body=EXAMPLE_STATEMENT_CSV,
        example_response={
            "batch_id": BATCH_ID,
            "matched": [
                {
                    "end_to_end_id": "5b1f0c9e8d7a4b3c2d1e0f9a8b7c6d5e",
                    "line_number": 2,
                    "bank_reference": "REL-1",
                }
            ],
            "unmatched": [{"line_number": 3, "reason": "unknown_reference"}],
            "missing": [],
            "duplicates": [],
            "is_complete": False,
        },
        ownership="any",
    ),
)
