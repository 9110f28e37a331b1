"""Redemptions through the three contexts: vendor, catalogue, campaign and credit account."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ledger.batching import GroupCommitter
from ledger.catalogue_app import Catalogue
from ledger.credits import CreditAccount
from ledger.eligibility import EligibilityRule, Label, ResourceKind
from ledger.errors import (
    CampaignNotOpen,
    ResourceNotEligible,
    ResourceWithdrawn,
    VendorStatusConflict,
)
from ledger.redemptions import Redemptions
from ledger.vendor_directory import VendorDirectory
from ledger.vouchers import VoucherLedger
from tests import helpers

DURING = helpers.DURING
SIREN, SIRET, IBAN = "732829320", "73282932000074", "FR7630006000011234567890189"


@pytest.fixture
def world(memory_settings):
    vouchers = VoucherLedger(memory_settings)
    # The in-memory store is per application: share one recorder so the three contexts
    # read one log, as they do on SQLite and PostgreSQL.
    vendors = VendorDirectory(memory_settings)
    catalogue = Catalogue(memory_settings)
    vendors.recorder = catalogue.recorder = vouchers.recorder
    vendors.events.recorder = catalogue.events.recorder = vouchers.recorder
    campaign = helpers.open_campaign(vouchers)
    vouchers.grant_credits(campaign, ["t1", "t2"], grant_key="g", by="op", now=helpers.START)
    vendor = vendors.apply_vendor(
        legal_name="Les Petits Savants",
        siren=SIREN,
        siret=SIRET,
        contact_ref="contact-1",
        iban=IBAN,
        by="v",
        now=helpers.START,
    )
    vendors.approve(vendor, by="operator", now=helpers.START)
    resource = catalogue.list_resource(
        vendor_id=str(vendor),
        reference="maths-ce1",
        title="Mathématiques CE1",
        description="Exercices en ligne",
        kind=ResourceKind.ONLINE_SERVICE,
        levels=["elementaire"],
        price_cents=2500,
        by="v",
        now=helpers.START,
    )
    return {
        "vouchers": vouchers,
        "vendors": vendors,
        "catalogue": catalogue,
        "campaign": campaign,
        "vendor": vendor,
        "resource": resource,
        "redemptions": Redemptions(vouchers, vendors, catalogue),
    }


def redeem(world, key="r1", teacher="t1", now=DURING, resource=None):
    return world["redemptions"].redeem(
        campaign_id=world["campaign"],
        teacher_id=teacher,
        key=key,
        resource_id=resource or world["resource"],
        order_ref=f"order-{key}",
        by=teacher,
        now=now,
    )


def placed_events(world):
    return [
        e
        for e in world["vouchers"].events.recorder.select_notifications(None, 1000)
        if e.topic.endswith("HoldPlaced")
    ]


def test_a_redemption_holds_the_price_and_records_its_evidence(world):
    receipt = redeem(world)
    assert receipt.amount_cents == 2500
    account = world["vouchers"].get_account(
        world["vouchers"].account_view(world["campaign"], "t1").account_id
    )
    hold = account.holds[receipt.hold_id]
    assert hold.resource_id == world["resource"] and hold.kind is ResourceKind.ONLINE_SERVICE
    event = world["vouchers"].mapper.to_domain_event(placed_events(world)[-1])
    assert isinstance(event, CreditAccount.HoldPlaced)
    assert (event.resource_id, event.resource_revision) == (world["resource"], 1)
    assert event.resource_labels == ()


def test_a_suspended_vendor_takes_no_new_orders_but_its_holds_can_be_captured(world):
    receipt = redeem(world)
    world["vendors"].suspend(world["vendor"], reason="audit", by="operator", now=DURING)
    with pytest.raises(VendorStatusConflict):
        redeem(world, key="r2")
    assert world["vouchers"].account_view(world["campaign"], "t1").held_cents == 2500
    world["vouchers"].execute(helpers.capture(world["campaign"], "t1", "c1", receipt.hold_id, 2500))
    assert world["vouchers"].account_view(world["campaign"], "t1").captured_cents == 2500


def test_a_retry_answers_as_the_first_even_after_suspension_or_a_new_price(world):
    first = redeem(world)
    world["catalogue"].update_resource(world["resource"], by="v", now=DURING, price_cents=9000)
    world["vendors"].suspend(world["vendor"], reason="audit", by="operator", now=DURING)
    assert redeem(world) == first
    assert len(placed_events(world)) == 1


def test_a_labelled_campaign_refuses_an_unlabelled_resource_until_it_is_labelled(world):
    rule = EligibilityRule.labelled([Label.FRANCAIS])
    world["vouchers"].set_eligibility(world["campaign"], rule, by="operator", now=DURING)
    with pytest.raises(ResourceNotEligible) as refused:
        redeem(world)
    assert refused.value.details["reason"] == "missing_labels"
    assert placed_events(world) == []
    world["catalogue"].grant_label(
        world["resource"],
        Label.FRANCAIS,
        reason="conforme",
        decided_on=date(2027, 9, 5),
        by="committee",
        now=DURING,
    )
    later = DURING + timedelta(minutes=1)
    receipt = redeem(world, key="r2", now=later)
    account_id = world["vouchers"].account_view(world["campaign"], "t1").account_id
    event = world["vouchers"].mapper.to_domain_event(placed_events(world)[-1])
    assert event.resource_labels == (Label.FRANCAIS,)
    assert world["vouchers"].get_account(account_id).holds[receipt.hold_id].amount_cents == 2500


def test_a_cap_per_kind_counts_what_the_credit_already_committed(world):
    rule = EligibilityRule.any_listed({ResourceKind.ONLINE_SERVICE: 6000})
    world["vouchers"].set_eligibility(world["campaign"], rule, by="operator", now=DURING)
    redeem(world, key="a")
    redeem(world, key="b")
    with pytest.raises(ResourceNotEligible) as refused:
        redeem(world, key="c")  # 7500 cents would pass the 6000 cap
    assert refused.value.details["reason"] == "over_kind_cap"
    assert refused.value.details["spent_cents"] == 5000
    assert redeem(world, key="c", teacher="t2").amount_cents == 2500  # caps are per credit


def test_a_withdrawn_resource_cannot_be_redeemed(world):
    world["catalogue"].withdraw_resource(world["resource"], reason="fin", by="v", now=DURING)
    with pytest.raises((ResourceNotEligible, ResourceWithdrawn)):
        redeem(world, now=DURING + timedelta(seconds=1))
    assert placed_events(world) == []


def test_setting_the_same_rule_again_records_nothing_and_a_closed_campaign_refuses(world):
    rule = EligibilityRule.labelled(["francais"])
    vouchers = world["vouchers"]
    vouchers.set_eligibility(world["campaign"], rule, by="operator", now=DURING)
    version = vouchers.get_campaign(world["campaign"]).version
    vouchers.set_eligibility(world["campaign"], rule, by="operator", now=DURING)
    assert vouchers.get_campaign(world["campaign"]).version == version
    vouchers.close_campaign(world["campaign"], by="operator", now=DURING)
    with pytest.raises(CampaignNotOpen):
        vouchers.set_eligibility(world["campaign"], EligibilityRule(), by="op", now=DURING)


def test_redemptions_go_through_group_commit_too(world):
    committer = GroupCommitter(world["vouchers"])
    try:
        world["redemptions"].committer = committer
        receipts = [redeem(world, key=f"k{n}", teacher=f"t{1 + n % 2}") for n in range(4)]
    finally:
        committer.close()
    assert {r.amount_cents for r in receipts} == {2500}
    assert world["vouchers"].account_view(world["campaign"], "t1").held_cents == 5000


def test_a_captured_redemption_can_be_claimed_once_by_its_vendor(world, memory_settings):
    from ledger.claims_desk import ClaimsDesk
    from ledger.errors import HoldNotCaptured
    from ledger.reimbursement import ReimbursementRule, RuleBook

    receipt = redeem(world)
    account_id = world["vouchers"].account_view(world["campaign"], "t1").account_id
    with pytest.raises(HoldNotCaptured):
        world["vouchers"].redemption(account_id, receipt.hold_id)
    later = DURING + timedelta(minutes=5)
    world["vouchers"].execute(
        helpers.capture(world["campaign"], "t1", "c", receipt.hold_id, 2000, now=later)
    )
    world["vouchers"].execute(
        helpers.refund(world["campaign"], "t1", "f", receipt.hold_id, 500, now=later)
    )
    redemption = world["vouchers"].redemption(account_id, receipt.hold_id)
    assert (redemption.vendor_id, redemption.captured_cents) == (str(world["vendor"]), 1500)
    assert redemption.captured_at == later
    rules = RuleBook((ReimbursementRule("full", helpers.START, helpers.END, ((0, 10_000),)),))
    desk = ClaimsDesk(memory_settings, rules)
    claim = desk.submit_claim(str(world["vendor"]), "claim-1", [redemption], by="v", now=later)
    assert (
        desk.submit_claim(str(world["vendor"]), "claim-1", [redemption], by="v", now=later) == claim
    )


def test_the_books_follow_a_redemption_to_the_bank_and_balance_to_zero(world, memory_settings):
    """Teacher credit → vendor payable → (withheld by a 90 % rule) → bank: trial zero."""
    from ledger import accounts
    from ledger.claims_desk import ClaimsDesk
    from ledger.reimbursement import ReimbursementRule, RuleBook

    vouchers = world["vouchers"]
    receipt = redeem(world)
    later = DURING + timedelta(minutes=5)
    vouchers.execute(
        helpers.capture(world["campaign"], "t1", "c", receipt.hold_id, 2500, now=later)
    )
    account_id = vouchers.account_view(world["campaign"], "t1").account_id
    rules = RuleBook((ReimbursementRule("ninety", helpers.START, helpers.END, ((0, 9_000),)),))
    desk = ClaimsDesk(memory_settings, rules)
    desk.recorder = desk.events.recorder = vouchers.recorder  # one log, as on a real store
    vendor = str(world["vendor"])
    claim = desk.submit_claim(
        vendor, "claim-1", [vouchers.redemption(account_id, receipt.hold_id)], by="v", now=later
    )
    desk.approve_claim(claim, by="operator", now=later)
    batch = desk.create_payment_batch(
        key="batch-1",
        claim_ids=[claim],
        value_date=date(2027, 9, 20),
        payees=[(vendor, "Les Petits Savants", IBAN)],
        by="operator",
        now=later,
    )
    desk.mark_batch_paid(batch, bank_reference="BANK-REF-1", by="operator", now=later)

    log = [
        vouchers.mapper.to_domain_event(n)
        for n in vouchers.recorder.select_notifications(None, 10_000)
    ]
    books = accounts.fold(log)
    assert books[accounts.vendor_payable(vendor)] == 0
    assert books[accounts.bank(vendor)] == 2250  # 90 % of 2500
    assert books[accounts.withheld(vendor)] == 250
    assert sum(books.values()) == 0

    # The bank's statement: the transfer, and a fee nobody ordered.
    transfer = desk.expected_payments(batch)[0]
    statement = (
        "booking date;amount;currency;reference;counterparty iban;bank reference\n"
        f"2027-09-20;-22,50;EUR;{transfer.end_to_end_id};{IBAN};BANK-1\n"
        "2027-09-20;-1,20;EUR;FRAIS;;BANK-2\n"
    ).encode()
    reading = desk.reconcile_statement(batch, statement, by="operator", now=later)
    assert [m[0] for m in reading.matched] == [transfer.end_to_end_id]
    assert reading.unmatched == ((3, "unknown_reference"),) and reading.missing == ()
    size = len(vouchers.recorder.select_notifications(None, 10_000))
    assert desk.reconcile_statement(batch, statement, by="operator", now=later) == reading
    assert len(vouchers.recorder.select_notifications(None, 10_000)) == size


def test_a_line_cancelled_for_good_gives_the_teacher_back_the_credit(world, memory_settings):
    from ledger import accounts
    from ledger.claims import CANCEL, DISPUTE_WINDOW_DAYS
    from ledger.claims_desk import ClaimsDesk
    from ledger.reimbursement import ReimbursementRule, RuleBook

    vouchers, vendor = world["vouchers"], str(world["vendor"])
    later = DURING + timedelta(minutes=5)
    redemptions = []
    for key in ("a", "b"):
        receipt = redeem(world, key=key)
        vouchers.execute(
            helpers.capture(world["campaign"], "t1", f"c{key}", receipt.hold_id, 2500, now=later)
        )
        account_id = vouchers.account_view(world["campaign"], "t1").account_id
        redemptions.append(vouchers.redemption(account_id, receipt.hold_id))
    rules = RuleBook((ReimbursementRule("full", helpers.START, helpers.END, ((0, 10_000),)),))
    desk = ClaimsDesk(memory_settings, rules)
    desk.recorder = desk.events.recorder = vouchers.recorder
    claim = desk.submit_claim(vendor, "claim-1", redemptions, by="v", now=later)
    desk.reject_lines(
        claim,
        key="review-1",
        by="operator",
        now=later,
        rejections=[(redemptions[1].hold_id, "not delivered", CANCEL)],
    )
    assert vouchers.account_view(world["campaign"], "t1").available_cents == 7800 - 5000
    final = later + timedelta(days=DISPUTE_WINDOW_DAYS + 1)
    desk.approve_claim(claim, by="operator", now=final)
    desk.approve_claim(claim, by="operator", now=final)  # a retry changes nothing
    view = vouchers.account_view(world["campaign"], "t1")
    assert (view.available_cents, view.captured_cents) == (7800 - 2500, 2500)
    log = [
        vouchers.mapper.to_domain_event(n)
        for n in vouchers.recorder.select_notifications(None, 10_000)
    ]
    books = accounts.fold(log)
    assert books[accounts.vendor_payable(vendor)] == 2500  # owed for the line kept
    assert sum(books.values()) == 0
