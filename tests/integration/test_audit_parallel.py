"""The audit pass on two processes (`ledger.audit_parallel`) against one process and the
production path, on each store.

The pass cuts the log at a multiple of 2**block_height events; the production size is
2**16, so these logs of a few hundred events are cut with small blocks (the code is the
same). Every check asks the trace whether the second process really ran: a pass that fell
back to one process would agree trivially.
"""

from __future__ import annotations

import multiprocessing
import os
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text

from ledger import accounts, checkpoints
from ledger.audit_log import last_notification_id, log_checkpoint, log_frontier, notifications
from ledger.audit_parallel import AuditResult, audit_checkpoint, audit_pass
from ledger.settings import Settings
from ledger.vouchers import VoucherLedger
from tests import helpers

TEACHERS = 240
HOLDS = 60  # the first teachers place holds after every grant: their accounts span the cut


def record_year(app: VoucherLedger, key: str = "audit", first: int = 0) -> None:
    """A campaign, its grants, then holds captured or released on the first teachers."""
    campaign = helpers.open_campaign(app, key=key, teachers=TEACHERS)
    names = tuple(f"{key}-t{first + n}" for n in range(TEACHERS))
    app.grant_credits(
        campaign, names, grant_key=f"{key}-grants", by="op", now=helpers.START,
        territories=helpers.in_paris(names),
    )  # fmt: skip
    for n, teacher in enumerate(names[:HOLDS]):
        hold = app.execute(helpers.place(campaign, teacher, f"{key}-h{n}", 1000 + n)).hold_id
        if n % 3:
            app.execute(helpers.capture(campaign, teacher, f"{key}-c{n}", hold, 600 + n))
        else:
            app.execute(helpers.release(campaign, teacher, f"{key}-r{n}", hold))


def reference(app: VoucherLedger, stop: int) -> AuditResult:
    """The production path: the library's notifications, the mapper, `accounts.fold`."""
    events = [app.mapper.to_domain_event(n) for n in notifications(app.recorder, stop)]
    frontier = log_frontier(app.recorder, stop)
    commitment = checkpoints.balances_commitment(accounts.fold(events))
    return AuditResult(frontier.size, frontier.root(), commitment)


def on_two(app: VoucherLedger, stop: int, block_height: int, page_size: int = 10_000):
    heard: list[str] = []
    result = audit_pass(
        app.recorder, app.mapper, stop, block_height=block_height, trace=heard.append,
        page_size=page_size,
    )  # fmt: skip
    return result, heard


@pytest.fixture
def ledger_app(store_settings: Settings):
    app = VoucherLedger(store_settings)
    yield app
    app.close()


def test_two_processes_give_the_tree_and_balances_of_one_and_of_the_reference(ledger_app):
    app = ledger_app
    record_year(app)
    head = last_notification_id(app.recorder)
    assert head > 300
    for stop, height, page in ((head, 3, 10_000), (head, 5, 7), (head - 11, 4, 64), (201, 2, 5)):
        expected = reference(app, stop)
        result, heard = on_two(app, stop, height, page)
        assert any("second half" in line for line in heard), heard  # two processes ran
        assert result == expected and result.processes == 2
        assert audit_pass(app.recorder, app.mapper, stop, processes=1) == expected
    # The checkpoint reports carry: the production path's, field for field.
    moment = datetime(2028, 1, 1, tzinfo=UTC)
    for processes in (1, 2):
        found = audit_checkpoint(app.recorder, app.mapper, head, moment, processes=processes)
        assert found == log_checkpoint(app.recorder, app.mapper, head, moment)
    # Too short a log for the blocks asked: one process, the same answer, nothing forked.
    result, heard = on_two(app, 40, 4)
    assert heard == [] and result == reference(app, 40) and result.processes == 1
    assert multiprocessing.active_children() == []


def burn_ids(url: str, count: int) -> None:
    """Leave `count` ids unused, as rolled-back transactions do: PostgreSQL's sequence has
    gaps (SQLite numbers each row one past the last, so its ids never skip)."""
    with create_engine(Settings(database_url=url).store.sqlalchemy_url()).begin() as conn:
        sequence = conn.execute(
            text("SELECT pg_get_serial_sequence('ledger_events', 'notification_id')")
        ).scalar_one()
        burn = text("SELECT nextval(:s) FROM generate_series(1, :n)")
        conn.execute(burn, {"s": sequence, "n": count})


@pytest.mark.postgres
def test_ids_left_unused_do_not_shift_the_cut(pg_url):
    """The cut is counted in events, not ids: gaps before and after it change nothing."""
    app = VoucherLedger(Settings(database_url=pg_url))
    try:
        record_year(app, key="before")
        burn_ids(pg_url, 37)
        record_year(app, key="after", first=TEACHERS)
        head = last_notification_id(app.recorder)
        for height in (3, 6):
            result, heard = on_two(app, head, height)
            assert any("second half" in line for line in heard), heard
            assert result == reference(app, head)
        assert reference(app, head).size == head - 37  # the gap is there
    finally:
        app.close()


def test_an_event_the_mapper_cannot_decode_in_the_second_half_fails_the_pass(
    ledger_app, store_settings
):
    app = ledger_app
    record_year(app)
    head = last_notification_id(app.recorder)
    corrupt_last_state(store_settings, head)
    with pytest.raises(Exception) as on_one:
        audit_pass(app.recorder, app.mapper, head, processes=1)
    with pytest.raises(type(on_one.value)):
        on_two(app, head, 3)
    assert multiprocessing.active_children() == []


def corrupt_last_state(settings: Settings, position: int) -> None:
    """Overwrite the state of the event at `position` with bytes msgpack cannot read."""
    url = settings.store.sqlalchemy_url()
    if url.startswith("sqlite"):
        statement = "UPDATE ledger_events SET state = :s WHERE rowid = :p"
    else:
        statement = "UPDATE ledger_events SET state = :s WHERE notification_id = :p"
    with create_engine(url).begin() as conn:
        assert conn.execute(text(statement), {"s": b"\xc1", "p": position}).rowcount == 1


def test_a_second_process_that_dies_fails_the_pass_and_names_its_exit(ledger_app, monkeypatch):
    app = ledger_app
    record_year(app)
    head = last_notification_id(app.recorder)
    monkeypatch.setattr("ledger.audit_parallel._second_half", lambda *_: os._exit(3))
    with pytest.raises(RuntimeError, match="exit code 3"):
        on_two(app, head, 3)
    assert multiprocessing.active_children() == []


def test_an_in_memory_store_is_audited_in_one_process(memory_settings):
    app = VoucherLedger(memory_settings)
    try:
        record_year(app)
        head = last_notification_id(app.recorder)
        result, heard = on_two(app, head, 2)
        assert heard == [] and result == reference(app, head)
        with pytest.raises(ValueError, match="1 or 2 processes"):
            audit_pass(app.recorder, app.mapper, head, processes=3)
    finally:
        app.close()


def test_the_trace_tells_how_far_the_folding_got(ledger_app, monkeypatch):
    app = ledger_app
    record_year(app)
    head = last_notification_id(app.recorder)
    monkeypatch.setattr("ledger.audit_parallel.PROGRESS_EVERY", 50)
    _, heard = on_two(app, head, 3, page_size=20)
    progress = [line for line in heard if "of the first half's" in line]
    assert progress and progress[0].startswith("60 of the first half's")  # 3 pages of 20
    heard.clear()
    audit_pass(app.recorder, app.mapper, head, processes=1, page_size=20, trace=heard.append)
    assert heard and all(line.endswith(" events folded") for line in heard)
