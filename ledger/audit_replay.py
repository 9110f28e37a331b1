"""The audit pass, lean: every stored event hashed into the Merkle tree, decoded, and its
postings folded into the balances, without building the library's objects around it.

`ledger.audit_log.log_checkpoint` does the same work through the library: a `Notification`
per row (a `UUID` object from the stored id), `mapper.to_domain_event` for every event, a
tuple of `Posting` objects per money event. Here, per event:

- the row is read as plain values (`stored_rows`): the originator id as its 16 bytes;
- the leaf hash is computed from the same fields and bytes as `ledger.audit_log.leaf_entry`
  (one struct for the fixed-size fields, the topic's length and bytes cached per topic),
  and the leaves of a page go to `ledger.merkle.MerkleFrontier` at once;
- the state is decoded by the application's mapper's own transcoder (and cipher and
  compressor, when it has them), with the same extension types and enum checks, so a
  state the mapper cannot decode fails here too; the topic is resolved once per topic;
- a money event (one of `ledger.accounts.MONEY_EVENT_TYPES`) becomes the same object the
  mapper builds (`object.__new__` of its class over the decoded dict, so fields absent
  from old events read their class default) and `ledger.accounts.post` moves the balances
  directly by the chart's own handlers, skipping zero amounts as `postings` does.

So the root equals `log_frontier`'s and the balances `ledger.accounts.fold`'s over the
mapper's events (tests/integration/test_audit_replay.py checks both on both stores).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any
from uuid import UUID

import msgpack
from eventsourcing.persistence import ApplicationRecorder, Mapper
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import resolve_topic
from psycopg.sql import SQL, Identifier

from ledger.accounts import MONEY_EVENT_TYPES, post, uuid_text
from ledger.audit_log import LEAF_TAG, notifications
from ledger.merkle import MerkleFrontier
from ledger.transcoding import (
    _MICROS,
    EPOCH,
    EXT_UTC_DATETIME,
    EXT_UUID,
    ONE_MICROSECOND,
    MsgpackTranscoder,
)

PAGE_SIZE = 10_000  # rows per query: fewer round trips, a few MB of rows at a time
# A stored event: notification id, originator id (16 bytes), version, topic, state.
Row = tuple[int, bytes, int, str, bytes]

_LENGTH = struct.Struct(">I")
# 0x00 (leaf), then the entry: tag, notification id, originator id, version (each with its
# 4-byte length in front), then the topic and the state, as `ledger.audit_log.leaf_entry`.
_LEAF_HEAD = b"\x00" + _LENGTH.pack(len(LEAF_TAG)) + LEAF_TAG + _LENGTH.pack(8)
_FIXED = struct.Struct(">QI16sIQ")  # notification id, 16, originator id, 8, version


# Reading the log ------------------------------------------------------------------------


def stored_rows(
    recorder: ApplicationRecorder, stop: int, page_size: int = PAGE_SIZE
) -> Iterator[list[Row]]:
    """Every stored event up to id `stop`, in notification order, as pages of plain rows."""
    if isinstance(recorder, SQLiteApplicationRecorder):
        yield from _sqlite_rows(recorder, stop, page_size)
    elif isinstance(recorder, PostgresApplicationRecorder):
        yield from _postgres_rows(recorder, stop, page_size)
    else:  # the in-memory store: its notifications are already objects
        page: list[Row] = []
        for n in notifications(recorder, stop):
            page.append((n.id, n.originator_id.bytes, n.originator_version, n.topic, n.state))
            if len(page) == page_size:
                yield page
                page = []
        if page:
            yield page


def _sqlite_rows(recorder: SQLiteApplicationRecorder, stop: int, size: int) -> Iterator[list[Row]]:
    statement = (
        f"SELECT rowid, originator_id, originator_version, topic, state "
        f"FROM {recorder.events_table_name} WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?"
    )
    cursor = 0
    while cursor < stop:
        with recorder.datastore.transaction(commit=False) as c:
            c.row_factory = None  # plain tuples, not the library's `sqlite3.Row`s
            c.execute(statement, (cursor, stop, size))
            rows = c.fetchall()
        ids = _hex_ids(rows)
        yield [(r[0], ids[16 * i : 16 * i + 16], r[2], r[3], r[4]) for i, r in enumerate(rows)]
        if len(rows) < size:
            return
        cursor = rows[-1][0]


def _hex_ids(rows: Sequence[Any]) -> bytes:
    """The originator ids of a page of SQLite rows, 16 bytes each, end to end.

    The SQLite recorder stores `UUID.hex`: 32 hex digits. One `bytes.fromhex` converts the
    page; it skips whitespace, so it gives 16 bytes a row only when every id is 32 hex
    digits. Otherwise each id is read as `UUID()` reads it (or refused as it refuses).
    """
    texts = [r[1] for r in rows]
    if all(len(t) == 32 for t in texts):
        with contextlib.suppress(ValueError):
            ids = bytes.fromhex("".join(texts))
            if len(ids) == 16 * len(texts):
                return ids
    return b"".join(UUID(t).bytes for t in texts)


def _postgres_rows(
    recorder: PostgresApplicationRecorder, stop: int, size: int
) -> Iterator[list[Row]]:
    statement = SQL(
        "SELECT notification_id, uuid_send(originator_id), originator_version, topic, state "
        "FROM {schema}.{table} WHERE notification_id > %s AND notification_id <= %s "
        "ORDER BY notification_id LIMIT %s"
    ).format(
        schema=Identifier(recorder.datastore.schema),
        table=Identifier(recorder.events_table_name),
    )
    cursor = 0
    while cursor < stop:
        with recorder.datastore.get_connection() as conn, conn.cursor(binary=True) as c:
            c.execute(statement, (cursor, stop, size))
            rows = c.fetchall()
        yield [(r["notification_id"], *_pg_values(r)) for r in rows]
        if len(rows) < size:
            return
        cursor = rows[-1]["notification_id"]


def _pg_values(row: Mapping[str, Any]) -> tuple[bytes, int, str, bytes]:
    return (bytes(row["uuid_send"]), row["originator_version"], row["topic"], bytes(row["state"]))


# The pass -------------------------------------------------------------------------------


class AuditReplay:
    """The Merkle tree and the balances of the events fed so far, in notification order."""

    def __init__(self, mapper: Mapper) -> None:
        self.frontier = MerkleFrontier()
        self.balances: dict[str, int] = {}
        self._full = _decoder(mapper)
        self._lean = _lean_decoder(mapper) or self._full
        self._topics: dict[str, _Topic] = {}

    @property
    def size(self) -> int:
        return self.frontier.size

    def root(self) -> bytes:
        return self.frontier.root()

    def feed(self, rows: Sequence[Row]) -> None:
        """Hash, decode and fold the next stored events, in notification order."""
        topics, balances = self._topics, self.balances
        pack, head, length, new = _FIXED.pack, _LEAF_HEAD, _LENGTH.pack, object.__new__
        leaves: list[bytes] = []
        append = leaves.append
        for nid, originator, version, topic, state in rows:
            entry_topic, cls, decode, money = topics.get(topic) or self._learn(topic)
            append(
                sha256(
                    b"".join(
                        (
                            head,
                            pack(nid, 16, originator, 8, version),
                            entry_topic,
                            length(len(state)),
                            state,
                        )
                    )
                ).digest()
            )
            fields = decode(state)
            if money:
                event = new(cls)
                object.__setattr__(event, "__dict__", fields)
                post(event, balances, uuid_text(originator))
        self.frontier.extend(leaves)

    def replay(self, topic: str, originator: bytes, state: bytes) -> None:
        """Decode one event and fold its postings, without hashing it (an export's verifier
        hashes its lines itself)."""
        _, cls, decode, money = self._topics.get(topic) or self._learn(topic)
        fields = decode(state)
        if money:
            event = object.__new__(cls)
            object.__setattr__(event, "__dict__", fields)
            post(event, self.balances, uuid_text(originator))

    def _learn(self, topic: str) -> _Topic:
        cls = resolve_topic(topic)  # as the mapper: an unknown topic fails
        encoded = topic.encode("utf-8")
        if getattr(cls, "class_version", 1) == 1:
            decode = self._lean
        else:  # upcasts read fields as the mapper decodes them

            def decode(state: bytes, cls: type = cls, full: Decode = self._full) -> dict[str, Any]:
                return _upcast(cls, full(state))

        known = (_LENGTH.pack(len(encoded)) + encoded, cls, decode, cls in _MONEY)
        self._topics[topic] = known
        return known


Decode = Callable[[bytes], dict[str, Any]]
_Topic = tuple[bytes, type, Decode, bool]  # entry topic, class, decoding, moves money
_MONEY = frozenset(MONEY_EVENT_TYPES)


def audit_log(
    recorder: ApplicationRecorder, mapper: Mapper, stop: int, page_size: int = PAGE_SIZE
) -> AuditReplay:
    """The tree and balances of the log up to id `stop` (`log_checkpoint`'s work)."""
    replay = AuditReplay(mapper)
    for page in stored_rows(recorder, stop, page_size):
        replay.feed(page)
    return replay


def balances_commitment(balances: Mapping[str, int], chunk: int = 10_000) -> str:
    """`ledger.checkpoints.balances_commitment`, hashed in sorted chunks: the same digest
    without the whole JSON text in memory at once."""
    digest = hashlib.sha256(b"{")
    keys = sorted(k for k, v in balances.items() if v)
    for i in range(0, len(keys), chunk):
        part = {k: balances[k] for k in keys[i : i + chunk]}
        assert all(type(v) is int for v in part.values()), "integer cents only"
        text = json.dumps(part, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        digest.update((("," if i else "") + text[1:-1]).encode("ascii"))
    digest.update(b"}")
    return digest.hexdigest()


# Decoding -------------------------------------------------------------------------------


def _decoder(mapper: Mapper) -> Decode:
    """The mapper's decoding of a state, as `Mapper.to_domain_event` does it."""
    decode, cipher, compressor = mapper.transcoder.decode, mapper.cipher, mapper.compressor
    if cipher is None and compressor is None:
        return decode

    def unwrap(state: bytes) -> dict[str, Any]:
        if cipher is not None:
            state = cipher.decrypt(state)
        if compressor is not None:
            state = compressor.decompress(state)
        return decode(state)

    return unwrap


# The instants a UTC datetime extension may hold: outside them the transcoder's decoding
# overflows, so the lean decoding refuses them too.
_MIN_US = (datetime.min.replace(tzinfo=UTC) - EPOCH) // ONE_MICROSECOND
_MAX_US = (datetime.max.replace(tzinfo=UTC) - EPOCH) // ONE_MICROSECOND


def _lean_decoder(mapper: Mapper) -> Decode | None:
    """The transcoder's decoding, refusing exactly what it refuses, but leaving the two
    commonest extension types cheap: a UUID as its 16 bytes, a UTC datetime as its
    microseconds. Postings read neither (a UUID field they name goes through
    `ledger.accounts._text`, which takes the 16 bytes as well as a `UUID`).
    None when the mapper is not the ledger's plain msgpack one."""
    transcoder = mapper.transcoder
    if not isinstance(transcoder, MsgpackTranscoder) or mapper.cipher or mapper.compressor:
        return None
    other, unpack, unpackb = transcoder._ext_hook, _MICROS.unpack, msgpack.unpackb

    def ext_hook(code: int, data: bytes) -> Any:
        if code == EXT_UTC_DATETIME:
            (micros,) = unpack(data)  # 8 bytes, or struct.error as in the transcoder
            if _MIN_US <= micros <= _MAX_US:
                return micros
            raise OverflowError("date value out of range")
        if code == EXT_UUID:
            if len(data) == 16:
                return data
            raise ValueError("bytes is not a 16-char string")
        return other(code, data)

    def decode(state: bytes) -> dict[str, Any]:
        return unpackb(state, ext_hook=ext_hook, raw=False, strict_map_key=False, use_list=False)

    return decode


def _upcast(cls: type, fields: dict[str, Any]) -> dict[str, Any]:
    """The mapper's upcasting of an older event's fields to its class's version."""
    class_version = getattr(cls, "class_version", 1)
    from_version = fields.pop("class_version", 1)
    while from_version < class_version:
        getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(fields)
        from_version += 1
    return fields
