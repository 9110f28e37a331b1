"""The whole chain under random commands, valid and invalid, on each store.

Hypothesis drives one approved vendor with two listed resources, one campaign and three
teachers (two granted, one not) through redemptions, captures, releases and refunds, then
the vendor's claims through the claims desk (a degressive rule: 100 % up to 50 €, then
90 %), their review (lines returned to claimable or cancelled for good), approval after
the dispute window, payment batches and the bank's confirmation, while time passes and the
vendor is suspended and reinstated. After every step, from a fold of the whole log:

- the trial balance is zero, and no teacher's available or held balance is negative;
- each captured hold is in at most one open claim line (a line returned to claimable no
  longer counts), and its marker names that claim;
- the vendor's bank account holds what its paid batches paid, and never more than it
  captured less what it refunded; no redemption is in two paid claims;
- the vendor's payable account is what its approved claims still owe less its open debit
  notes (a refund after approval), and no note is deducted twice;
- on each account, granted + topped up = available + held + captured + returned.

Refunds go through the claims desk, as the API sends them: a refund of a line under review
takes it off the line, one after approval raises a debit note that a later batch deducts.
Local authorities top up the teachers' credit; the vendor disputes cancelled lines and the
operator upholds or overturns them.

Every refused command must leave the log as it was.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from ledger import accounts
from ledger.catalogue_app import Catalogue
from ledger.claims import (
    CANCEL,
    DISPUTE_WINDOW_DAYS,
    OVERTURNED,
    RETURN_TO_CLAIMABLE,
    UPHELD,
    ClaimStatus,
    LineStatus,
)
from ledger.claims_desk import ClaimsDesk
from ledger.commands import HoldReceipt
from ledger.eligibility import ResourceKind
from ledger.errors import (
    DomainError,
    HoldNotCaptured,
    InvalidClaim,
    RedemptionAlreadyClaimed,
)
from ledger.payments import BatchStatus
from ledger.redemptions import Redemptions
from ledger.reimbursement import ReimbursementRule, RuleBook
from ledger.settings import Settings
from ledger.vendor_directory import VendorDirectory
from ledger.vendors import VendorStatus
from ledger.vouchers import VoucherLedger
from tests import helpers
from tests.stateful import run_on_postgresql, run_on_sqlite

TEACHERS = ("t0", "t1", "t2")  # t2 is never granted: its redemptions are refused
GRANTED = TEACHERS[:2]
IBAN = "FR7630006000011234567890189"
NAME = "Les Petits Savants"
PRICES = (1990, 3000)
# 100 % of the vendor's first 50 € of the year, then 90 %.
RULES = RuleBook(
    (ReimbursementRule("degressive", helpers.START, helpers.END, ((0, 10_000), (5_000, 9_000))),)
)
KEYS = st.sampled_from([f"k{n}" for n in range(4)])  # few keys: retries and reused keys
# A share of an amount, in quarters: 0 and 5 are refused (nothing, or too much).
PARTS = st.sampled_from([4, 4, 3, 2, 1, 0, 5])
INDEX = st.integers(min_value=0, max_value=20)  # picks among claims or batches, modulo
OPEN_LINE = (
    LineStatus.SUBMITTED,
    LineStatus.APPROVED,
    LineStatus.CANCELLED,
    LineStatus.DISPUTED,
    LineStatus.OVERTURNED,
    LineStatus.UPHELD,
)
Hold = tuple[str, UUID, int]


class ChainMachine(RuleBasedStateMachine):
    store_factory = None  # set per store below

    holds = Bundle("holds")

    @initialize()
    def open_books(self) -> None:
        settings_ = Settings(database_url=type(self).store_factory())
        self.vouchers = VoucherLedger(settings_)
        self.vendors = VendorDirectory(settings_)
        self.catalogue = Catalogue(settings_)
        self.desk = ClaimsDesk(settings_, RULES)
        self.redemptions = Redemptions(self.vouchers, self.vendors, self.catalogue)
        self.now = helpers.DURING
        vendor = self.vendors.apply_vendor(
            legal_name=NAME,
            siren="732829320",
            siret="73282932000074",
            contact_ref="contact-1",
            iban=IBAN,
            by="vendor",
            now=helpers.START,
        )
        self.vendors.approve(vendor, by="operator", now=helpers.START)
        self.vendor_uuid, self.vendor = vendor, str(vendor)
        self.resources = [
            self.catalogue.list_resource(
                vendor_id=self.vendor,
                reference=f"ressource-{n}",
                title=f"Ressource {n}",
                description="",
                kind=ResourceKind.ONLINE_SERVICE,
                levels=["elementaire"],
                price_cents=price,
                by="vendor",
                now=helpers.START,
            )
            for n, price in enumerate(PRICES)
        ]
        self.campaign = helpers.open_campaign(self.vouchers, teachers=3)
        self.vouchers.grant_credits(
            self.campaign,
            GRANTED,
            grant_key="g",
            by="operator",
            now=helpers.START,
            territories=helpers.in_paris(GRANTED),
        )
        self.claims: list[UUID] = []
        self.batches: list[UUID] = []
        self.serial = 0
        self.placed: list[Hold] = []  # every hold placed, for claims over many of them

    def teardown(self) -> None:
        if hasattr(self, "desk"):
            for app in (self.vouchers, self.vendors, self.catalogue, self.desk):
                app.close()

    # Helpers ------------------------------------------------------------------------------

    def log_size(self) -> int:
        return self.vouchers.recorder.max_notification_id() or 0

    def attempt(self, action, *args, **kwargs):  # type: ignore[no-untyped-def]
        """Run a command; a refusal is answered, and must leave the log as it was."""
        before = self.log_size()
        try:
            return action(*args, **kwargs)
        except DomainError as error:
            assert self.log_size() == before, f"refused {error.code} changed the log"
            return error

    def fresh_key(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial}"

    def account_id(self, teacher: str) -> UUID:
        return self.vouchers.account_view(self.campaign, teacher).account_id

    def open_lines(self, hold_id: UUID) -> list[UUID]:
        """The claims in which this hold has a line not returned to claimable."""
        return [
            c
            for c in self.claims
            if (line := self.desk.get_claim(c).lines.get(hold_id)) is not None
            and line.status in OPEN_LINE
        ]

    def events(self) -> list[object]:
        return [
            self.vouchers.mapper.to_domain_event(n)
            for n in self.vouchers.recorder.select_notifications(start=None, limit=100_000)
        ]

    # Redemptions and the credit account -------------------------------------------------

    @rule(target=holds, teacher=st.sampled_from(TEACHERS), key=KEYS, resource=st.integers(0, 1))
    def redeem(self, teacher: str, key: str, resource: int):
        """May be refused: no credit, not enough, a suspended vendor, a key reused."""
        return self.held(teacher, self.place(teacher, key, resource))

    @rule(target=holds, teacher=st.sampled_from(GRANTED), resource=st.integers(0, 1), part=PARTS)
    def redeem_and_capture(self, teacher: str, resource: int, part: int):
        """The common path in one step: a redemption, then its capture by the vendor."""
        result = self.place(teacher, self.fresh_key("r"), resource)
        if isinstance(result, HoldReceipt):
            self.capture((teacher, result.hold_id, result.amount_cents), part)
        return self.held(teacher, result)

    def place(self, teacher: str, key: str, resource: int) -> object:
        return self.attempt(
            self.redemptions.redeem,
            campaign_id=self.campaign,
            teacher_id=teacher,
            key=key,
            resource_id=self.resources[resource],
            order_ref=f"order-{key}",
            by=teacher,
            now=self.now,
        )

    def held(self, teacher: str, result: object):  # type: ignore[no-untyped-def]
        if not isinstance(result, HoldReceipt):
            return multiple()
        hold = (teacher, result.hold_id, result.amount_cents)
        if hold not in self.placed:
            self.placed.append(hold)
        return hold

    @rule(hold=holds, part=PARTS)
    def capture(self, hold: Hold, part: int) -> None:
        teacher, hold_id, amount = hold
        key = self.fresh_key("c")
        command = helpers.capture(
            self.campaign, teacher, key, hold_id, amount * part // 4, self.now
        )
        self.attempt(self.vouchers.execute, command)

    @rule(hold=holds)
    def release(self, hold: Hold) -> None:
        teacher, hold_id, _ = hold
        key = self.fresh_key("x")
        self.attempt(
            self.vouchers.execute, helpers.release(self.campaign, teacher, key, hold_id, self.now)
        )

    @rule(hold=holds, part=PARTS)
    def refund(self, hold: Hold, part: int) -> None:
        """A part of what was captured, whether claimed, approved or paid already."""
        teacher, hold_id, amount = hold
        key = self.fresh_key("f")
        command = helpers.refund(self.campaign, teacher, key, hold_id, amount * part // 8, self.now)
        self.attempt(self.desk.refund, command)

    @rule(teacher=st.sampled_from(TEACHERS), cents=st.sampled_from([500, 2000, 0]), key=KEYS)
    def top_up(self, teacher: str, cents: int, key: str) -> None:
        """A local authority adds credit; refused for t2 (no credit), 0 cents, a reused key."""
        command = helpers.top_up(self.campaign, teacher, f"top-{key}", cents, now=self.now)
        self.attempt(self.vouchers.execute, command)

    @rule(minutes=st.sampled_from([1, 10, 120, (DISPUTE_WINDOW_DAYS + 1) * 24 * 60]))
    def pass_time(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @rule(stays=st.sampled_from([False, False, False, True]))
    def suspend(self, stays: bool) -> None:
        """A suspended vendor takes no new order; it is mostly reinstated at once."""
        self.attempt(
            self.vendors.suspend, self.vendor_uuid, reason="audit", by="operator", now=self.now
        )
        assert self.vendors.get_vendor(self.vendor_uuid).status is VendorStatus.SUSPENDED
        refused = self.place(GRANTED[0], self.fresh_key("s"), 0)
        assert isinstance(refused, DomainError) and refused.code == "vendor_status_conflict"
        if not stays:
            self.reinstate()

    @precondition(lambda self: hasattr(self, "vendors") and self.is_suspended())
    @rule()
    def reinstate(self) -> None:
        self.attempt(self.vendors.reinstate, self.vendor_uuid, by="operator", now=self.now)
        assert not self.is_suspended()

    def is_suspended(self) -> bool:
        return self.vendors.get_vendor(self.vendor_uuid).status is VendorStatus.SUSPENDED

    # Claims -------------------------------------------------------------------------------

    @precondition(lambda self: hasattr(self, "placed") and self.placed)
    @rule(picks=st.lists(INDEX, min_size=1, max_size=3, unique=True), reuse_key=st.booleans())
    def submit_claim(self, picks: list[int], reuse_key: bool) -> None:
        """Some captured redemptions, claimed or not yet; a claimed one is refused."""
        captured = []
        for teacher, hold_id, _ in self.placed:
            try:
                captured.append(self.vouchers.redemption(self.account_id(teacher), hold_id))
            except HoldNotCaptured:
                continue
        if not captured:
            return
        redemptions = list({captured[i % len(captured)] for i in picks})
        claimed = [r.hold_id for r in redemptions if self.open_lines(r.hold_id)]
        first = self.desk.get_claim(self.claims[0]).claim_key if self.claims else None
        key = first if reuse_key and first else self.fresh_key("claim-")
        result = self.attempt(
            self.desk.submit_claim, self.vendor, key, redemptions, by="vendor", now=self.now
        )
        if isinstance(result, UUID):
            assert not claimed or result in self.claims, "a claimed hold was claimed again"
            if result not in self.claims:
                self.claims.append(result)
        elif any(r.captured_cents <= 0 for r in redemptions):
            assert isinstance(result, InvalidClaim), result  # refunded in full
        elif claimed and key != first:
            assert isinstance(result, RedemptionAlreadyClaimed), result
        elif all(r.captured_cents > 0 for r in redemptions) and key != first:
            raise AssertionError(f"a claim of claimable redemptions was refused: {result!r}")

    def pick_claim(self, index: int, under_review: bool) -> UUID:
        """A claim still under review when asked and there is one, else any claim."""
        review = [c for c in self.claims if self.desk.get_claim(c).status is ClaimStatus.SUBMITTED]
        pool = review if under_review and review else self.claims
        return pool[index % len(pool)]

    @precondition(lambda self: hasattr(self, "claims") and self.claims)
    @rule(index=INDEX, line=INDEX, cancel=st.booleans(), under_review=st.booleans())
    def reject_line(self, index: int, line: int, cancel: bool, under_review: bool) -> None:
        """One line back to claimable, or cancelled for good; refused unless under review."""
        claim_id = self.pick_claim(index, under_review)
        holds = sorted(self.desk.get_claim(claim_id).lines)
        hold_id = holds[line % len(holds)]
        rejection = (hold_id, "pièce manquante", CANCEL if cancel else RETURN_TO_CLAIMABLE)
        self.attempt(
            self.desk.reject_lines,
            claim_id,
            key=self.fresh_key("j"),
            rejections=[rejection],
            by="operator",
            now=self.now,
        )

    @precondition(lambda self: hasattr(self, "claims") and self.claims)
    @rule(index=INDEX, line=INDEX, key=KEYS)
    def dispute(self, index: int, line: int, key: str) -> None:
        """The vendor contests a cancelled line; refused for any other line or too late."""
        claim_id = self.pick_claim(index, True)
        holds = sorted(self.desk.get_claim(claim_id).lines)
        self.attempt(
            self.desk.dispute_line,
            claim_id,
            holds[line % len(holds)],
            key=f"d-{key}",
            reason="livré, voir bon de réception",
            by="vendor",
            now=self.now,
        )

    @precondition(lambda self: hasattr(self, "claims") and self.claims)
    @rule(index=INDEX, line=INDEX, overturn=st.booleans())
    def decide(self, index: int, line: int, overturn: bool) -> None:
        """The operator decides a disputed line; refused for a line not disputed."""
        claim_id = self.pick_claim(index, True)
        holds = sorted(self.desk.get_claim(claim_id).lines)
        self.attempt(
            self.desk.decide_dispute,
            claim_id,
            holds[line % len(holds)],
            decision=OVERTURNED if overturn else UPHELD,
            by="operator",
            now=self.now,
        )

    @precondition(lambda self: hasattr(self, "claims") and self.claims)
    @rule(index=INDEX, under_review=st.booleans())
    def approve(self, index: int, under_review: bool) -> None:
        """Refused while a cancelled line may be disputed; a retry changes nothing."""
        claim_id = self.pick_claim(index, under_review)
        claim = self.desk.get_claim(claim_id)
        result = self.attempt(self.desk.approve_claim, claim_id, by="operator", now=self.now)
        if claim.status is not ClaimStatus.SUBMITTED or not self.approvable(claim):
            return
        assert not isinstance(result, DomainError), f"approval refused: {result!r}"
        assert self.desk.get_claim(claim_id).status is ClaimStatus.APPROVED

    def approvable(self, claim) -> bool:  # type: ignore[no-untyped-def]
        """Nothing disputed or disputable, and something left to pay or to give back."""
        window = timedelta(days=DISPUTE_WINDOW_DAYS)
        for line in claim.lines.values():
            if line.status is LineStatus.DISPUTED:
                return False
            if line.status is LineStatus.CANCELLED and self.now < line.rejected_at + window:
                return False
        payable = (LineStatus.SUBMITTED, LineStatus.APPROVED, LineStatus.OVERTURNED)
        cancelled = (LineStatus.CANCELLED, LineStatus.UPHELD)
        return any(ln.status in cancelled for ln in claim.lines.values()) or (
            sum(ln.reimbursed_cents for ln in claim.lines.values() if ln.status in payable) > 0
        )

    @precondition(lambda self: hasattr(self, "claims") and self.claims)
    @rule(extra=st.lists(INDEX, max_size=2), approved_only=st.booleans())
    def batch(self, extra: list[int], approved_only: bool) -> None:
        """The approved claims not yet batched, and maybe some others (refused)."""
        ids = {
            c
            for c in self.claims
            if self.desk.get_claim(c).status is ClaimStatus.APPROVED
            and self.desk.get_claim(c).payable_cents > 0  # a claim cancelled in full pays nothing
        }
        if not approved_only:
            ids |= {self.claims[i % len(self.claims)] for i in extra}
        if not ids:
            return
        result = self.attempt(
            self.desk.create_payment_batch,
            key=self.fresh_key("batch-"),
            claim_ids=sorted(ids),
            value_date=self.now.date() + timedelta(days=1),
            payees=[(self.vendor, NAME, IBAN)],
            by="operator",
            now=self.now,
        )
        if isinstance(result, UUID):
            self.batches.append(result)

    @precondition(lambda self: hasattr(self, "batches") and self.batches)
    @rule(index=INDEX, other_reference=st.booleans())
    def mark_paid(self, index: int, other_reference: bool) -> None:
        """The bank confirms; a retry changes nothing, another reference is refused."""
        batch_id = self.batches[index % len(self.batches)]
        reference = f"BQ-{batch_id.hex[:8]}"
        self.attempt(
            self.desk.mark_batch_paid, batch_id, bank_reference=reference, by="op", now=self.now
        )
        assert self.desk.get_batch(batch_id).status is BatchStatus.PAID
        before = self.log_size()
        again = f"{reference}-2" if other_reference else reference
        result = self.attempt(
            self.desk.mark_batch_paid, batch_id, bank_reference=again, by="op", now=self.now
        )
        assert isinstance(result, DomainError) == other_reference
        assert self.log_size() == before

    # Invariants ---------------------------------------------------------------------------

    @invariant()
    def the_books_balance_and_no_teacher_balance_is_negative(self) -> None:
        if not hasattr(self, "desk"):
            return
        books = accounts.fold(self.events())
        assert sum(books.values()) == 0
        for name, cents in books.items():
            if accounts.account_kind(name) in ("teacher_available", "teacher_held"):
                assert cents >= 0, (name, cents)
        paid = sum(
            b.total_cents
            for b in map(self.desk.get_batch, self.batches)
            if b.status is BatchStatus.PAID
        )
        assert books.get(accounts.bank(self.vendor), 0) == paid

    @invariant()
    def the_vendor_is_paid_once_and_never_more_than_it_kept(self) -> None:
        if not hasattr(self, "desk"):
            return
        books = accounts.fold(self.events())
        kept = 0  # captured less refunded, over every hold at the vendor
        for teacher, hold_id, _ in self.placed:
            hold = self.vouchers.get_account(self.account_id(teacher)).holds[hold_id]
            kept += hold.captured_cents - hold.refunded_cents
        # A refund after payment is owed back by a debit note until a later batch deducts it.
        notes = self.desk.debit_notes(self.vendor)
        owed_back = 0 if notes is None else notes.open_cents
        owed_back += sum(
            b.debited_cents
            for b in map(self.desk.get_batch, self.batches)
            if b.status is BatchStatus.CREATED
        )
        assert books.get(accounts.bank(self.vendor), 0) - owed_back <= kept
        paid_lines = [
            hold_id
            for c in map(self.desk.get_claim, self.claims)
            if c.status is ClaimStatus.PAID
            for hold_id, line in c.lines.items()
            if line.status in (LineStatus.APPROVED, LineStatus.OVERTURNED)
        ]
        assert len(paid_lines) == len(set(paid_lines)), "a redemption was paid twice"

    @invariant()
    def the_payable_account_is_what_claims_owe_less_open_debit_notes(self) -> None:
        if not hasattr(self, "desk"):
            return
        books = accounts.fold(self.events())
        notes = self.desk.debit_notes(self.vendor)
        open_cents = 0 if notes is None else notes.open_cents
        deducted = [] if notes is None else [n for n in notes.notes.values() if n.batch_id]
        batches = list(map(self.desk.get_batch, self.batches))
        in_batches = [note for b in batches for note, _, _ in b.debits]
        assert sorted(in_batches) == sorted(n.note_id for n in deducted), "a note twice"
        owed = sum(
            c.payable_cents
            for c in map(self.desk.get_claim, self.claims)
            if c.status is not ClaimStatus.SUBMITTED and c.status is not ClaimStatus.PAID
        )
        # Unpaid batches have deducted their notes already; the payment will settle them.
        unpaid_debits = sum(b.debited_cents for b in batches if b.status is BatchStatus.CREATED)
        payable = books.get(accounts.vendor_payable(self.vendor), 0)
        under_review = sum(
            line.captured_cents
            for c in map(self.desk.get_claim, self.claims)
            if c.status is ClaimStatus.SUBMITTED
            for line in c.lines.values()
            if line.status is not LineStatus.RETURNED
        )
        unclaimed = 0
        for teacher, hold_id, _ in self.placed:
            hold = self.vouchers.get_account(self.account_id(teacher)).holds[hold_id]
            marker = self.desk.redemption_claim(hold_id)
            if marker is None or marker.is_released:
                unclaimed += hold.captured_cents - hold.refunded_cents
        assert payable == unclaimed + under_review + owed - open_cents - unpaid_debits, (
            payable,
            unclaimed,
            under_review,
            owed,
            open_cents,
            unpaid_debits,
        )

    @invariant()
    def each_hold_is_in_at_most_one_open_claim(self) -> None:
        if not hasattr(self, "desk"):
            return
        holds = {h for c in self.claims for h in self.desk.get_claim(c).lines}
        for hold_id in holds:
            open_in = self.open_lines(hold_id)
            assert len(open_in) <= 1, (hold_id, open_in)
            marker = self.desk.redemption_claim(hold_id)
            assert marker is not None
            if open_in:
                assert marker.claim_id == open_in[0] and not marker.is_released
            else:
                assert marker.is_released and not marker.is_closed

    @invariant()
    def money_is_conserved_on_each_account(self) -> None:
        if not hasattr(self, "desk"):
            return
        for teacher in GRANTED:
            v = self.vouchers.account_view(self.campaign, teacher)
            assert min(v.available_cents, v.held_cents, v.captured_cents) >= 0
            assert v.granted_cents + v.topped_up_cents == (
                v.available_cents + v.held_cents + v.captured_cents + v.returned_cents
            )


# Known bugs, each reproduced in a few commands ------------------------------------------


@pytest.fixture
def chain(sqlite_url: str):  # type: ignore[no-untyped-def]
    """The machine's world, driven by hand: t0 captures 3000 and t1 1990 at the vendor."""
    machine = type("Machine", (ChainMachine,), {"store_factory": staticmethod(lambda: sqlite_url)})
    world = machine.__new__(machine)
    world.open_books()
    world.captured = []
    for teacher, resource in (("t0", 1), ("t1", 0)):
        receipt = world.place(teacher, world.fresh_key("r"), resource)
        world.capture((teacher, receipt.hold_id, receipt.amount_cents), 4)
        world.captured.append(world.vouchers.redemption(world.account_id(teacher), receipt.hold_id))
    yield world
    world.teardown()


def test_a_cancelled_line_refunded_after_its_claim_gives_back_what_is_left(chain) -> None:
    """t0's line claimed 3000, then the vendor refunded 1000: cancelling the line gives back
    the 2000 left, and the claim is approved for t1's line."""
    claim = chain.desk.submit_claim(chain.vendor, "c1", chain.captured, by="v", now=chain.now)
    t0_hold = chain.captured[0].hold_id
    chain.vouchers.execute(helpers.refund(chain.campaign, "t0", "f1", t0_hold, 1000, chain.now))
    rejection = (t0_hold, "non livré", CANCEL)
    chain.desk.reject_lines(claim, key="j1", rejections=[rejection], by="op", now=chain.now)
    later = chain.now + timedelta(days=DISPUTE_WINDOW_DAYS + 1)
    chain.desk.approve_claim(claim, by="operator", now=later)
    assert chain.desk.get_claim(claim).status is ClaimStatus.APPROVED
    assert chain.vouchers.account_view(chain.campaign, "t0").captured_cents == 0


def test_a_claim_cancelled_in_full_gives_the_teacher_the_credit_back(chain) -> None:
    """A claim whose every line is cancelled is approved all the same, paying nothing: its
    approval gives t0 the 3000 back."""
    lines = chain.captured[:1]
    claim = chain.desk.submit_claim(chain.vendor, "c1", lines, by="v", now=chain.now)
    rejection = (lines[0].hold_id, "non livré", CANCEL)
    chain.desk.reject_lines(claim, key="j1", rejections=[rejection], by="op", now=chain.now)
    later = chain.now + timedelta(days=DISPUTE_WINDOW_DAYS + 1)
    chain.desk.approve_claim(claim, by="operator", now=later)
    assert chain.desk.get_claim(claim).payable_cents == 0
    view = chain.vouchers.account_view(chain.campaign, "t0")
    assert (view.captured_cents, view.available_cents) == (0, helpers.FACE_VALUE_CENTS)


def test_the_chain_holds_under_random_commands_on_sqlite(tmp_path_factory) -> None:
    run_on_sqlite(ChainMachine, tmp_path_factory, steps=30)


@pytest.mark.postgres
def test_the_chain_holds_under_random_commands_on_postgresql(pg_template: str) -> None:
    run_on_postgresql(ChainMachine, pg_template, steps=30, share=0.4)
