"""Payment batches: approved claims paid together, by one SEPA transfer file.

Claims are not paid one by one. A bank transfer has a cost and a trail of its own (a line
on the programme's statement to reconcile, a file to sign and send), while a small vendor
may submit a claim a week. So the operator gathers approved claims into a **payment
batch**, with the date on which the bank should execute it (the *value date*), and pays
the whole batch with one pain.001 file (`ledger.sepa`): one transfer per vendor, for the
sum of its claims in the batch. The vendor sees one credit per batch; the programme's
statement one debit per batch (batch booking), and one statement line per transfer.

Creating a batch records, in the same transaction, that each claim is in it: a claim is
in at most one batch, and a claim changed meanwhile makes the store refuse the batch. The
batch records the payee of each vendor (its legal name and its *reviewed* IBAN, passed in
by the caller from the vendor directory), so an audit sees where the money was sent.

Each transfer's **end-to-end id** derives from the ids of the claims it pays, so it is
the same for every retry and unique across batches (a claim is batched once); it comes
back on the bank statement, and `expected_payments` gives what `ledger.statements.reconcile`
needs to match it. When the bank confirms the debit, the batch is *marked paid* with the
bank's reference, and so is each of its claims.

A vendor that refunded a teacher after claiming the redemption owes the programme a debit
note (`ledger.debit_notes`); the batch deducts the vendor's open notes from its transfer,
and records which, so the transfer is the vendor's claims less its notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from enum import Enum
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from ledger.errors import (
    IdempotencyKeyReused,
    InvalidPaymentBatch,
    InvalidPaymentText,
    PaymentBatchStatusConflict,
)
from ledger.identifiers import check_iban
from ledger.ids import TIRELIRE_NAMESPACE
from ledger.sepa import (
    MAX_NAME_LENGTH,
    Debtor,
    Transfer,
    TransferFile,
    check_sepa_id,
    sepa_text,
)
from ledger.statements import ExpectedPayment, Reconciliation

MAX_CLAIMS_PER_BATCH = 1_000

BatchClaims = tuple[tuple[UUID, str, int], ...]  # claim, vendor, payable cents
BatchDebits = tuple[tuple[UUID, str, int], ...]  # debit note, vendor, cents deducted
Payees = tuple[tuple[str, str, str], ...]  # vendor, legal name, reviewed IBAN


class BatchStatus(Enum):
    CREATED = "created"
    PAID = "paid"


def payment_batch_id(key: str) -> UUID:
    return uuid5(TIRELIRE_NAMESPACE, f"payment-batch:{key}")


def end_to_end_id(claim_ids: Sequence[UUID]) -> str:
    """The id of the transfer paying these claims: 32 hex digits, derived from their ids."""
    names = ",".join(sorted(claim_id.hex for claim_id in claim_ids))
    return uuid5(TIRELIRE_NAMESPACE, f"transfer:{names}").hex


def check_payees(payees: Payees) -> Payees:
    """Payees as (vendor, name, compact IBAN), the name one a SEPA file can carry."""
    checked = []
    for vendor_id, name, iban in payees:
        sepa_text(name, field="creditor name", max_length=MAX_NAME_LENGTH)
        checked.append((vendor_id, name, check_iban(iban)))
    return tuple(sorted(checked))


class PaymentBatch(Aggregate):
    """Approved claims paid by one transfer file. The id is `payment_batch_id(key)`."""

    class Event(Aggregate.Event):
        pass

    class Created(Aggregate.Created):
        batch_key: str
        request_digest: str
        claims: BatchClaims
        payees: Payees
        value_date: date
        created_by: str
        created_at: datetime
        debits: BatchDebits = ()  # debit notes deducted from the vendors' transfers

        def apply(self, batch: PaymentBatch) -> None:
            batch.debits = self.debits
            batch.batch_key = self.batch_key
            batch.request_digest = self.request_digest
            batch.claims = self.claims
            batch.payees = self.payees
            batch.value_date = self.value_date
            batch.reconciliations = {}
            batch.status = BatchStatus.CREATED
            batch.bank_reference = None

    class MarkedPaid(Event):
        bank_reference: str
        marked_by: str
        marked_at: datetime
        paid: tuple[tuple[str, int], ...] = ()  # (vendor, cents): what left the bank

        def apply(self, batch: PaymentBatch) -> None:
            batch.status = BatchStatus.PAID
            batch.bank_reference = self.bank_reference

    class StatementReconciled(Event):
        """A bank statement read against this batch; nothing of it is dropped."""

        statement_digest: str
        matched: tuple[tuple[str, int, str], ...]  # end-to-end id, line, bank reference
        unmatched: tuple[tuple[int, str], ...]  # line, reason
        missing: tuple[str, ...]  # end-to-end ids not on the statement
        duplicates: tuple[tuple[int, str], ...]  # line, end-to-end id
        reconciled_by: str
        reconciled_at: datetime

        def apply(self, batch: PaymentBatch) -> None:
            batch.reconciliations[self.statement_digest] = self

    @classmethod
    def create(
        cls,
        *,
        batch_key: str,
        request_digest: str,
        claims: BatchClaims,
        payees: Payees,
        value_date: date,
        by: str,
        now: datetime,
        debits: BatchDebits = (),
    ) -> PaymentBatch:
        """A batch of approved claims (the caller batches each claim in the same save)."""
        if not 1 <= len(claims) <= MAX_CLAIMS_PER_BATCH:
            raise InvalidPaymentBatch(f"a batch pays 1 to {MAX_CLAIMS_PER_BATCH} claims")
        if len({claim_id for claim_id, _, _ in claims}) != len(claims):
            raise InvalidPaymentBatch("a claim appears once in a batch")
        if type(value_date) is not date or value_date < now.date():
            raise InvalidPaymentBatch("the value date is a date, today or later")
        vendors = {vendor_id for _, vendor_id, _ in claims}
        if vendors != {vendor_id for vendor_id, _, _ in payees} or len(payees) != len(vendors):
            raise InvalidPaymentBatch("the batch needs one payee for each vendor it pays")
        assert all(cents > 0 for _, _, cents in claims), "approved claims pay something"
        assert {vendor_id for _, vendor_id, _ in debits} <= vendors, "debits of paid vendors"
        return cls._create(
            cls.Created,
            id=payment_batch_id(batch_key),
            timestamp=now,
            batch_key=batch_key,
            request_digest=request_digest,
            claims=tuple(sorted(claims)),
            payees=payees,
            value_date=value_date,
            created_by=by,
            created_at=now,
            debits=tuple(sorted(debits)),
        )

    def check_same_request(self, request_digest: str) -> None:
        if request_digest != self.request_digest:
            raise IdempotencyKeyReused(
                f"batch key {self.batch_key!r} was used for another batch", key=self.batch_key
            )

    def mark_paid(self, *, bank_reference: str, by: str, now: datetime) -> bool:
        """Record the bank's confirmation; False for a retry with the same reference."""
        try:
            check_sepa_id(bank_reference, field="bank reference")
        except InvalidPaymentText as error:
            raise InvalidPaymentBatch(error.message, field="bank_reference") from None
        if self.status is BatchStatus.PAID:
            if bank_reference != self.bank_reference:
                raise PaymentBatchStatusConflict(
                    f"the batch was paid under bank reference {self.bank_reference!r}",
                    status=self.status.value,
                )
            return False
        self.trigger_event(
            self.MarkedPaid,
            timestamp=now,
            bank_reference=bank_reference,
            marked_by=by,
            marked_at=now,
            paid=self.paid_by_vendor(),
        )
        return True

    def paid_by_vendor(self) -> tuple[tuple[str, int], ...]:
        """What each vendor is sent: its claims, less the debit notes deducted."""
        totals: dict[str, int] = {}
        for _, vendor, cents in self.claims:
            totals[vendor] = totals.get(vendor, 0) + cents
        for _, vendor, cents in self.debits:
            totals[vendor] -= cents
        assert all(cents > 0 for cents in totals.values()), "a transfer is positive"
        return tuple(sorted(totals.items()))

    # Queries -----------------------------------------------------------------------------

    def transfers(self) -> tuple[Transfer, ...]:
        """One transfer per vendor, for its claims less its debit notes, by vendor id."""
        transfers = []
        paid = dict(self.paid_by_vendor())
        for vendor_id, name, iban in self.payees:
            mine = [c for c, v, _ in self.claims if v == vendor_id]
            debited = sum(1 for _, v, _ in self.debits if v == vendor_id)
            less = f" moins {debited} note(s) de debit" if debited else ""
            transfers.append(
                Transfer(
                    end_to_end_id=end_to_end_id(mine),
                    creditor_name=name,
                    creditor_iban=iban,
                    amount_cents=paid[vendor_id],
                    remittance_text=f"Remboursement Tirelire {len(mine)} demande(s){less} "
                    f"lot {self.id.hex[:12]}",
                )
            )
        return tuple(transfers)

    def transfer_file(self, debtor: Debtor, created_at: datetime) -> TransferFile:
        """The pain.001 content of this batch; its message id is the batch's id."""
        return TransferFile(
            message_id=self.id.hex,
            created_at=created_at,
            execution_date=self.value_date,
            debtor=debtor,
            transfers=self.transfers(),
        )

    def record_reconciliation(
        self, statement_digest: str, result: Reconciliation, *, by: str, now: datetime
    ) -> PaymentBatch.StatementReconciled:
        """Keep what a statement showed of this batch; the same statement again records
        nothing and answers the first reading."""
        seen = self.reconciliations.get(statement_digest)
        if seen is not None:
            return seen
        self.trigger_event(
            self.StatementReconciled,
            timestamp=now,
            statement_digest=statement_digest,
            matched=tuple(
                (m.expected.end_to_end_id, m.line.line_number, m.line.bank_reference)
                for m in result.matched
            ),
            unmatched=tuple((u.line.line_number, str(u.reason)) for u in result.unmatched_lines),
            missing=tuple(p.end_to_end_id for p in result.missing_payments),
            duplicates=tuple((d.line.line_number, d.end_to_end_id) for d in result.duplicates),
            reconciled_by=by,
            reconciled_at=now,
        )
        return self.reconciliations[statement_digest]

    def expected_payments(self) -> tuple[ExpectedPayment, ...]:
        """What the bank statement should show, for `ledger.statements.reconcile`."""
        return tuple(
            ExpectedPayment(t.end_to_end_id, t.amount_cents, t.creditor_iban)
            for t in self.transfers()
        )

    @property
    def claims_cents(self) -> int:
        return sum(cents for _, _, cents in self.claims)

    @property
    def debited_cents(self) -> int:
        return sum(cents for _, _, cents in self.debits)

    @property
    def total_cents(self) -> int:
        """What the batch sends: its claims less the debit notes deducted."""
        return self.claims_cents - self.debited_cents
