"""The audit pass on two cores: the log's two halves hashed, decoded and folded at once.

`ledger.audit_replay` does the pass in one process; most of its time is spent per event
(reading, hashing, decoding, posting), and none of that depends on the events before, so
the log can be cut in two and each half done by its own process (this one, and one forked
from it, which reads the store over a connection of its own):

- **The tree.** The cut falls at a multiple of 2**`BLOCK_HEIGHT` (16,384) events. The
  second process hands over the root of each complete block of its half and the perfect
  subtrees of its last, partial block; each starts at a multiple of its own size, so this
  process appends them to its frontier (`MerkleFrontier.append_subtree`) as if it had
  hashed their leaves: the same root (RFC 9162's tree is made of exactly those subtrees).
- **The balances.** Each half folds its postings from zero; balances are sums, so an
  account's balance is the sum of its two halves. To commit to them without one process
  holding every account, the accounts are cut too, by name: below a split key (the median
  of both processes' names) this process sums and writes them, from it the other; the
  canonical JSON of the balances (`ledger.checkpoints.balances_commitment`) is the text of
  the first range followed by the second, hashed here in that order.

The result is the same size, root and commitment as `audit_replay.audit_log` and
`balances_commitment` and as the production path (`log_frontier`, `accounts.fold`):
tests/integration/test_audit_parallel.py compares them on both stores, gaps in the ids
included. The cut is counted in events (the id of the last event of the first half is
looked up), so ids a sequence skipped move nothing.
A log too short to be worth a second process, a store another process cannot open (an
in-memory one) or `processes=1` take the one-process pass.

The second process is forked: it inherits the mapper and the imported modules, shares
their memory pages until it writes to them, and never touches this process's connections
(it opens its own and ends with `os._exit`, as multiprocessing's forked children do).
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from hashlib import sha256
from itertools import islice
from typing import Any

import msgpack
from eventsourcing.persistence import ApplicationRecorder, Mapper
from eventsourcing.sqlite import SQLiteApplicationRecorder

from ledger.audit_replay import (
    PAGE_SIZE,
    AuditReplay,
    Page,
    is_postgres,
    postgres_rows,
    sqlite_rows,
    stored_rows,
)
from ledger.checkpoints import Checkpoint, checkpoint_of
from ledger.commitment import balances_commitment, commitment_pieces, sorted_accounts
from ledger.merkle import MerkleFrontier

BLOCK_HEIGHT = 14  # the second half starts at a multiple of 2**14 events
MIN_BLOCKS = 4  # below so many blocks, starting a second process costs more than it saves
SWAP_CHUNK = 20_000  # accounts a message when the processes swap ranges
SAMPLE_EVERY = 64  # one account name in so many goes into the sample the split key is from
PROGRESS_EVERY = 200_000  # events folded between two progress lines of the trace
POLL_SECONDS = 0.5  # how often a wait for the second process checks that it is still alive
Trace = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class AuditResult:
    """What an audit pass of the log up to some id finds: the tree and the balances."""

    size: int
    root: bytes
    balances_sha256: str
    # How many processes did it: 1 when the log was too short or the store not shareable.
    processes: int = field(default=1, compare=False)


def audit_pass(
    recorder: ApplicationRecorder,
    mapper: Mapper,
    stop: int,
    *,
    processes: int = 2,
    page_size: int = PAGE_SIZE,
    trace: Trace | None = None,
    block_height: int = BLOCK_HEIGHT,
) -> AuditResult:
    """The size, root and balances commitment of the log up to id `stop`, on `processes`
    cores (1 or 2). `trace` hears what has been done, step by step (the second process's
    steps as the first learns of them). `block_height` sets the blocks the cut falls
    between (tests use small ones to cut short logs)."""
    if processes not in (1, 2):
        raise ValueError(f"an audit pass runs on 1 or 2 processes, not {processes!r}")
    store = _Store.of(recorder) if processes == 2 else None
    cut = store.cut(stop, 1 << block_height) if store is not None else None
    if store is None or cut is None:
        replay = AuditReplay(mapper)
        _fold(replay, stored_rows(recorder, stop, page_size), "events", trace or _silent)
        return AuditResult(replay.size, replay.root(), balances_commitment(replay.balances))
    halves = _Halves(store, cut[0], cut[1], stop, page_size, block_height)
    with _no_collection():
        return _two_halves(recorder, mapper, halves, trace or _silent)


def audit_checkpoint(
    recorder: ApplicationRecorder,
    mapper: Mapper,
    stop: int,
    moment: datetime,
    *,
    processes: int = 1,
) -> Checkpoint:
    """The (unsigned) checkpoint of the log up to id `stop`, as `audit_log.log_checkpoint`
    makes it, from the audit pass. One process by default: a server forks nothing."""
    found = audit_pass(recorder, mapper, stop, processes=processes)
    return checkpoint_of(found.size, found.root, found.balances_sha256, moment)


# Where the events are, for a process of its own ----------------------------------------


@dataclass(frozen=True, slots=True)
class _Store:
    """How a forked process opens the events table on a connection of its own."""

    kind: str  # "sqlite" or "postgresql"
    table: tuple[str, str]  # (schema, table); the schema is "" on SQLite
    database: str = ""  # SQLite: the file (or URI) the recorder opened
    connect_kwargs: tuple[tuple[str, Any], ...] = ()  # PostgreSQL: the pool's connection

    @classmethod
    def of(cls, recorder: ApplicationRecorder) -> _Store | None:
        if isinstance(recorder, SQLiteApplicationRecorder):
            pool = recorder.datastore.pool
            if pool.is_sqlite_memory_mode:
                return None  # another process would open an empty database
            return cls("sqlite", ("", recorder.events_table_name), database=pool.db_name)
        if is_postgres(recorder):
            datastore = recorder.datastore
            kwargs = dict(datastore.pool.kwargs or {})
            kwargs.pop("row_factory", None)
            if datastore.pool.get_password_func is not None:
                kwargs["password"] = datastore.pool.get_password_func()
            table = (datastore.schema, recorder.events_table_name)
            return cls("postgresql", table, connect_kwargs=tuple(kwargs.items()))
        return None

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Any]:
        if self.kind == "sqlite":
            with contextlib.closing(sqlite3.connect(self.database, uri=True)) as conn:
                yield conn
        else:
            import psycopg

            with psycopg.connect(autocommit=True, **dict(self.connect_kwargs)) as conn:
                yield conn

    def rows(self, start: int, stop: int, page_size: int) -> Iterator[Page]:
        """The rows after id `start` up to `stop`, on one connection of this process's own."""
        with self._connection() as conn:
            if self.kind == "sqlite":
                yield from sqlite_rows(
                    lambda: contextlib.closing(conn.cursor()), self.table[1], start, stop, page_size
                )
            else:
                yield from postgres_rows(
                    lambda: contextlib.nullcontext(conn), self.table, start, stop, page_size
                )

    def cut(self, stop: int, block: int) -> tuple[int, int] | None:
        """(events, id) of the first half: a multiple of `block` events near half the log,
        the last of them at that id; None when the log is too short to be worth cutting.
        Ids count the events from 1 unless some were skipped (a sequence's gaps), so half
        of `stop` is where the middle is, or a little beyond it: the cut only needs the
        id of its last event (one index scan), never the count of the log."""
        half = stop // 2 // block * block
        if stop < MIN_BLOCKS * block or half == 0:
            return None
        if self.kind == "sqlite":
            nth = f"SELECT rowid FROM {self.table[1]} WHERE rowid <= ? ORDER BY rowid "
            nth += "LIMIT 1 OFFSET ?"
        else:
            from psycopg.sql import SQL, Identifier

            table = SQL("{}.{}").format(Identifier(self.table[0]), Identifier(self.table[1]))
            nth = SQL(
                "SELECT notification_id FROM {} WHERE notification_id <= %s "
                "ORDER BY notification_id LIMIT 1 OFFSET %s"
            ).format(table)
        with self._connection() as conn:
            row = conn.execute(nth, (stop, half - 1)).fetchone()
        return None if row is None else (half, row[0])


# The two halves -------------------------------------------------------------------------


class _Blocks:
    """A frontier over the second half that keeps each complete block of 2**height leaves
    as one root: what the first half's frontier appends, block by block."""

    def __init__(self, height: int) -> None:
        self.height = height
        self.blocks: list[bytes] = []
        self.current = MerkleFrontier()
        self.size = 0

    def extend(self, leaves: list[bytes]) -> None:
        at = 0
        while at < len(leaves):
            room = (1 << self.height) - self.current.size
            self.current.extend(leaves[at : at + room])
            at += room
            if self.current.size == 1 << self.height:
                self.blocks.append(self.current.root())
                self.current = MerkleFrontier()
        self.size += len(leaves)

    def subtrees(self) -> list[tuple[bytes, int]]:
        return [(root, self.height) for root in self.blocks] + self.current.perfect_subtrees()


@dataclass(frozen=True, slots=True)
class _Halves:
    """Where the log is cut: the first `half` events end at id `last_id`, the rest run to
    `stop`; the second half hands its tree over in blocks of 2**block_height leaves."""

    store: _Store
    half: int
    last_id: int
    stop: int
    page_size: int
    block_height: int


@contextlib.contextmanager
def _no_collection() -> Iterator[None]:
    """No cyclic garbage collection while the two halves run, for speed and for memory: the
    pass makes no cycles, and a collection writes to every object it visits, so the pages
    the forked process shares with this one would each be copied. Objects made before are
    frozen (`gc.freeze`, which exists for this) and thawed after; the state is restored."""
    enabled = gc.isenabled()
    gc.disable()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()


def _two_halves(
    recorder: ApplicationRecorder, mapper: Mapper, halves: _Halves, trace: Trace
) -> AuditResult:
    context = multiprocessing.get_context("fork")
    here, there = context.Pipe()
    child = context.Process(
        target=_second_half,
        args=(there, mapper, halves),
        name="audit-second-half",
        daemon=True,
    )
    child.start()
    there.close()
    try:
        replay = AuditReplay(mapper)
        pages = stored_rows(recorder, halves.last_id, halves.page_size)
        _fold(replay, pages, f"of the first half's {halves.half:,} events", trace)
        half = halves.half
        if replay.size != half:
            raise RuntimeError(f"the first half of the log read {replay.size} events, not {half}")
        trace(f"first half: {half:,} events folded, {len(replay.balances):,} accounts")
        subtrees, theirs, sample = _receive(here, child, "done")
        trace(f"second half: {theirs:,} events folded")
        for root, height in subtrees:
            replay.frontier.append_subtree(root, height)
        balances = replay.balances
        split = _median(list(islice(balances, 0, None, SAMPLE_EVERY)) + sample)
        here.send(("split", split))
        _swap(here, balances, [key for key in balances if key >= split], sends_first=True)
        trace(f"swapped: {len(balances):,} accounts")
        accounts = sorted_accounts(balances)
        trace(f"accounts below the split key summed: {len(accounts):,}")
        digest, first = sha256(b"{"), True
        for piece in commitment_pieces(accounts, balances):
            digest.update(piece if first else b"," + piece)
            first = False
        del balances, accounts, replay.balances
        trace("accounts below the split key hashed")
        while (message := _receive(here, child, "piece", "end"))[0] == "piece":
            digest.update(message[1] if first else b"," + message[1])
            first = False
        digest.update(b"}")
        trace("accounts from the split key hashed")
        child.join()
        return AuditResult(half + theirs, replay.root(), digest.hexdigest(), processes=2)
    finally:
        here.close()
        if child.is_alive():
            child.terminate()
        child.join()


def _second_half(conn: Any, mapper: Mapper, halves: _Halves) -> None:
    """The forked process: fold the events of the second half, then sum and write the
    accounts from the split key on."""
    try:
        blocks = _Blocks(halves.block_height)
        replay = AuditReplay(mapper, blocks)  # type: ignore[arg-type]
        for rows, ids in halves.store.rows(halves.last_id, halves.stop, halves.page_size):
            replay.feed(rows, ids)
        balances = replay.balances
        sample = list(islice(balances, 0, None, SAMPLE_EVERY))
        conn.send(("done", blocks.subtrees(), blocks.size, sample))
        (split,) = _receive(conn, None, "split")
        _swap(conn, balances, [key for key in balances if key < split], sends_first=False)
        accounts = sorted_accounts(balances)
        # Written in full before sending, so that the first process hashes its own range
        # meanwhile instead of waiting for each piece.
        pieces = list(commitment_pieces(accounts, balances))
        del balances, accounts, replay
        for piece in pieces:
            conn.send(("piece", piece))
        conn.send(("end",))
    except Exception as error:  # noqa: BLE001 - any failure is handed to the first process
        try:
            conn.send(("error", error))
        except Exception:  # noqa: BLE001 - not picklable: its traceback goes to stderr instead
            raise error from None
    finally:
        conn.close()


def _receive(conn: Any, child: Any, *expected: str) -> Any:
    """The next message, which must be one of `expected`: its fields, or the whole message
    when several kinds are expected. Raises what the other process raised, or a
    RuntimeError naming the second process's exit code if it ended without a word."""
    while child is not None and not conn.poll(POLL_SECONDS):
        if not child.is_alive():
            break
    try:
        message = conn.recv()
    except EOFError:
        if child is None:
            raise RuntimeError("the audit's first process closed its end") from None
        child.join(POLL_SECONDS)
        raise RuntimeError(
            f"the audit's second process ended without an answer (exit code {child.exitcode})"
        ) from None
    if message[0] == "error":
        raise message[1]
    if message[0] not in expected:
        raise RuntimeError(f"the audit's other process sent {message[0]!r}, not {expected}")
    return message if len(expected) > 1 else message[1:]


def _swap(conn: Any, balances: dict[str, int], theirs: list[str], *, sends_first: bool) -> None:
    """Hand the accounts of the other process's range (`theirs`) over to it and add the sums
    it hands over to `balances`, a chunk each way in turn: the names sent are let go before
    the next ones arrive, so neither process holds both ranges at once; the turns keep both
    from sending at the same time. msgpack: several times quicker than pickle here."""
    sent = received = False
    at = 0
    while not (sent and received):
        if sends_first:
            sent = _send_chunk(conn, balances, theirs[at : at + SWAP_CHUNK])
            at += SWAP_CHUNK
        packed = conn.recv_bytes()
        received = not packed
        if packed:
            keys, values = msgpack.unpackb(packed, raw=False, use_list=False)
            for key, cents in zip(keys, values, strict=True):
                balances[key] = balances.get(key, 0) + cents
        if not sends_first:
            sent = _send_chunk(conn, balances, theirs[at : at + SWAP_CHUNK])
            at += SWAP_CHUNK


def _send_chunk(conn: Any, balances: dict[str, int], keys: list[str]) -> bool:
    """Send these accounts' sums (taken out of `balances`); an empty chunk says "no more".
    True once there was nothing left to send."""
    conn.send_bytes(msgpack.packb((keys, [balances.pop(key) for key in keys])) if keys else b"")
    return not keys


def _median(sample: list[str]) -> str:
    sample.sort()
    return sample[len(sample) // 2] if sample else ""


def _fold(replay: AuditReplay, pages: Iterator[Page], what: str, trace: Trace) -> None:
    """Feed the pages, telling `trace` every `PROGRESS_EVERY` events how far it got."""
    for rows, ids in pages:
        replay.feed(rows, ids)
        if replay.size % PROGRESS_EVERY < len(rows):
            trace(f"{replay.size:,} {what} folded")


def _silent(_: str) -> None:
    pass
