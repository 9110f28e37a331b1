"""The books under random commands, valid and invalid, on each store.

Hypothesis drives a campaign and its teachers' accounts through grants, top-ups, holds,
captures, releases, refunds, retries, the passing of time and the year-end expiry. Commands
go through the group committer, as in production. After every step:

- nothing is negative, and money is conserved on every account:
  granted + topped up = available + held + captured + returned;
- a refused command changed nothing (same log size, same account versions);
- a retried command answered as the first time and recorded nothing;
- every hold ended at most once;
- replaying each account from the store gives the live (cached) state;
- the balances projection equals a fold of the log, and the trial balance is zero.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    rule,
)

from ledger import accounts
from ledger.batching import GroupCommitter
from ledger.commands import AccountCommand, HoldReceipt
from ledger.credits import CreditAccount, HoldStatus
from ledger.errors import DomainError
from ledger.ids import credit_account_id
from ledger.settings import Settings
from ledger.vouchers import VoucherLedger
from projections.balances import Balances, BalancesProjection
from projections.engine import create_read_engine
from projections.runner import ProjectionRunner
from tests import helpers
from tests.stateful import run_on_postgresql, run_on_sqlite

TEACHERS = ("t0", "t1", "t2", "t3")
AMOUNTS = st.integers(min_value=-1, max_value=4000)  # 0 and -1 are refused
TEACHER = st.one_of(st.sampled_from(TEACHERS[:2]), st.sampled_from(TEACHERS))
# A share of a hold's amount, in quarters: 0 and 5 are refused (nothing, or too much).
PARTS = st.sampled_from([4, 4, 3, 2, 1, 0, 5])
Hold = tuple[str, UUID, int]
KEYS = st.sampled_from([f"k{n}" for n in range(6)])


class LedgerMachine(RuleBasedStateMachine):
    store_factory = None  # set per store below

    holds = Bundle("holds")

    @initialize()
    def open_books(self) -> None:
        url = type(self).store_factory()
        self.settings = Settings(database_url=url, grant_chunk_size=3, batch_max_commands=8)
        self.app = VoucherLedger(self.settings)
        self.committer = GroupCommitter(self.app)
        self.engine = create_read_engine(self.settings)
        self.runner = ProjectionRunner(self.app, self.engine, BalancesProjection(), page_size=7)
        self.campaign_id = helpers.open_campaign(self.app, teachers=3)
        self.now = helpers.START
        self.app.grant_credits(
            self.campaign_id,
            TEACHERS[:2],
            grant_key="first",
            by="operator",
            now=self.now,
            territories=helpers.in_paris(TEACHERS[:2]),
        )
        self.answers: dict[tuple[str, str, str], object] = {}

    def teardown(self) -> None:
        if hasattr(self, "committer"):
            self.committer.close()
            self.app.close()
            self.engine.dispose()

    # Helpers ------------------------------------------------------------------------------

    def log_size(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def run(self, command: AccountCommand) -> object | DomainError:
        """Run through group commit; a refusal must leave the log as it was."""
        before = self.log_size()
        try:
            receipt = self.committer.execute(command)
        except DomainError as error:
            assert self.log_size() == before, f"{error.code} changed the log"
            return error
        key = (type(command).__name__, command.teacher_id, getattr(command, "key", ""))
        if key in self.answers and command.digest == self.answers[key][0].digest:
            assert receipt == self.answers[key][1], "a retry answered differently"
            assert self.log_size() == before, "a retry recorded something"
        self.answers.setdefault(key, (command, receipt))
        return receipt

    # Rules --------------------------------------------------------------------------------

    @rule(teachers=st.lists(st.sampled_from(TEACHERS), max_size=4), key=KEYS)
    def grant(self, teachers: list[str], key: str) -> None:
        before = self.log_size()
        try:
            self.app.grant_credits(
                self.campaign_id,
                teachers,
                grant_key=key,
                by="operator",
                now=self.now,
                territories=helpers.in_paris(teachers),
            )
        except DomainError:
            assert self.log_size() == before

    @rule(teacher=TEACHER, key=KEYS, amount=AMOUNTS)
    def top_up(self, teacher: str, key: str, amount: int) -> None:
        self.run(helpers.top_up(self.campaign_id, teacher, key, amount, now=self.now))

    @rule(
        target=holds,
        teacher=TEACHER,
        key=KEYS,
        amount=AMOUNTS,
        ttl=st.sampled_from([60, 600, 3600]),
    )
    def place_hold(self, teacher: str, key: str, amount: int, ttl: int):
        result = self.run(helpers.place(self.campaign_id, teacher, key, amount, self.now, ttl))
        if isinstance(result, HoldReceipt):
            return (teacher, result.hold_id, result.amount_cents)
        return multiple()

    @rule(target=holds, teacher=TEACHER, key=KEYS, amount=st.integers(1, 3000), part=PARTS)
    def order_and_capture(self, teacher: str, key: str, amount: int, part: int):
        """The common path in one step: a hold, then its capture by the vendor."""
        result = self.run(helpers.place(self.campaign_id, teacher, f"o{key}", amount, self.now))
        if not isinstance(result, HoldReceipt):
            return multiple()
        self.run(
            helpers.capture(
                self.campaign_id,
                teacher,
                f"o{key}",
                result.hold_id,
                result.amount_cents * part // 4,
                self.now,
            )
        )
        return (teacher, result.hold_id, result.amount_cents)

    @rule(hold=holds, key=KEYS, part=PARTS)
    def capture(self, hold: Hold, key: str, part: int) -> None:
        teacher, hold_id, amount = hold
        self.run(
            helpers.capture(self.campaign_id, teacher, key, hold_id, amount * part // 4, self.now)
        )

    @rule(hold=holds, key=KEYS)
    def release(self, hold: Hold, key: str) -> None:
        teacher, hold_id, _ = hold
        self.run(helpers.release(self.campaign_id, teacher, key, hold_id, self.now))

    @rule(hold=holds, key=KEYS, part=PARTS)
    def refund(self, hold: Hold, key: str, part: int) -> None:
        teacher, hold_id, amount = hold
        self.run(
            helpers.refund(self.campaign_id, teacher, key, hold_id, amount * part // 8, self.now)
        )

    @rule(hold=consumes(holds))
    def forget_hold(self, hold: Hold) -> None:
        """Keeps the bundle small; the hold stays in the books."""

    @rule(seconds=st.sampled_from([30, 30, 30, 700, 4000, 100 * 24 * 3600]))
    def pass_time(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @rule()
    def year_end(self) -> None:
        before = self.log_size()
        try:
            self.app.run_year_end_expiry(self.campaign_id, by="operator", now=self.now)
        except DomainError:
            assert self.log_size() == before
        # The year-end path writes around the committer: its cache must start afresh.
        self.committer.cache.clear()

    # Invariants ---------------------------------------------------------------------------

    def live_accounts(self) -> list[CreditAccount]:
        ids = [credit_account_id(self.campaign_id, t) for t in TEACHERS]
        self.app.load_into(self.committer.cache, ids)
        return [self.committer.cache[i] for i in ids if i in self.committer.cache]

    @invariant()
    def money_is_conserved_and_nothing_is_negative(self) -> None:
        if not hasattr(self, "app"):
            return
        for a in self.live_accounts():
            assert min(a.available_cents, a.held_cents, a.captured_cents) >= 0
            assert a.held_cents == sum(
                h.amount_cents for h in a.holds.values() if h.status is HoldStatus.PENDING
            )
            assert a.granted_cents + a.topped_up_cents == (
                a.available_cents + a.held_cents + a.captured_cents + a.returned_cents
            )

    @invariant()
    def replay_equals_live_state(self) -> None:
        if not hasattr(self, "app"):
            return
        for live in self.live_accounts():
            replayed = self.app.get_account(live.id)
            assert vars(replayed) == vars(live)

    @invariant()
    def every_hold_ends_at_most_once_and_projection_equals_fold(self) -> None:
        if not hasattr(self, "app"):
            return
        events = [
            self.app.mapper.to_domain_event(n)
            for n in self.app.recorder.select_notifications(start=None, limit=100_000)
        ]
        endings = [
            e.hold_id
            for e in events
            if isinstance(
                e,
                (CreditAccount.HoldCaptured, CreditAccount.HoldReleased, CreditAccount.HoldExpired),
            )
        ]
        assert len(endings) == len(set(endings))
        self.runner.catch_up()
        folded = {k: v for k, v in accounts.fold(events).items() if v}
        balances = Balances(self.engine)
        assert balances.all() == folded
        assert balances.trial_balance() == 0


def test_the_books_hold_under_random_commands_on_sqlite(tmp_path_factory) -> None:
    run_on_sqlite(LedgerMachine, tmp_path_factory, steps=40)


@pytest.mark.postgres
def test_the_books_hold_under_random_commands_on_postgresql(pg_template: str) -> None:
    # Half the examples: the logic is the same on both stores, and SQLite runs them all.
    run_on_postgresql(LedgerMachine, pg_template, steps=40, share=0.4)
