"""Every read model as of any log position or moment, and the rebuild, on each store.

One log holds the vendor chain of `test_read_models` and the device banks and internet fund
of `test_fund_read_models`, so that every projection has events to fold. The key property:
a replay up to position p equals, table by table, the live read models caught up to p only.
"""

from __future__ import annotations

import argparse
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from api.rebuild_cli import cmd_rebuild, compare, rebuild_and_compare
from ledger.errors import InvalidInput
from ledger.settings import Settings
from projections.as_of import PastReadModels, Timeline, events_applied
from projections.engine import create_scratch_engine, scratch_image
from projections.registry import all_projections
from projections.replay import replay
from projections.runner import ProjectionRunner
from projections.schema import balances, device_stage_stays
from tests.integration import test_fund_read_models as fund_world
from tests.integration import test_read_models as chain_world


class Log:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.chain, self.fund = chain_world.World(settings), fund_world.World(settings)
        self.app, self.live = self.chain.vouchers, self.chain.engine

    def close(self) -> None:
        self.chain.close()
        self.fund.close()

    @property
    def head(self) -> int:
        return self.app.recorder.max_notification_id()

    def catch_up(self, stop: int | None = None) -> None:
        for projection in all_projections():
            ProjectionRunner(self.app, self.live, projection, page_size=7).catch_up(stop=stop)

    def stamps(self) -> list[tuple[int, object]]:
        page = self.app.recorder.select_notifications(0, 10_000, inclusive_of_start=False)
        return [(n.id, self.app.mapper.to_domain_event(n).timestamp) for n in page]


@pytest.fixture
def log(store_settings: Settings):
    log = Log(store_settings)
    try:
        chain_world.build(log.chain)
        fund_world.build(log.fund)
        yield log
    finally:
        log.close()


def differences(live, rebuilt) -> dict[str, int]:
    with live.connect() as conn:
        found = compare(conn, rebuilt, all_projections())
    return {table.table: table.count for table in found if table.count}


def test_a_replay_up_to_a_position_equals_the_live_read_models_caught_up_to_it(log):
    head = log.head
    assert head > 100
    positions = [0, 1, head // 5, head // 2, head - 3, head]
    for position in positions:
        log.catch_up(stop=position)
        assert differences(log.live, replay(log.app, position)) == {}, position
    with log.live.connect() as conn:  # every projection had rows to compare at the head
        assert all(conn.execute(select(t)).first() for p in all_projections() for t in p.tables)


def test_the_kept_snapshots_give_the_cold_replay_and_start_from_the_nearest(log):
    head = log.head
    every = head // 3
    past = PastReadModels(log.app, snapshot_every=every, max_replays=2)
    with past.read(head) as engine:
        assert differences(engine, replay(log.app, head)) == {}
    assert past.last_fold.start == 0 and past.snapshot_positions() == [every, 2 * every, 3 * every]

    asked = 2 * every + 5
    with past.read(asked) as engine:
        assert differences(engine, replay(log.app, asked)) == {}
    cold_from, cold_to = replay(log.app, 2 * every), replay(log.app, asked)
    assert past.last_fold.start == 2 * every
    assert past.last_fold.events_applied == events_applied(cold_to) - events_applied(cold_from)
    assert 0 < past.last_fold.events_applied < events_applied(cold_to)

    fold = past.last_fold
    with past.read(asked):  # kept whole: nothing folded again
        assert past.last_fold is fold
    with past.read(asked + 1) as engine:  # the kept replay at `asked` is nearer
        assert past.last_fold.start == asked
        assert differences(engine, replay(log.app, asked + 1)) == {}
    with past.read(every - 1):
        assert past.last_fold.start == 0


def test_snapshots_stay_within_their_budget(log):
    one = len(scratch_image(replay(log.app, log.head)))
    past = PastReadModels(log.app, snapshot_every=10, max_snapshot_bytes=2 * one)
    with past.read(log.head):
        pass
    assert 0 < len(past.snapshot_positions()) <= 2 and past.snapshot_bytes() <= 2 * one


def test_a_moment_is_the_position_before_the_first_event_stamped_after_it(log):
    stamps = log.stamps()
    head = stamps[-1][0]

    def expected(moment) -> int:
        before = 0
        for position, stamp in stamps:
            if stamp > moment:
                return before
            before = position
        return head

    timeline = Timeline(log.app, page_size=7)
    moments = sorted({stamp for _, stamp in stamps})
    for moment in [moments[0] - timedelta(days=1), *moments, moments[-1] + timedelta(days=1)]:
        for shift in (timedelta(0), timedelta(microseconds=-1)):
            assert timeline.position_at(moment + shift, head) == expected(moment + shift)
    latest = None
    for position, stamp in stamps[:40]:
        latest = stamp if latest is None else max(latest, stamp)
        assert timeline.moment_of(position) == latest
    assert timeline.moment_of(0) is None

    past = PastReadModels(log.app)
    assert past.resolve(at=moments[1]) == (expected(moments[1]), moments[1])
    assert past.resolve(position=head)[0] == head
    with pytest.raises(InvalidInput):
        past.resolve(position=head + 1)


def test_the_rebuild_finds_no_difference_then_reports_a_planted_one(log, capsys, tmp_path):
    log.catch_up()
    position, found = rebuild_and_compare(log.app, log.live, create_scratch_engine())
    assert position == log.head and sum(t.count for t in found) == 0
    into = f"sqlite:///{tmp_path / 'rebuilt.db'}"
    assert cmd_rebuild(log.settings, argparse.Namespace(into=into, quiet=True)) == 0
    assert "0 differences." in capsys.readouterr().out
    with pytest.raises(InvalidInput):  # not over a database that holds something
        cmd_rebuild(log.settings, argparse.Namespace(into=into, quiet=True))

    with log.live.begin() as conn:
        conn.execute(update(balances).values(balance_cents=balances.c.balance_cents + 1))
        conn.execute(device_stage_stays.delete().where(device_stage_stays.c.stage == "received"))
    assert cmd_rebuild(log.settings, argparse.Namespace(into=None, quiet=True)) == 1
    out = capsys.readouterr().out
    assert "balances: 0 missing, 0 extra, " in out and "device_stage_stays: " in out
    assert "    changed  {'balance_cents'" in out and "    missing  {" in out
    assert out.rstrip().endswith("differences.") and "\n0 differences." not in out


def test_the_rebuild_compares_where_the_live_read_models_went_past_the_head(log, monkeypatch):
    """Another projector moved the live read models past the head the rebuild read."""
    log.catch_up()
    head, recorder = log.head, log.app.recorder
    monkeypatch.setattr(recorder, "max_notification_id", lambda: head // 2)
    position, found = rebuild_and_compare(log.app, log.live, create_scratch_engine())
    assert head // 2 < position <= head and sum(t.count for t in found) == 0
