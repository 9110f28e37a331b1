"""Group commit: commands queued from anywhere, applied in batches, saved one batch at a time.

To know which commands share a batch without relying on timing, a gate holds the writer
inside its first batch (one command) until the test has queued all the others.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import timedelta
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from ledger.batching import GroupCommitter
from ledger.commands import AccountCommand, ExpireHolds, Receipt
from ledger.credits import CreditAccount
from ledger.errors import DomainError
from ledger.ids import credit_account_id, derived_id
from ledger.settings import Settings
from ledger.vouchers import VoucherLedger
from tests.helpers import DURING, capture, in_paris, open_campaign, place, refund, release, top_up

TEACHERS = ("t0", "t1", "t2")
WAIT_S = 30  # a bound on waiting for the writer thread, so a bug cannot hang the suite
SECOND = timedelta(seconds=1)


class Gate:
    """Holds the writer in its first batch until opened; later batches pass straight on."""

    def __init__(self, app: VoucherLedger) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()
        self._prepare_many = app.prepare_many
        app.prepare_many = self  # the instance attribute shadows the method

    def __call__(self, commands, cache) -> object:
        self.entered.set()
        self.opened.wait(WAIT_S)
        return self._prepare_many(commands, cache)


@contextlib.contextmanager
def committer_for(app: VoucherLedger, max_batch: int = 16) -> Iterator[GroupCommitter]:
    committer = GroupCommitter(app, max_batch=max_batch)
    try:
        yield committer
    finally:
        committer.close()


def submit_in_batches(committer: GroupCommitter, commands: list[AccountCommand]) -> list:
    """Queue all commands behind a first one held at the gate; answer their outcomes."""
    gate = Gate(committer.app)
    first = committer.submit(commands[0])
    assert gate.entered.wait(WAIT_S)
    rest = [committer.submit(c) for c in commands[1:]]
    gate.opened.set()
    return [outcome(f) for f in [first, *rest]]


def outcome(future: Future[Receipt]) -> Receipt | str:
    try:
        return future.result(WAIT_S)
    except DomainError as error:
        return error.code


def ledger_with_teachers(settings: Settings) -> tuple[VoucherLedger, UUID]:
    app = VoucherLedger(settings)
    campaign = open_campaign(app)
    app.grant_credits(
        campaign,
        TEACHERS,
        grant_key="g1",
        by="operator",
        now=DURING,
        territories=in_paris(TEACHERS),
    )
    return app, campaign


def a_busy_day(campaign: UUID, count: int) -> list[AccountCommand]:
    """Purchases on three accounts: holds, their ends, refunds, top-ups, retries, mistakes."""
    rng = random.Random(20270901)
    commands: list[AccountCommand] = []
    placed: dict[str, list[str]] = {t: [] for t in TEACHERS}
    for n in range(count):
        teacher, now, key = rng.choice(TEACHERS), DURING + n * SECOND, f"k{n}"
        recent = placed[teacher][-3:] or ["never-placed"]
        hold_id = hold_of(campaign, teacher, rng.choice(recent))
        choice = rng.choice(["place", "place", "capture", "release", "refund", "top_up", "retry"])
        if choice == "place":
            placed[teacher].append(key)
            ttl_s = rng.choice([30, 1800])
            command = place(campaign, teacher, key, rng.randint(100, 4000), now, ttl_s=ttl_s)
        elif choice == "capture":
            command = capture(campaign, teacher, key, hold_id, rng.randint(100, 2500), now)
        elif choice == "release":
            command = release(campaign, teacher, key, hold_id, now)
        elif choice == "refund":
            command = refund(campaign, teacher, key, hold_id, rng.randint(50, 500), now)
        elif choice == "top_up":
            command = top_up(campaign, teacher, key, rng.randint(100, 3000), now=now)
        else:
            command = rng.choice(commands) if commands else top_up(campaign, teacher, key, 1)
        commands.append(command)
    later = DURING + count * SECOND
    sweep = [
        ExpireHolds(campaign_id=campaign, teacher_id=t, by="sweeper", now=later) for t in TEACHERS
    ]
    return commands + sweep


def hold_of(campaign: UUID, teacher: str, key: str) -> UUID:
    return derived_id(credit_account_id(campaign, teacher), "place_hold", key)


def test_a_batch_of_commands_ends_as_if_they_were_executed_one_by_one(memory_settings):
    alone, campaign = ledger_with_teachers(memory_settings)
    batched, _ = ledger_with_teachers(memory_settings)
    commands = a_busy_day(campaign, 300)

    expected = []
    for command in commands:
        try:
            expected.append(alone.execute(command))
        except DomainError as error:
            expected.append(error.code)
    with committer_for(batched, max_batch=16) as committer:
        outcomes = submit_in_batches(committer, commands)

    assert outcomes == expected
    assert committer.batches == 1 + -(-(len(commands) - 1) // 16)
    assert {"insufficient_credit", "hold_already_resolved", "hold_not_captured"} < set(expected)
    for teacher in TEACHERS:
        assert batched.account_view(campaign, teacher) == alone.account_view(campaign, teacher)


def test_a_command_refused_inside_a_batch_does_not_affect_the_others(memory_settings):
    app, campaign = ledger_with_teachers(memory_settings)
    commands = [
        place(campaign, "t0", "first", 100),  # a batch of its own, held at the gate
        place(campaign, "t1", "a", 3000),
        place(campaign, "t1", "b", 9000),  # refused: 4800 left
        capture(campaign, "t1", "c", hold_of(campaign, "t1", "never-placed"), 100),  # refused
        place(campaign, "t1", "d", 4800),
        top_up(campaign, "t2", "e", 2200),
    ]
    with committer_for(app) as committer:
        outcomes = submit_in_batches(committer, commands)
    assert committer.batches == 2
    assert outcomes[2:4] == ["insufficient_credit", "hold_not_found"]
    assert all(not isinstance(o, str) for o in outcomes[:2] + outcomes[4:])
    t1 = app.account_view(campaign, "t1")
    assert (t1.available_cents, t1.held_cents, t1.version) == (0, 7800, 3)
    assert app.account_view(campaign, "t2").available_cents == 7800 + 2200


def test_closing_the_committer_finishes_what_is_queued(memory_settings):
    app, campaign = ledger_with_teachers(memory_settings)
    gate = Gate(app)
    committer = GroupCommitter(app, max_batch=2)
    futures = [committer.submit(place(campaign, "t0", "h0", 100))]
    assert gate.entered.wait(WAIT_S)
    futures += [committer.submit(place(campaign, "t0", f"h{n}", 100)) for n in range(1, 6)]
    gate.opened.set()
    committer.close()
    assert all(f.done() and not f.exception() for f in futures)
    assert app.account_view(campaign, "t0").held_cents == 600


# Another writer on the same store ------------------------------------------------------


def record_spy(app: VoucherLedger) -> list[tuple[object, ...]]:
    """Every save that the store refused for a version conflict."""
    conflicts: list[tuple[object, ...]] = []
    record_events = app.record_events

    def spying(events: list[object]) -> None:
        try:
            record_events(events)
        except IntegrityError:
            conflicts.append(tuple(events))
            raise

    app.record_events = spying
    return conflicts


def two_writers(sqlite_url: str) -> tuple[VoucherLedger, VoucherLedger, UUID]:
    settings = Settings(database_url=sqlite_url, grant_chunk_size=50)
    ours, campaign = ledger_with_teachers(settings)
    return ours, VoucherLedger(settings), campaign


def placed_keys(app: VoucherLedger, account_id: UUID) -> list[str]:
    events = app.events.get(account_id)
    return [e.key for e in events if isinstance(e, CreditAccount.HoldPlaced)]


def test_a_conflict_with_another_writer_is_detected_and_nothing_is_lost_or_repeated(
    sqlite_url,
):
    ours, theirs, campaign = two_writers(sqlite_url)
    conflicts = record_spy(ours)
    theirs_first = place(campaign, "t1", "theirs", 700)
    batch = [
        top_up(campaign, "t2", "u1", 2200),  # the first batch, alone
        theirs_first,  # a retry through us of what they recorded
        place(campaign, "t1", "mine", 300),
        top_up(campaign, "t0", "u2", 1000),
    ]
    with committer_for(ours) as committer:
        committer.execute(place(campaign, "t1", "warm", 100))  # t1 is now in our cache
        receipt = theirs.execute(theirs_first)  # and one version behind the store
        outcomes = submit_in_batches(committer, batch)

    assert len(conflicts) == 1 and committer.batches == 3
    assert outcomes[1] == receipt
    t1 = credit_account_id(campaign, "t1")
    assert placed_keys(theirs, t1) == ["warm", "theirs", "mine"]
    view = theirs.account_view(campaign, "t1")
    assert (view.held_cents, view.available_cents, view.version) == (1100, 6700, 4)
    assert theirs.account_view(campaign, "t2").topped_up_cents == 2200
    assert theirs.account_view(campaign, "t0").topped_up_cents == 1000


def test_a_hold_placed_by_another_writer_can_be_captured_through_the_committer(sqlite_url):
    ours, theirs, campaign = two_writers(sqlite_url)
    with committer_for(ours) as committer:
        committer.execute(place(campaign, "t1", "warm", 100))  # t1 is now in our cache
        hold = theirs.execute(place(campaign, "t1", "theirs", 700))
        receipt = committer.execute(capture(campaign, "t1", "c1", hold.hold_id, 700))
    assert receipt.captured_cents == 700


def test_a_forgotten_account_is_loaded_fresh_for_the_next_command(sqlite_url):
    """Another path saved the account (a refund through the claims desk): after `forget`,
    the next command reads it from the store, in one batch, without a conflict."""
    ours, theirs, campaign = two_writers(sqlite_url)
    with committer_for(ours) as committer:
        committer.execute(place(campaign, "t1", "warm", 100))
        theirs.execute(top_up(campaign, "t1", "top", 500))
        committer.forget(credit_account_id(campaign, "t1"))
        batches = committer.batches
        committer.execute(place(campaign, "t1", "after", 100))
        cached = committer.cache.peek(credit_account_id(campaign, "t1"))
        assert committer.batches == batches + 1
    assert cached is not None and cached.topped_up_cents == 500
