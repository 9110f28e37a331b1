"""Refunds of claimed redemptions, on each store: a line under review claims less; after
approval the vendor owes a debit note, deducted from its next payment batch."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger import accounts
from ledger.claims_desk import ClaimsDesk
from ledger.eligibility import ResourceKind
from ledger.reimbursement import ReimbursementRule, RuleBook
from ledger.sepa import Debtor, check_pain001
from ledger.settings import Settings
from projections.vendors import VendorStatementProjection, VendorStatements
from tests import helpers
from tests.integration.test_read_models import SEPTEMBER, World

START, DURING, DAY = helpers.START, helpers.DURING, timedelta(days=1)
IBAN = "FR7630006000011234567890189"
NINETY = RuleBook((ReimbursementRule("ninety", START, helpers.END, ((0, 9_000),)),))


@pytest.fixture
def world(store_settings: Settings):
    """A vendor reimbursed at 90 %; t1 and t2 each captured 25 € at it, t3 10 €."""
    world = World(store_settings)
    world.desk.close()
    world.desk = ClaimsDesk(store_settings, NINETY)
    try:
        world.ids["vendor"] = world.vendor("Les Petits Savants", "732829320", "73282932000074")
        world.resource(
            world.ids["vendor"], "lecture", ResourceKind.DIGITAL_TEXTBOOK, ["elementaire"], 2500
        )
        world.resource(world.ids["vendor"], "fiche", ResourceKind.ONLINE_SERVICE, ["lycee"], 1000)
        campaign = world.ids["campaign"] = helpers.open_campaign(world.vouchers)
        world.vouchers.grant_credits(
            campaign, ["t1", "t2", "t3"], grant_key="g", by="op", now=START
        )
        world.receipts = {}
        for teacher, reference in (("t1", "lecture"), ("t2", "lecture"), ("t3", "fiche")):
            receipt = world.receipts[teacher] = world.redeem(teacher, f"r-{teacher}", reference)
            world.vouchers.execute(
                helpers.capture(
                    campaign, teacher, f"c-{teacher}", receipt.hold_id, receipt.amount_cents
                )
            )
        yield world
    finally:
        world.close()


def refund(world: World, teacher: str, key: str, cents: int, now=DURING):
    command = helpers.refund(
        world.ids["campaign"], teacher, key, world.receipts[teacher].hold_id, cents, now
    )
    return world.desk.refund(command)


def claim(world: World, key: str, *teachers: str, now=DURING):
    lines = [world.redemption(t, world.receipts[t]) for t in teachers]
    return world.desk.submit_claim(world.ids["vendor"], key, lines, by="vendor", now=now)


def pay(world: World, key: str, claims, now):
    desk = world.desk
    batch = desk.create_payment_batch(
        key=key,
        claim_ids=claims,
        value_date=now.date() + DAY,
        payees=[(world.ids["vendor"], "Les Petits Savants", IBAN)],
        by="op",
        now=now,
    )
    desk.mark_batch_paid(batch, bank_reference=f"BQ-{key}", by="op", now=now + DAY)
    return batch


def books(world: World) -> dict[str, int]:
    recorder = world.vouchers.recorder
    notifications = recorder.select_notifications(start=None, limit=100_000)
    return accounts.fold(world.vouchers.mapper.to_domain_event(n) for n in notifications)


def test_a_refund_after_payment_is_deducted_from_the_next_batch(world):
    vendor, desk = world.ids["vendor"], world.desk
    first = claim(world, "claim-1", "t1")
    second = claim(world, "claim-2", "t2")
    # Under review: t2's line claims 1500, of which 90 % is reimbursed; no note.
    refund(world, "t2", "f-t2", 1000)
    line = desk.get_claim(second).lines[world.receipts["t2"].hold_id]
    assert (line.captured_cents, line.reimbursed_cents) == (1500, 1350)
    assert desk.debit_notes(vendor) is None
    assert desk.vendor_year_total_cents(vendor, 2027) == 2500 + 1500

    desk.approve_claim(first, by="op", now=DURING + DAY)
    pay(world, "b1", [first], DURING + DAY)
    # After payment: the vendor owes back 90 % of the refund; 10 % is withheld no more.
    note_receipt = refund(world, "t1", "f-t1", 1000, now=DURING + 3 * DAY)
    assert refund(world, "t1", "f-t1", 1000, now=DURING + 3 * DAY) == note_receipt  # a retry
    notes = desk.debit_notes(vendor)
    assert [(n.refunded_cents, n.debit_cents) for n in notes.open_notes()] == [(1000, 900)]
    # t2's line under review and t3's unclaimed capture, less the note.
    assert books(world)[accounts.vendor_payable(vendor)] == 1500 + 1000 - 900

    desk.approve_claim(second, by="op", now=DURING + 3 * DAY)
    batch_id = pay(world, "b2", [second], DURING + 4 * DAY)
    batch = desk.get_batch(batch_id)
    assert (batch.claims_cents, batch.debited_cents, batch.total_cents) == (1350, 900, 450)
    assert desk.debit_notes(vendor).open_notes() == []
    [transfer] = batch.transfers()
    assert transfer.amount_cents == 450 and "1 note(s) de debit" in transfer.remittance_text
    debtor = Debtor("Tirelire Credit Education", IBAN)
    check_pain001(desk.payment_file(batch_id, debtor=debtor, created_at=DURING + 4 * DAY))

    final = books(world)
    assert sum(final.values()) == 0
    assert final[accounts.vendor_payable(vendor)] == 1000  # t3's capture, never claimed
    kept = 2500 + 2500 - 1000 - 1000  # captured less refunded on the claimed lines
    assert final[accounts.bank(vendor)] == 2250 + 450 == kept * 9 // 10
    assert final[accounts.withheld(vendor)] == kept - final[accounts.bank(vendor)]

    world.runner(VendorStatementProjection()).catch_up()
    month = VendorStatements(world.engine).statement(vendor, *SEPTEMBER)
    assert (month.debit_notes_count, month.debit_notes_cents, month.debited_cents) == (1, 900, 900)
    assert (month.paid_cents, month.withheld_cents) == (2700, 300)
    assert month.claims_submitted_cents == 2250 + 2250 - 900
    assert month.balance_owed_cents == 1000


def test_a_note_larger_than_the_next_payment_waits_for_a_later_batch(world):
    vendor, desk = world.ids["vendor"], world.desk
    first = claim(world, "claim-1", "t1")
    desk.approve_claim(first, by="op", now=DURING)
    pay(world, "b1", [first], DURING)
    refund(world, "t1", "f-t1", 2500, now=DURING + 2 * DAY)  # owes back 2250
    small = claim(world, "claim-3", "t3", now=DURING + 2 * DAY)  # pays 900
    desk.approve_claim(small, by="op", now=DURING + 2 * DAY)
    batch = desk.get_batch(pay(world, "b2", [small], DURING + 2 * DAY))
    assert (batch.debits, batch.total_cents) == ((), 900)
    assert desk.debit_notes(vendor).open_cents == 2250
    assert books(world)[accounts.vendor_payable(vendor)] == 2500 - 2250  # t2's, unclaimed


def test_a_refund_of_an_unclaimed_or_returned_redemption_raises_no_note(world):
    vendor, desk = world.ids["vendor"], world.desk
    refund(world, "t3", "f-t3", 300)
    first = claim(world, "claim-1", "t1")
    hold = world.receipts["t1"].hold_id
    desk.reject_lines(
        first, key="j", rejections=[(hold, "facture", "return_to_claimable")], by="op", now=DURING
    )
    refund(world, "t1", "f-t1", 500)
    assert desk.debit_notes(vendor) is None
    assert desk.get_claim(first).lines[hold].captured_cents == 2500  # the returned line stays
    again = claim(world, "claim-2", "t1")
    assert desk.get_claim(again).lines[hold].captured_cents == 2000
