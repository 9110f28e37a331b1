"""The lean audit pass (`ledger.audit_replay`) against the production path, on each store.

Over the demo's school year (grants, top-ups, holds captured, released and expired,
refunds, claims paid in batches, debit notes, year-end expiry, the device banks and the
internet fund), the lean pass must give the tree of `ledger.audit_log.log_frontier` and
exactly the balances of `ledger.accounts.fold` over the mapper's domain events, zero
balances included; and it must refuse what the mapper refuses.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import msgpack
import pytest

from api.bootstrap import build_services
from api.demo import DemoPlan, run_demo
from ledger import accounts, checkpoints
from ledger.application import LedgerApplication
from ledger.audit_log import last_notification_id, log_frontier, notifications
from ledger.audit_replay import AuditReplay, audit_log, stored_rows
from ledger.commitment import balances_commitment
from ledger.settings import Settings
from ledger.transcoding import EXT_UTC_DATETIME, EXT_UUID


@pytest.fixture
def demo_app(store_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)  # the demo writes its payment files where it runs
    services = build_services(store_settings)
    try:
        plan = DemoPlan(teachers=60, seed=5, campaign_key="audit", show_progress=False)
        run_demo(services, plan, io.StringIO())
    finally:
        services.close()
    app = LedgerApplication(store_settings)
    yield app
    app.close()


def test_the_lean_pass_gives_the_reference_tree_and_balances(demo_app: LedgerApplication):
    """One demo run per store (the longest part), then every check over its log."""
    recorder, mapper = demo_app.recorder, demo_app.mapper
    stop = last_notification_id(recorder)
    events = [mapper.to_domain_event(n) for n in notifications(recorder, stop)]
    kinds = {type(e) for e in events}
    # The log moves money in most of the ways the ledger knows.
    assert len(kinds & set(accounts.MONEY_EVENT_TYPES)) >= 15, kinds
    expected = accounts.fold(events)
    assert sum(expected.values()) == 0
    reference = log_frontier(recorder, stop)
    for page_size in (1, 97, 10_000):  # pages that split the log anywhere, and one page
        replay = audit_log(recorder, mapper, stop, page_size)
        assert replay.size == len(events) == reference.size
        assert replay.root() == reference.root()
        assert replay.balances == expected  # the same accounts, zero balances included
    assert balances_commitment(replay.balances, chunk=7) == checkpoints.balances_commitment(
        expected
    )

    # One event at a time, as an export's verifier would replay its lines.
    one_by_one = AuditReplay(mapper)
    for rows, ids in stored_rows(recorder, stop, 500):
        for i, (_, _, _, topic, state) in enumerate(rows):
            one_by_one.replay(topic, ids[16 * i : 16 * i + 16], state)
    assert one_by_one.balances == expected
    assert one_by_one.size == 0  # replay alone hashes nothing

    # A stop short of the end covers the events up to it.
    half = stop // 2
    replay = audit_log(recorder, mapper, half, page_size=33)
    assert replay.root() == log_frontier(recorder, half).root()
    firsts = [mapper.to_domain_event(n) for n in notifications(recorder, half)]
    assert replay.balances == accounts.fold(firsts)


# What the mapper refuses, the lean decoding refuses ----------------------------------------


def _state(value: object) -> bytes:
    return msgpack.packb({"amount_cents": 1, "when": value}, use_bin_type=True)


@pytest.mark.parametrize(
    "field",
    [
        msgpack.ExtType(EXT_UUID, b"\x01" * 15),  # a UUID of 15 bytes
        msgpack.ExtType(EXT_UTC_DATETIME, b"\x00" * 7),  # a datetime of 7 bytes
        msgpack.ExtType(EXT_UTC_DATETIME, b"\x00" * 9),  # ... and of 9
        msgpack.ExtType(EXT_UTC_DATETIME, (2**62).to_bytes(8, "big")),  # beyond year 9999
        msgpack.ExtType(EXT_UTC_DATETIME, (-(2**62)).to_bytes(8, "big", signed=True)),
        msgpack.ExtType(42, b"?"),  # an unknown extension
    ],
)
def test_the_lean_decoding_refuses_what_the_mapper_refuses(field: msgpack.ExtType):
    app = LedgerApplication(Settings(database_url="memory://"))
    try:
        state = _state(field)
        with pytest.raises(Exception):  # noqa: B017 - whatever the mapper raised
            app.mapper.transcoder.decode(state)
        rows = [(1, uuid4().bytes, 1, "ledger.credits:CreditAccount.HoldPlaced", state)]
        with pytest.raises(Exception):  # noqa: B017
            AuditReplay(app.mapper).feed(rows)
    finally:
        app.close()


def test_the_lean_decoding_accepts_the_extremes_the_mapper_accepts():
    app = LedgerApplication(Settings(database_url="memory://"))
    try:
        for moment in (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)):
            state = app.mapper.transcoder.encode({"amount_cents": 0, "when": moment})
            app.mapper.transcoder.decode(state)
            rows = [(1, uuid4().bytes, 1, "ledger.credits:CreditAccount.HoldPlaced", state)]
            AuditReplay(app.mapper).feed(rows)
    finally:
        app.close()
