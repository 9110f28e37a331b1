"""Debit notes: what a vendor gives back when it refunds a redemption it has claimed.

A vendor claims a redemption for what was captured net of refunds at the time of the claim.
If it refunds the teacher *afterwards* (the claim under review, approved, batched or even
paid), the teacher gets the credit back at once, but the claim still pays the vendor for
the whole line. The programme would pay twice for the refunded part; so the refund raises a
**debit note**: the vendor owes the reimbursed share of the refund, and the note is deducted
from the vendor's next payment batch.

The reimbursed share follows the line's rule: under 100 % it is the refund itself; under a
degressive tier paying 90 %, the vendor owes back 90 % of the refund, and the other 10 %,
withheld when the claim was approved, is released (in the books, `withheld` → payable), so
that after the deduction the vendor's payable account is back at zero. The share is rounded
down to the cent: a vendor never owes more than it was paid for that part.

All the notes of one vendor live in one aggregate, `VendorDebits`: raising a note and
deducting open notes into a batch both write it, so two concurrent batches cannot deduct the
same note (the store refuses the second save and the batch retries). A note is deducted
whole, oldest first, and only while the vendor's transfer stays positive: a note larger than
what a batch pays the vendor waits for a later batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from ledger.ids import TIRELIRE_NAMESPACE


def vendor_debits_id(vendor_id: str) -> UUID:
    return uuid5(TIRELIRE_NAMESPACE, f"vendor-debits:{vendor_id}")


def reimbursed_share(refunded_cents: int, captured_cents: int, reimbursed_cents: int) -> int:
    """The part of a refund the vendor was (or will be) paid for, rounded down."""
    assert 0 < refunded_cents <= captured_cents and 0 <= reimbursed_cents <= captured_cents
    return refunded_cents * reimbursed_cents // captured_cents


@dataclass(slots=True)
class DebitNote:
    note_id: UUID  # the refund's id
    account_id: UUID
    hold_id: UUID
    claim_id: UUID
    refunded_cents: int
    debit_cents: int
    raised_at: datetime
    batch_id: UUID | None = None  # the batch it was deducted from


Deductions = tuple[tuple[UUID, int], ...]  # note, cents


class VendorDebits(Aggregate):
    """A vendor's debit notes. The id is `vendor_debits_id(vendor)`."""

    class Event(Aggregate.Event):
        pass

    class Opened(Aggregate.Created):
        vendor_id: str

        def apply(self, debits: VendorDebits) -> None:
            debits.vendor_id = self.vendor_id
            debits.notes = {}

    class NoteRaised(Event):
        vendor_id: str
        note_id: UUID
        account_id: UUID
        hold_id: UUID
        claim_id: UUID
        refunded_cents: int
        debit_cents: int  # owed back by the vendor, deducted from a later payment
        released_cents: int  # withheld share of the refund, no longer withheld
        raised_by: str
        raised_at: datetime

        def apply(self, debits: VendorDebits) -> None:
            debits.notes[self.note_id] = DebitNote(
                self.note_id,
                self.account_id,
                self.hold_id,
                self.claim_id,
                self.refunded_cents,
                self.debit_cents,
                self.raised_at,
            )

    class Deducted(Event):
        vendor_id: str
        batch_id: UUID
        notes: Deductions

        def apply(self, debits: VendorDebits) -> None:
            for note_id, _ in self.notes:
                debits.notes[note_id].batch_id = self.batch_id

    @classmethod
    def open(cls, *, vendor_id: str, now: datetime) -> VendorDebits:
        return cls._create(
            cls.Opened, id=vendor_debits_id(vendor_id), timestamp=now, vendor_id=vendor_id
        )

    def raise_note(
        self,
        *,
        refund_id: UUID,
        account_id: UUID,
        hold_id: UUID,
        claim_id: UUID,
        refunded_cents: int,
        captured_cents: int,
        reimbursed_cents: int,
        by: str,
        now: datetime,
    ) -> None:
        """A note for a refund of a claimed line (captured and reimbursed as the line says)."""
        assert refund_id not in self.notes, "a refund raises one note"
        debit = reimbursed_share(refunded_cents, captured_cents, reimbursed_cents)
        self.trigger_event(
            self.NoteRaised,
            timestamp=now,
            vendor_id=self.vendor_id,
            note_id=refund_id,
            account_id=account_id,
            hold_id=hold_id,
            claim_id=claim_id,
            refunded_cents=refunded_cents,
            debit_cents=debit,
            released_cents=refunded_cents - debit,
            raised_by=by,
            raised_at=now,
        )

    def open_notes(self) -> list[DebitNote]:
        """Notes not yet deducted, oldest first."""
        pending = [n for n in self.notes.values() if n.batch_id is None and n.debit_cents > 0]
        return sorted(pending, key=lambda n: (n.raised_at, n.note_id))

    def deduct(self, *, batch_id: UUID, paying_cents: int, now: datetime) -> Deductions:
        """Deduct open notes, oldest first, from a batch paying the vendor `paying_cents`,
        leaving at least one cent to transfer. Returns what was deducted."""
        chosen: list[tuple[UUID, int]] = []
        room = paying_cents - 1
        for note in self.open_notes():
            if note.debit_cents <= room:
                chosen.append((note.note_id, note.debit_cents))
                room -= note.debit_cents
        if chosen:
            self.trigger_event(
                self.Deducted,
                timestamp=now,
                vendor_id=self.vendor_id,
                batch_id=batch_id,
                notes=tuple(chosen),
            )
        return tuple(chosen)

    @property
    def open_cents(self) -> int:
        return sum(n.debit_cents for n in self.open_notes())
