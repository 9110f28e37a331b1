"""The log as Merkle leaves: what each stored event commits to, byte for byte.

An auditor who holds an export of the log (`api.audit_cli`) recomputes every leaf from the
event's fields and rebuilds the Merkle tree (`ledger.merkle`, RFC 9162); a signed checkpoint
(`ledger.checkpoints`) then vouches for the first `size` leaves at once. So the leaf must
cover everything that makes an event: its place in the log, whose event it is, which
version of that aggregate, its type and its body.

The **leaf entry** of a stored event (version 1) is six fields, each written as a 4-byte
big-endian unsigned length followed by that many bytes:

    1. the tag         ASCII `tirelire-event-v1` (17 bytes)
    2. notification id 8 bytes, big-endian unsigned (its position in `ledger_events`)
    3. originator id   16 bytes, the UUID's bytes in network order (`UUID.bytes`)
    4. version         8 bytes, big-endian unsigned (the originator's version)
    5. topic           UTF-8 bytes of the topic, e.g. `ledger.credits:CreditAccount.Granted`
    6. state           the stored state bytes as they are (msgpack, `ledger.transcoding`)

and its **leaf hash** is SHA-256(0x00 || entry) (`ledger.merkle.leaf_hash`). Every field
has its length in front, fixed-size ones included, so no two different events can write
the same entry: a topic can never borrow bytes from the state. The tag names the version
of this encoding, so a later one can never be read as this one.

The leaves are in notification order. Notification ids increase but may skip numbers (on
PostgreSQL an aborted transaction burns ids), so a tree's size counts events, not ids.

An **export** carries each event's fields and leaf hash on one JSON line, with signed
checkpoints between them (`api.audit_cli` writes it). `ExportVerifier` checks one with no
database: every leaf recomputed, the tree rebuilt, every checkpoint's size, root and
signatures, its consistency with the previous one, and the balances a replay of the
events' postings gives; and, given checkpoints the auditor kept from before (`expect`),
that the export reaches each and has exactly its root at its size. It decodes only topics
of the `ledger` package, because decoding imports a topic's module and the file is not
trusted until a signed root covers it.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification

from ledger.accounts import apply_postings, postings
from ledger.application import EVENT_ENUMS
from ledger.checkpoints import Checkpoint, make_checkpoint, sign, verify
from ledger.commitment import RunningCommitment
from ledger.errors import (
    ExportMismatch,
    InvalidCheckpoint,
    InvalidCheckpointSignature,
    InvalidProof,
)
from ledger.merkle import MerkleFrontier, MerkleLog, leaf_hash, verify_consistency
from ledger.transcoding import MsgpackTranscoder

LEAF_TAG = b"tirelire-event-v1"
PAGE_SIZE = 1000  # notifications read per query when walking the log
MAX_FIELD_BYTES = 2**32 - 1  # a field's length must fit its 4-byte prefix
MAX_ID = 2**64 - 1  # notification ids and versions are written as 8 unsigned bytes

_LENGTH = struct.Struct(">I")
_U64 = struct.Struct(">Q")


def leaf_entry(
    notification_id: int, originator_id: UUID, originator_version: int, topic: str, state: bytes
) -> bytes:
    """The canonical bytes of one stored event (see the module's docstring)."""
    assert 0 <= notification_id <= MAX_ID and 0 <= originator_version <= MAX_ID
    fields = (
        LEAF_TAG,
        _U64.pack(notification_id),
        originator_id.bytes,
        _U64.pack(originator_version),
        topic.encode("utf-8"),
        bytes(state),
    )
    parts = []
    for field in fields:
        assert len(field) <= MAX_FIELD_BYTES
        parts += (_LENGTH.pack(len(field)), field)
    return b"".join(parts)


def event_leaf_hash(
    notification_id: int, originator_id: UUID, originator_version: int, topic: str, state: bytes
) -> bytes:
    """The Merkle leaf hash of one stored event."""
    entry = leaf_entry(notification_id, originator_id, originator_version, topic, state)
    return leaf_hash(entry)


def notification_leaf_hash(notification: Notification) -> bytes:
    return event_leaf_hash(
        notification.id,
        notification.originator_id,
        notification.originator_version,
        notification.topic,
        notification.state,
    )


def last_notification_id(recorder: ApplicationRecorder) -> int:
    """The id of the last event in the log now (0 when empty): where an export stops."""
    return recorder.max_notification_id() or 0


def notifications(
    recorder: ApplicationRecorder, stop: int, page_size: int = PAGE_SIZE, start: int = 0
) -> Iterator[Notification]:
    """Every stored event after id `start` up to id `stop` (inclusive), in notification
    order, page by page."""
    assert 0 < page_size <= PAGE_SIZE
    cursor = start
    while cursor < stop:
        page = recorder.select_notifications(cursor, page_size, stop, inclusive_of_start=False)
        yield from page
        if len(page) < page_size:
            return
        cursor = page[-1].id


def log_frontier(recorder: ApplicationRecorder, stop: int) -> MerkleFrontier:
    """The compact Merkle tree of the log up to id `stop`: its size and root, in O(log n)."""
    frontier = MerkleFrontier()
    frontier.extend(notification_leaf_hash(n) for n in notifications(recorder, stop))
    return frontier


def log_tree(recorder: ApplicationRecorder, stop: int) -> MerkleLog:
    """The whole Merkle tree of the log up to id `stop`, for roots and proofs at any size."""
    tree = MerkleLog()
    tree.extend(notification_leaf_hash(n) for n in notifications(recorder, stop))
    return tree


def log_checkpoint(
    recorder: ApplicationRecorder, mapper: Mapper, stop: int, moment: datetime
) -> Checkpoint:
    """The (unsigned) checkpoint of the log up to id `stop`: its size, root and the
    commitment to the balances a replay of its events gives."""
    frontier, balances = MerkleFrontier(), dict[str, int]()
    for notification in notifications(recorder, stop):
        frontier.append(notification_leaf_hash(notification))
        apply_postings(balances, postings(mapper.to_domain_event(notification)))
    return make_checkpoint(frontier.size, frontier.root(), balances, moment)


# Exports: one JSON object per line ----------------------------------------------------

EVENT_FIELDS = frozenset(
    {"kind", "notification_id", "originator_id", "originator_version", "topic", "state"}
    | {"leaf_hash"}
)
SIGNATURE_FIELDS = ("signature", "witness_signature")
MAX_LINE_CHARS = 16 * 1024 * 1024  # an event's state is far smaller; a longer line is refused
TRUSTED_TOPIC_PREFIX = "ledger."  # decoding imports a topic's module: only the ledger's own


def event_line(notification: Notification, leaf: bytes) -> dict[str, Any]:
    return {
        "kind": "event",
        "notification_id": notification.id,
        "originator_id": str(notification.originator_id),
        "originator_version": notification.originator_version,
        "topic": notification.topic,
        "state": b64encode(notification.state),
        "leaf_hash": leaf.hex(),
    }


def checkpoint_line(checkpoint: Checkpoint, key: Ed25519PrivateKey) -> dict[str, Any]:
    signature = b64encode(sign(checkpoint, key))
    return {"kind": "checkpoint", **checkpoint.as_dict(), "signature": signature}


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class ExportVerifier:
    """Checks an export line by line with no database, trusting only signed checkpoints.

    Feed it every line with its number (`check_line`), then `finish`. It raises
    `ExportMismatch` naming the first line that is wrong, and why (`reason`).
    """

    def __init__(self, operator: Ed25519PublicKey, witness: Ed25519PublicKey | None = None):
        self.operator, self.witness = operator, witness
        # Imported here: `ledger.audit_replay` reads the log through this module.
        from ledger.audit_replay import AuditReplay, leaf_hashes

        self.mapper = Mapper(transcoder=MsgpackTranscoder(EVENT_ENUMS))
        self._leaf_hashes = leaf_hashes
        self.tree = MerkleLog()
        self.running = RunningCommitment()  # written again only where balances moved
        # The lean decoding and the chart's rules (`ledger.audit_replay`), into the running
        # commitment: what the mapper and `postings` give, at a fraction of the cost.
        self._replay = AuditReplay(self.mapper, None, self.running, RunningCommitment.move)
        self.last_id = 0
        self.last_checkpoint: Checkpoint | None = None
        self.checkpoints = 0
        self.first_uncovered_line: int | None = None
        self.known: list[Checkpoint] = []  # checkpoints the auditor kept from before

    def check_line(self, number: int, text: str) -> None:
        fields = _parse(number, text)
        kind = fields.get("kind")
        if kind == "event":
            self._check_event(number, fields)
        elif kind == "checkpoint":
            self._check_checkpoint(number, fields)
        else:
            raise _mismatch(number, "malformed_line", f"unknown kind {kind!r}")

    def expect(self, checkpoint: Checkpoint, signature: bytes) -> None:
        """Require the export to reach a checkpoint the auditor kept from before, and to
        give exactly its root at its size (checked in `finish`). An export cut at one of
        its own checkpoints verifies on its own; only what the auditor already holds shows
        that it lost what came after. The kept checkpoint's signature is checked now
        (`InvalidCheckpointSignature`)."""
        verify(checkpoint, signature, self.operator)
        self.known.append(checkpoint)

    def finish(self, last_line: int) -> None:
        if self.last_checkpoint is None:
            raise _mismatch(last_line, "no_checkpoint", "the export has no checkpoint")
        if self.first_uncovered_line is not None:
            raise _mismatch(
                self.first_uncovered_line,
                "truncated",
                "no checkpoint covers the events from here on: the export is truncated",
            )
        for known in sorted(self.known, key=lambda checkpoint: checkpoint.log_size):
            self._check_known(last_line, known)

    def _check_known(self, last_line: int, known: Checkpoint) -> None:
        size = known.log_size
        if size > self.tree.size:
            raise _mismatch(
                last_line,
                "truncated_before_known_checkpoint",
                f"the export ends after {self.tree.size} events, before the signed checkpoint "
                f"of size {size} you kept: events it covered are missing",
            )
        if self.tree.root(size).hex() != known.root:
            raise _mismatch(
                last_line,
                "forked_from_known_checkpoint",
                f"the export's first {size} events do not hash to the root of the signed "
                "checkpoint of that size you kept: the log was rewritten since",
            )

    def _check_event(self, number: int, fields: dict[str, Any]) -> None:
        notification = _notification(number, fields)
        if notification.id <= self.last_id:
            raise _mismatch(number, "out_of_order", "notification ids must increase")
        originator, topic, state = (
            notification.originator_id.bytes,
            notification.topic,
            notification.state,
        )
        row = (notification.id, None, notification.originator_version, topic, state)
        (leaf,) = self._leaf_hashes([row], originator)
        if leaf.hex() != fields["leaf_hash"]:
            raise _mismatch(number, "leaf_hash_mismatch", "the leaf hash is not the event's")
        try:
            self._replay.replay(topic, originator, state)
        except Exception:  # noqa: BLE001 - untrusted bytes: any failure to decode is a bad line
            raise _mismatch(number, "undecodable_state", "the state does not decode") from None
        self.tree.append(leaf)
        self.last_id = notification.id
        if self.first_uncovered_line is None:
            self.first_uncovered_line = number

    def _check_checkpoint(self, number: int, fields: dict[str, Any]) -> None:
        checkpoint, signatures = _checkpoint(number, fields)
        self._check_signatures(number, checkpoint, signatures)
        size, previous = checkpoint.log_size, self.last_checkpoint
        if previous is not None and size <= previous.log_size:
            raise _mismatch(number, "not_extending", f"size {size} after size {previous.log_size}")
        if size != self.tree.size:
            raise _mismatch(
                number, "size_mismatch", f"size {size} but {self.tree.size} events precede it"
            )
        if self.tree.root(size).hex() != checkpoint.root:
            raise _mismatch(number, "root_mismatch", "the events do not hash to its root")
        if previous is not None and previous.log_size > 0:
            self._check_consistency(number, previous, checkpoint)
        if self.running.digest() != checkpoint.balances_sha256:
            raise _mismatch(number, "balances_mismatch", "replay gives other balances")
        self.last_checkpoint, self.first_uncovered_line = checkpoint, None
        self.checkpoints += 1

    def _check_signatures(
        self, number: int, checkpoint: Checkpoint, signatures: dict[str, bytes]
    ) -> None:
        keys = {"signature": self.operator, "witness_signature": self.witness}
        for name, key in keys.items():
            if key is None:
                continue
            if name not in signatures:
                raise _mismatch(number, f"missing_{name}", f"no {name}")
            try:
                verify(checkpoint, signatures[name], key)
            except InvalidCheckpointSignature as error:
                raise _mismatch(number, f"bad_{name}", f"{name}: {error.message}") from None

    def _check_consistency(self, number: int, old: Checkpoint, new: Checkpoint) -> None:
        proof = self.tree.consistency_proof(old.log_size, new.log_size)
        old_root, new_root = bytes.fromhex(old.root), bytes.fromhex(new.root)
        try:
            verify_consistency(old.log_size, new.log_size, old_root, new_root, proof)
        except InvalidProof as error:
            raise _mismatch(number, "inconsistent", error.message) from None


def _mismatch(number: int, reason: str, why: str) -> ExportMismatch:
    return ExportMismatch(f"line {number}: {why}", line=number, reason=reason)


def _parse(number: int, text: str) -> dict[str, Any]:
    if len(text) > MAX_LINE_CHARS:
        raise _mismatch(number, "malformed_line", f"longer than {MAX_LINE_CHARS} characters")
    try:
        fields = json.loads(text)
    except ValueError:
        raise _mismatch(number, "malformed_line", "not a JSON object") from None
    if not isinstance(fields, dict):
        raise _mismatch(number, "malformed_line", "not a JSON object")
    return fields


def _notification(number: int, fields: dict[str, Any]) -> Notification:
    if set(fields) != EVENT_FIELDS:
        raise _mismatch(number, "malformed_line", f"an event has the fields {sorted(EVENT_FIELDS)}")
    nid, version, topic = fields["notification_id"], fields["originator_version"], fields["topic"]
    if not (_is_count(nid) and nid > 0 and _is_count(version)):
        raise _mismatch(number, "malformed_line", "ids and versions are counts")
    if not isinstance(topic, str) or not topic.startswith(TRUSTED_TOPIC_PREFIX):
        raise _mismatch(number, "untrusted_topic", f"topics start with {TRUSTED_TOPIC_PREFIX}")
    try:
        originator_id = UUID(fields["originator_id"])
        state = b64decode(fields["state"])
    except (ValueError, TypeError, AttributeError):
        raise _mismatch(number, "malformed_line", "malformed originator id or state") from None
    if str(originator_id) != fields["originator_id"] or not isinstance(fields["leaf_hash"], str):
        raise _mismatch(number, "malformed_line", "originator ids are canonical")
    return Notification(originator_id, version, topic, state, id=nid)


def _checkpoint(number: int, fields: dict[str, Any]) -> tuple[Checkpoint, dict[str, bytes]]:
    body = {k: v for k, v in fields.items() if k != "kind" and k not in SIGNATURE_FIELDS}
    try:
        checkpoint = Checkpoint.from_dict(body)
        signatures = {k: b64decode(fields[k]) for k in SIGNATURE_FIELDS if k in fields}
    except InvalidCheckpoint as error:
        raise _mismatch(number, "malformed_checkpoint", error.message) from None
    except (ValueError, TypeError):
        raise _mismatch(number, "malformed_checkpoint", "a signature is not base64") from None
    return checkpoint, signatures


def _is_count(value: object) -> bool:
    return type(value) is int and 0 <= value <= MAX_ID


def b64decode(text: object) -> bytes:
    """Strict, canonical base64: one spelling per byte string."""
    if not isinstance(text, str):
        raise TypeError("base64 is text")
    data = base64.b64decode(text, validate=True)
    if b64encode(data) != text:
        raise ValueError("non-canonical base64")
    return data
