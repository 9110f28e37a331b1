"""Signed checkpoints the system keeps, on both stores: the store's rules, the
checkpointer's cadence (times passed in), proofs against kept checkpoints, and an export
cut at a checkpoint boundary caught by a checkpoint the auditor kept."""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, text

from api.audit_cli import export_jsonl, verify_export
from ledger.audit_log import log_checkpoint
from ledger.checkpoints import cosign, make_checkpoint, sign
from ledger.errors import (
    CheckpointAlreadyCosigned,
    CheckpointMismatch,
    CheckpointNotExtending,
    CheckpointNotFound,
    EventNotFound,
    ExportMismatch,
    InvalidCheckpointSignature,
    InvalidTreeSize,
)
from ledger.merkle import leaf_hash
from ledger.proofs import SignedCheckpoint, check_proof
from ledger.settings import Settings
from ledger.vouchers import VoucherLedger
from projections import checkpointer as checkpointer_module
from projections import log_proofs
from projections.checkpoint_store import CheckpointStore
from projections.checkpointer import Checkpointer
from projections.engine import create_read_engine
from projections.log_proofs import LogProofs
from tests import helpers

KEY = Ed25519PrivateKey.generate()
T0 = datetime(2027, 9, 1, 8, 0, tzinfo=UTC)
EVERY_EVENTS, EVERY_MINUTES = 5, 10


class Books:
    """A small log (grants of credit), its checkpoint store, and a checkpointer."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = VoucherLedger(settings)
        self.engine = create_read_engine(settings)
        self.store = CheckpointStore(self.engine)
        self.campaign = None
        self.teachers = 0

    def record(self, events: int) -> None:
        """`events` new events: the campaign first, then grants (1 + one per teacher)."""
        if self.campaign is None:
            self.campaign = helpers.open_campaign(self.app)
            events -= 1
        while events > 0:
            size = max(events - 1, 1)
            names = tuple(f"t{self.teachers + n}" for n in range(size))
            self.teachers += size
            self.app.grant_credits(
                self.campaign, names, grant_key=names[0], by="op", now=helpers.START,
                territories=helpers.in_paris(names),
            )  # fmt: skip
            events -= size + 1

    def checkpointer(self) -> Checkpointer:
        return Checkpointer(self.app, self.store, KEY, self.settings)

    def close(self) -> None:
        self.app.close()
        self.engine.dispose()


@pytest.fixture
def books(store_settings: Settings):
    settings = dataclasses.replace(
        store_settings,
        checkpoint_every_events=EVERY_EVENTS,
        checkpoint_every_minutes=EVERY_MINUTES,
    )
    books = Books(settings)
    yield books
    books.close()


def signed(size: int, position: int, root: bytes | None = None, key=KEY) -> SignedCheckpoint:
    checkpoint = make_checkpoint(size, root or leaf_hash(b"%d" % size), {}, T0)
    return SignedCheckpoint(checkpoint, position, sign(checkpoint, key))


# The store ------------------------------------------------------------------------------


def test_the_store_keeps_checkpoints_that_extend_the_latest_and_refuses_the_others(books):
    store = books.store
    assert store.latest() is None and store.listing() == [] and store.count() == 0
    with pytest.raises(CheckpointNotExtending):
        store.add(signed(0, 0))  # the empty log needs no checkpoint
    three, five = signed(3, 4), signed(5, 9)
    store.add(three)
    store.add(five)
    assert store.latest() == five and store.by_size(3) == three
    assert store.listing() == [three, five] and store.listing(1, 1) == [five]
    for stale in (signed(5, 10), signed(4, 11), signed(6, 9), signed(2, 2), signed(6, 8)):
        with pytest.raises(CheckpointNotExtending):
            store.add(stale)
        assert store.listing() == [three, five]  # nothing changed
    with pytest.raises(CheckpointNotFound):
        store.by_size(4)


def test_a_witness_co_signs_a_stored_checkpoint_once_its_signature_verifies(books):
    store, witness, other = books.store, Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    kept = signed(3, 4)
    store.add(kept)
    with pytest.raises(InvalidCheckpointSignature):
        store.add_witness_signature(3, cosign(kept.checkpoint, other), witness.public_key())
    assert store.by_size(3).witness_signature is None
    signature = cosign(kept.checkpoint, witness)
    cosigned = store.add_witness_signature(3, signature, witness.public_key())
    assert cosigned.witness_signature == signature
    cosigned.check(KEY.public_key(), witness.public_key())
    assert store.add_witness_signature(3, signature, witness.public_key()) == cosigned
    with pytest.raises(CheckpointAlreadyCosigned):
        store.add_witness_signature(3, cosign(kept.checkpoint, other), other.public_key())
    assert store.by_size(3) == cosigned
    with pytest.raises(CheckpointNotFound):
        store.add_witness_signature(4, signature, witness.public_key())


# The checkpointer -----------------------------------------------------------------------


def test_a_checkpoint_is_due_after_n_events_or_t_minutes_with_a_new_event(books):
    checkpointer = books.checkpointer()
    assert not checkpointer.due(T0) and checkpointer.issue(T0) is None  # nothing to sign
    books.record(1)
    assert checkpointer.due(T0)  # the first checkpoint comes with the first event
    first = checkpointer.tick(T0)
    assert (first.log_size, first.position) == (1, 1)
    assert not checkpointer.due(T0 + timedelta(days=1))  # nothing new: none, however late
    books.record(3)
    almost = T0 + timedelta(minutes=EVERY_MINUTES) - timedelta(seconds=1)
    assert not checkpointer.due(almost) and checkpointer.tick(almost) is None
    assert checkpointer.due(T0 + timedelta(minutes=EVERY_MINUTES))  # by time
    books.record(2)
    assert checkpointer.due(T0 + timedelta(minutes=1))  # by count: 5 new events
    second = checkpointer.tick(T0 + timedelta(minutes=1))
    assert (second.log_size, second.checkpoint.issued_at) == (6, "2027-09-01T08:01:00Z")
    assert books.store.listing() == [first, second]
    for kept in (first, second):  # each is the checkpoint of the log up to its position
        fold = log_checkpoint(books.app.recorder, books.app.mapper, kept.position, T0)
        assert dataclasses.replace(fold, issued_at=kept.checkpoint.issued_at) == kept.checkpoint
        kept.check(KEY.public_key())


def test_the_checkpointer_reads_only_new_events_and_restarts_from_the_latest(books, monkeypatch):
    books.record(7)
    books.checkpointer().issue(T0)
    restarted = books.checkpointer()
    read = spy_on_reads(monkeypatch)
    assert not restarted.due(T0)
    assert sum(read) == 7  # rebuilt once from the log, up to the latest checkpoint
    books.record(4)
    read.clear()
    issued = restarted.issue(T0 + timedelta(minutes=1))
    assert sum(read) == 4 and issued.log_size == 11
    full = log_checkpoint(books.app.recorder, books.app.mapper, issued.position, T0)
    assert (issued.checkpoint.root, issued.checkpoint.balances_sha256) == (
        full.root,
        full.balances_sha256,
    )


def spy_on_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of events each page the checkpointer reads from the log holds, from now on."""
    read: list[int] = []
    pages = checkpointer_module.stored_rows

    def counted(*args, **kwargs):
        for rows, ids in pages(*args, **kwargs):
            read.append(len(rows))
            yield rows, ids

    monkeypatch.setattr(checkpointer_module, "stored_rows", counted)
    return read


def test_a_log_that_no_longer_gives_a_kept_checkpoint_is_refused_loudly(books):
    books.record(4)
    position = books.app.recorder.max_notification_id()
    books.store.add(signed(4, position, root=leaf_hash(b"another history")))
    with pytest.raises(CheckpointMismatch) as refused:
        books.checkpointer().due(T0)
    assert refused.value.details == {"log_size": 4, "field": "root"}
    with pytest.raises(CheckpointMismatch):
        LogProofs(books.app, books.store).inclusion(position)


def test_a_checkpoint_kept_meanwhile_by_another_process_is_taken_up(books):
    ours, theirs = books.checkpointer(), books.checkpointer()
    books.record(3)
    assert ours.due(T0) and theirs.due(T0)
    theirs.issue(T0)
    with pytest.raises(CheckpointNotExtending):
        ours.issue(T0)
    books.record(5)
    assert ours.tick(T0).log_size == 8
    assert [c.log_size for c in books.store.listing()] == [3, 8]


# Proofs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("block_height", [10, 1])  # one partial block; blocks of 2 events
def test_proofs_against_every_kept_checkpoint_check_offline(books, block_height, monkeypatch):
    monkeypatch.setattr(log_proofs, "BLOCK_HEIGHT", block_height)
    monkeypatch.setattr(log_proofs, "BLOCK", 1 << block_height)
    proofs = LogProofs(books.app, books.store)
    with pytest.raises(CheckpointNotFound):
        proofs.inclusion(1)
    checkpointer, sizes = books.checkpointer(), []
    for events in (3, 2, 6):
        books.record(events)
        sizes.append(checkpointer.issue(T0).log_size)
    positions = [n.id for n in books.app.recorder.select_notifications(0, 100)]
    operator = KEY.public_key()
    for size in sizes:
        for index, position in enumerate(positions[:size]):
            proof = proofs.inclusion(position, size)
            assert (proof["leaf_index"], proof["tree_size"]) == (index, size)
            check_proof(proof, operator)
        if size < len(positions):
            with pytest.raises(EventNotFound):
                proofs.inclusion(positions[size], size)
    assert proofs.inclusion(positions[0])["tree_size"] == sizes[-1]  # the latest by default
    for old in sizes:
        for new in sizes:
            if old <= new:
                check_proof(proofs.consistency(old, new), operator)
    with pytest.raises(InvalidTreeSize):
        proofs.consistency(sizes[1], sizes[0])
    with pytest.raises(CheckpointNotFound):
        proofs.consistency(1, sizes[-1])
    # Proofs read back the events of the blocks they need; a rewritten one is refused.
    rewrite_state(books.settings, positions[1])
    fresh = LogProofs(books.app, books.store)
    with pytest.raises(CheckpointMismatch):
        fresh.inclusion(positions[1], sizes[-1])


def rewrite_state(settings: Settings, position: int) -> None:
    """Overwrite one stored event's state, as someone rewriting the log under us would."""
    url = settings.store.sqlalchemy_url()
    column = "rowid" if url.startswith("sqlite") else "notification_id"
    engine = create_engine(url)
    with engine.begin() as conn:
        statement = text(f"UPDATE ledger_events SET state = :s WHERE {column} = :p")
        assert conn.execute(statement, {"s": b"\x80", "p": position}).rowcount == 1
    engine.dispose()


# An export cut at a checkpoint boundary -------------------------------------------------


def test_an_export_cut_at_its_own_checkpoint_passes_alone_but_not_a_kept_checkpoint(
    books, tmp_path: Path
):
    books.record(10)
    kept = books.checkpointer().issue(T0)
    out = io.StringIO()
    export_jsonl(books.app, out, KEY, 4, T0)
    lines = out.getvalue().splitlines(keepends=True)
    boundaries = [n for n, line in enumerate(lines, 1) if '"kind":"checkpoint"' in line]
    assert len(boundaries) == 3  # at 4, 8 and 10 events
    whole, cut = tmp_path / "whole.jsonl", tmp_path / "cut.jsonl"
    whole.write_text("".join(lines))
    cut.write_text("".join(lines[: boundaries[1]]))  # up to the checkpoint of 8 events
    operator = KEY.public_key()
    assert verify_export(cut, operator).tree.size == 8  # alone, it looks whole
    assert verify_export(whole, operator, known=[kept]).tree.size == 10
    with pytest.raises(ExportMismatch) as refused:
        verify_export(cut, operator, known=[kept])
    assert refused.value.details == {
        "line": boundaries[1],
        "reason": "truncated_before_known_checkpoint",
    }
    forked = signed(8, 99, root=leaf_hash(b"another history"))
    with pytest.raises(ExportMismatch) as refused:
        verify_export(whole, operator, known=[forked])
    assert refused.value.details["reason"] == "forked_from_known_checkpoint"
    with pytest.raises(InvalidCheckpointSignature):
        verify_export(whole, operator, known=[signed(8, 99, key=Ed25519PrivateKey.generate())])
    line = json.dumps({"kind": "checkpoint", **kept.as_dict()})
    assert SignedCheckpoint.from_dict(json.loads(line)) == kept
