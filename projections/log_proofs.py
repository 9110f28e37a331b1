"""Proofs from the log against its stored signed checkpoints, for the CLI and the API.

An inclusion proof needs the tree's inner nodes, which no checkpoint keeps: this builds the
log's Merkle tree (`ledger.merkle.MerkleLog`, about 64 bytes per event, plus 8 for its log
position) from the events in memory, once per process, and extends it as larger
checkpoints are asked for: never beyond the largest one asked, and never beyond
`MAX_PROOF_LEAVES` events (a larger one is refused with `ProofsUnavailable`). Before each
proof the tree's root at the checkpoint's size is checked against the signed root; a
difference means the log was rewritten under a signature (`CheckpointMismatch`).

Proofs are answered only against stored checkpoints (`projections.checkpoint_store`): the
documents (`ledger.proofs`) carry them, signatures included, so an auditor checks a proof
with nothing but the operator's public key. Calls are blocking and thread-safe.
"""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_left
from typing import Any

from ledger.application import LedgerApplication
from ledger.audit_log import notification_leaf_hash
from ledger.errors import (
    CheckpointMismatch,
    CheckpointNotFound,
    EventNotFound,
    InvalidTreeSize,
    ProofsUnavailable,
)
from ledger.merkle import MerkleLog
from ledger.proofs import SignedCheckpoint, consistency_document, inclusion_document
from projections.checkpoint_store import CheckpointStore

MAX_PROOF_LEAVES = 2**21  # events in the tree kept in memory: about 150 MB at most
PAGE_SIZE = 1000  # notifications read per query while extending the tree


class LogProofs:
    def __init__(
        self, app: LedgerApplication, store: CheckpointStore, max_leaves: int = MAX_PROOF_LEAVES
    ) -> None:
        self.app, self.store, self.max_leaves = app, store, max_leaves
        self._lock = threading.Lock()
        self._tree = MerkleLog()
        self._ids = array("Q")  # the log position of each leaf, in order
        self._position = 0  # the log position of the last leaf

    def checkpoint(self, size: int | None = None) -> SignedCheckpoint:
        """The stored checkpoint of this size, or the latest one."""
        if size is not None:
            return self.store.by_size(size)
        latest = self.store.latest()
        if latest is None:
            raise CheckpointNotFound("no checkpoint has been signed yet")
        return latest

    def inclusion(self, position: int, size: int | None = None) -> dict[str, Any]:
        """The proof that the event at `position` is in the checkpoint of `size` (default:
        the latest)."""
        signed = self.checkpoint(size)
        with self._lock:
            self._extend_to(signed)
            index = bisect_left(self._ids, position, 0, signed.log_size)
            if index == signed.log_size or self._ids[index] != position:
                raise EventNotFound(
                    f"no event at position {position} among the {signed.log_size} events of "
                    "that checkpoint",
                    position=position,
                    log_size=signed.log_size,
                )
            path = self._tree.inclusion_proof(index, signed.log_size)
        leaf = self._leaf(position)
        return inclusion_document(position, leaf, index, path, signed)

    def consistency(self, old_size: int, new_size: int) -> dict[str, Any]:
        """The proof that the checkpoint of `old_size` is a prefix of that of `new_size`."""
        if not 0 < old_size <= new_size:
            raise InvalidTreeSize(
                f"no consistency proof from size {old_size} to {new_size}: the first is "
                "non-empty and no larger than the second",
                old_size=old_size,
                new_size=new_size,
            )
        old, new = self.store.by_size(old_size), self.store.by_size(new_size)
        with self._lock:
            self._extend_to(new)
            self._check_root(old)
            path = self._tree.consistency_proof(old_size, new_size)
        return consistency_document(path, old, new)

    def _extend_to(self, signed: SignedCheckpoint) -> None:
        """Grow the tree up to this checkpoint's last event, then check its root."""
        assert signed.position is not None
        if signed.log_size > self.max_leaves:
            raise ProofsUnavailable(
                f"proofs are served over the first {self.max_leaves} events of the log; "
                "check larger checkpoints with an export (`tirelire export`)"
            )
        recorder = self.app.recorder
        while self._tree.size < signed.log_size and self._position < signed.position:
            page = recorder.select_notifications(
                self._position, PAGE_SIZE, signed.position, inclusive_of_start=False
            )
            if not page:
                break
            self._tree.extend(notification_leaf_hash(n) for n in page)
            self._ids.extend(n.id for n in page)
            self._position = page[-1].id
        self._check_root(signed)

    def _check_root(self, signed: SignedCheckpoint) -> None:
        size = signed.log_size
        if (
            self._tree.size < size
            or self._ids[size - 1] != signed.position
            or self._tree.root(size) != signed.root
        ):
            raise CheckpointMismatch(
                f"the log no longer gives the signed checkpoint of size {size}",
                log_size=size,
            )

    def _leaf(self, position: int) -> bytes:
        (notification,) = self.app.recorder.select_notifications(position, 1, position)
        return notification_leaf_hash(notification)
