"""The audit pass, lean: every stored event hashed into the Merkle tree, decoded, and its
postings folded into the balances, without building the library's objects around it.

`ledger.audit_log.log_checkpoint` does the same work through the library: a `Notification`
per row (a `UUID` object from the stored id), `mapper.to_domain_event` for every event, a
tuple of `Posting` objects per money event. Here, per event:

- the rows are read as plain values (`stored_rows`), a page at a time, with the page's
  originator ids apart as 16 bytes each end to end (SQLite's hex converted by one call);
- the leaf hash is computed from the same fields and bytes as `ledger.audit_log.leaf_entry`
  (one struct for the fixed-size fields, the topic's length and bytes cached per topic),
  and the leaves of a page go to `ledger.merkle.MerkleFrontier` at once;
- the state is decoded by the application's mapper's own transcoder (and cipher and
  compressor, when it has them), with the same extension types and enum checks, so a
  state the mapper cannot decode fails here too; the topic is resolved once per topic;
- a money event (one with a rule in the chart, `ledger.accounts.posting_rule`, looked up
  once per topic) becomes the same object the mapper builds (`object.__new__` of its class
  over the decoded dict, so fields absent from old events read their class default) and
  its rule moves the balances directly, skipping zero amounts as `postings` does.

So the root equals `log_frontier`'s and the balances `ledger.accounts.fold`'s over the
mapper's events (tests/integration/test_audit_replay.py checks both on both stores).
"""

from __future__ import annotations

import contextlib
import struct
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any
from uuid import UUID

import msgpack
from eventsourcing.persistence import ApplicationRecorder, Mapper
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import resolve_topic

from ledger.accounts import Handler, Move, move_to_balances, posting_rule, uuid_text
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
# A stored event: notification id, originator id, version, topic, state. The originator id
# is its 16 bytes, or the store's own form of it when a page gives the ids apart.
Row = tuple[int, Any, int, str, bytes]
# A page of rows, with their originator ids as 16 bytes each end to end.
Page = tuple[list[Row], bytes]

_LENGTH = struct.Struct(">I")
# 0x00 (leaf), then the entry: tag, notification id, originator id, version (each with its
# 4-byte length in front), then the topic and the state, as `ledger.audit_log.leaf_entry`.
_LEAF_HEAD = b"\x00" + _LENGTH.pack(len(LEAF_TAG)) + LEAF_TAG + _LENGTH.pack(8)
_FIXED = struct.Struct(">QI16sIQ")  # notification id, 16, originator id, 8, version


# Reading the log ------------------------------------------------------------------------


def stored_rows(
    recorder: ApplicationRecorder, stop: int, page_size: int = PAGE_SIZE, start: int = 0
) -> Iterator[Page]:
    """Every stored event after id `start` up to id `stop`, in notification order, as pages
    of plain rows."""
    if isinstance(recorder, SQLiteApplicationRecorder):
        table = recorder.events_table_name
        yield from sqlite_rows(
            lambda: recorder.datastore.transaction(commit=False), table, start, stop, page_size
        )
    elif is_postgres(recorder):
        datastore = recorder.datastore
        table = (datastore.schema, recorder.events_table_name)
        yield from postgres_rows(datastore.get_connection, table, start, stop, page_size)
    else:  # the in-memory store: its notifications are already objects
        page: list[Row] = []
        for n in notifications(recorder, stop, start=start):
            page.append((n.id, n.originator_id.bytes, n.originator_version, n.topic, n.state))
            if len(page) == page_size:
                yield page, b"".join(r[1] for r in page)
                page = []
        if page:
            yield page, b"".join(r[1] for r in page)


def is_postgres(recorder: ApplicationRecorder) -> bool:
    """Whether the recorder is the library's PostgreSQL one, without importing psycopg for
    a store that does not use it (~20 MB): a PostgreSQL recorder's module is loaded."""
    module = sys.modules.get("eventsourcing.postgres")
    return module is not None and isinstance(recorder, module.PostgresApplicationRecorder)


def sqlite_rows(
    open_cursor: Callable[[], contextlib.AbstractContextManager[Any]],
    table: str,
    start: int,
    stop: int,
    size: int,
) -> Iterator[Page]:
    """The rows of a SQLite events table after id `start` up to `stop`, a page a cursor.
    The rows keep the stored hex of their originator ids; the page gives their bytes."""
    statement = (
        f"SELECT rowid, originator_id, originator_version, topic, state "
        f"FROM {table} WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?"
    )
    cursor = start
    while cursor < stop:
        with open_cursor() as c:
            c.row_factory = None  # plain tuples, not the library's `sqlite3.Row`s
            c.execute(statement, (cursor, stop, size))
            rows = c.fetchall()
        yield rows, _hex_ids(rows)
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


def postgres_rows(
    connect: Callable[[], contextlib.AbstractContextManager[Any]],
    table: tuple[str, str],
    start: int,
    stop: int,
    size: int,
) -> Iterator[Page]:
    """The rows of a PostgreSQL events table (schema, name) after id `start` up to `stop`,
    a page a connection from `connect`."""
    from psycopg.rows import tuple_row
    from psycopg.sql import SQL, Identifier

    statement = SQL(
        "SELECT notification_id, uuid_send(originator_id), originator_version, topic, state "
        "FROM {schema}.{table} WHERE notification_id > %s AND notification_id <= %s "
        "ORDER BY notification_id LIMIT %s"
    ).format(schema=Identifier(table[0]), table=Identifier(table[1]))
    cursor = start
    while cursor < stop:
        with connect() as conn, conn.cursor(binary=True, row_factory=tuple_row) as c:
            c.execute(statement, (cursor, stop, size))
            rows = c.fetchall()
        yield rows, b"".join([r[1] for r in rows])
        if len(rows) < size:
            return
        cursor = rows[-1][0]


def leaf_hashes(rows: Sequence[Row], ids: bytes) -> list[bytes]:
    """The Merkle leaf hashes of a page of rows (`stored_rows`), nothing decoded: the same
    bytes as `ledger.audit_log.event_leaf_hash` (tests/integration/test_audit_replay.py)."""
    if len(ids) != 16 * len(rows):
        raise ValueError(f"{len(rows)} rows but {len(ids)} bytes of originator ids")
    pack, head, length, topics = _FIXED.pack, _LEAF_HEAD, _LENGTH.pack, dict[str, bytes]()
    leaves = []
    for at, (nid, _, version, topic, state) in enumerate(rows):
        entry_topic = topics.get(topic)
        if entry_topic is None:
            encoded = topic.encode("utf-8")
            entry_topic = topics[topic] = length(len(encoded)) + encoded
        fixed = pack(nid, 16, ids[16 * at : 16 * at + 16], 8, version)
        leaves.append(
            sha256(b"".join((head, fixed, entry_topic, length(len(state)), state))).digest()
        )
    return leaves


# The pass -------------------------------------------------------------------------------


class AuditReplay:
    """The Merkle tree and the balances of the events fed so far, in notification order.

    The balances are a dict by default; `balances` and `move` may give another sink the
    chart's rules move money in (`ledger.commitment.RunningCommitment` and its `move`)."""

    def __init__(
        self,
        mapper: Mapper,
        frontier: MerkleFrontier | None = None,
        balances: Any = None,
        move: Move = move_to_balances,
    ) -> None:
        self.frontier = MerkleFrontier() if frontier is None else frontier
        self.balances: Any = {} if balances is None else balances
        self._move = move
        self._full = _decoder(mapper)
        self._lean = _lean_decoder(mapper) or self._full
        self._topics: dict[str, _Topic] = {}

    @property
    def size(self) -> int:
        return self.frontier.size

    def root(self) -> bytes:
        return self.frontier.root()

    def feed(self, rows: Sequence[Row], ids: bytes | None = None) -> None:
        """Hash, decode and fold the next stored events, in notification order. `ids`, when
        given, are the rows' originator ids, 16 bytes each end to end (the rows' own
        originator field is then not read); otherwise each row holds its id's 16 bytes."""
        if ids is None:
            if any(len(row[1]) != 16 for row in rows):
                raise ValueError("an originator id is not 16 bytes")
            ids = b"".join([row[1] for row in rows])
        if len(ids) != 16 * len(rows):
            raise ValueError(f"{len(rows)} rows but {len(ids)} bytes of originator ids")
        hexes = ids.hex()
        topics, balances, move = self._topics, self.balances, self._move
        pack, head, length = _FIXED.pack, _LEAF_HEAD, _LENGTH.pack
        new, set_dict = object.__new__, object.__setattr__
        leaves: list[bytes] = []
        append = leaves.append
        at = 0
        for nid, _, version, topic, state in rows:
            entry_topic, cls, decode, rule = topics.get(topic) or self._learn(topic)
            originator = ids[at : at + 16]
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
            if rule is not None:  # the event as the mapper builds it, through the chart
                event = new(cls)
                set_dict(event, "__dict__", fields)
                h = hexes[2 * at : 2 * at + 32]
                rule(event, f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}", move, balances)
            at += 16
        self.frontier.extend(leaves)

    def replay(self, topic: str, originator: bytes, state: bytes) -> None:
        """Decode one event and fold its postings, without hashing it (an export's verifier
        hashes its lines itself)."""
        _, cls, decode, rule = self._topics.get(topic) or self._learn(topic)
        fields = decode(state)
        if rule is not None:
            event = object.__new__(cls)
            object.__setattr__(event, "__dict__", fields)
            rule(event, uuid_text(originator), self._move, self.balances)

    def _learn(self, topic: str) -> _Topic:
        cls = resolve_topic(topic)  # as the mapper: an unknown topic fails
        encoded = topic.encode("utf-8")
        if getattr(cls, "class_version", 1) == 1:
            decode = self._lean
        else:  # upcasts read fields as the mapper decodes them

            def decode(state: bytes, cls: type = cls, full: Decode = self._full) -> dict[str, Any]:
                return _upcast(cls, full(state))

        known = (_LENGTH.pack(len(encoded)) + encoded, cls, decode, posting_rule(cls))
        self._topics[topic] = known
        return known


Decode = Callable[[bytes], dict[str, Any]]
# entry topic, class, decoding, the chart's rule (None: moves no money)
_Topic = tuple[bytes, type, Decode, Handler | None]


def audit_log(
    recorder: ApplicationRecorder, mapper: Mapper, stop: int, page_size: int = PAGE_SIZE
) -> AuditReplay:
    """The tree and balances of the log up to id `stop` (`log_checkpoint`'s work)."""
    replay = AuditReplay(mapper)
    for rows, ids in stored_rows(recorder, stop, page_size):
        replay.feed(rows, ids)
    return replay


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
# The 8-byte ranges of those instants (bytes of one length compare as unsigned numbers):
# 1970 and after, then before 1970 (negative, so with the top bit set).
_AFTER_1970 = (_MICROS.pack(0), _MICROS.pack(_MAX_US))
_BEFORE_1970 = (_MICROS.pack(_MIN_US), _MICROS.pack(-1))


def _lean_decoder(mapper: Mapper) -> Decode | None:
    """The transcoder's decoding, refusing exactly what it refuses, but leaving the two
    commonest extension types cheap: a UUID as its 16 bytes, a UTC datetime as its 8 bytes
    (checked to be an instant the transcoder can read). Postings read neither (a UUID
    field they name goes through `ledger.accounts._text`, which takes the 16 bytes as well
    as a `UUID`).
    None when the mapper is not the ledger's plain msgpack one."""
    transcoder = mapper.transcoder
    if not isinstance(transcoder, MsgpackTranscoder) or mapper.cipher or mapper.compressor:
        return None
    other, unpackb = transcoder._ext_hook, msgpack.unpackb

    def ext_hook(  # called for most fields of most events: constants bound as locals
        code: int,
        data: bytes,
        datetime_code: int = EXT_UTC_DATETIME,
        uuid_code: int = EXT_UUID,
        late: tuple[bytes, bytes] = _AFTER_1970,
        early: tuple[bytes, bytes] = _BEFORE_1970,
    ) -> Any:
        if code == datetime_code:
            # The microseconds as the transcoder reads them: 8 bytes, big-endian, signed. Of
            # one sign, such bytes order as their numbers do: a range check without unpacking.
            if len(data) != 8:
                raise struct.error("unpack requires a buffer of 8 bytes")
            if late[0] <= data <= late[1] or early[0] <= data <= early[1]:
                return data
            raise OverflowError("date value out of range")
        if code == uuid_code:
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
