"""Proofs from the log against its stored signed checkpoints, for the CLI and the API.

An inclusion proof needs the tree's inner nodes, which no checkpoint keeps: this builds the
log's Merkle tree once per process (leaf hashes of the stored rows, nothing decoded) and
extends it as larger checkpoints are asked for, never beyond the largest one asked. It
keeps only the subtrees of 1,024 events and taller (`ledger.merkle_blocks`, about 1/16 of
a byte an event, plus the log position of each block's first event: 8 bytes a block); a
proof reads back the events of the one or two blocks it needs (1,024 rows each, the last
few blocks kept). Before each proof the tree's root at the checkpoint's size is checked
against the signed root; a difference means the log was rewritten under a signature
(`CheckpointMismatch`), as do events read back that no longer hash as they did.

Proofs are answered only against stored checkpoints (`projections.checkpoint_store`): the
documents (`ledger.proofs`) carry them, signatures included, so an auditor checks a proof
with nothing but the operator's public key. Calls are blocking and thread-safe.
"""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from typing import Any

from ledger.application import LedgerApplication
from ledger.audit_replay import leaf_hashes, stored_rows
from ledger.errors import (
    CheckpointMismatch,
    CheckpointNotFound,
    EventNotFound,
    InvalidTreeSize,
)
from ledger.merkle_blocks import CACHED_BLOCKS, BlockMerkleLog
from ledger.proofs import SignedCheckpoint, consistency_document, inclusion_document
from projections.checkpoint_store import CheckpointStore

BLOCK_HEIGHT = 10  # subtrees of 2**10 events and taller are kept; shorter ones read back
BLOCK = 1 << BLOCK_HEIGHT
PAGE_SIZE = 10_000  # rows read per query while extending the tree


class LogProofs:
    def __init__(self, app: LedgerApplication, store: CheckpointStore) -> None:
        self.app, self.store = app, store
        self._lock = threading.Lock()
        self._tree = BlockMerkleLog(self._leaves, BLOCK_HEIGHT)
        self._firsts = array("Q")  # the log position of each block's first event
        self._position = 0  # the log position of the last leaf
        self._cache: OrderedDict[tuple[int, int], tuple[list[int], list[bytes]]] = OrderedDict()

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
            index = self._index_of(position, signed.log_size)
            if index is None:
                raise EventNotFound(
                    f"no event at position {position} among the {signed.log_size} events of "
                    "that checkpoint",
                    position=position,
                    log_size=signed.log_size,
                )
            path = self._tree.inclusion_proof(index, signed.log_size)
            leaf = self._block_rows(index >> BLOCK_HEIGHT)[1][index % BLOCK]
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
        tree, firsts = self._tree, self._firsts
        if tree.size < signed.log_size and self._position < signed.position:
            pages = stored_rows(self.app.recorder, signed.position, PAGE_SIZE, self._position)
            for rows, ids in pages:
                firsts.extend(rows[at][0] for at in range(-tree.size % BLOCK, len(rows), BLOCK))
                tree.extend(leaf_hashes(rows, ids))
                self._position = rows[-1][0]
        self._check_root(signed)

    def _check_root(self, signed: SignedCheckpoint) -> None:
        size = signed.log_size
        if (
            self._tree.size < size
            or self._position_of(size - 1) != signed.position
            or self._tree.root(size) != signed.root
        ):
            raise CheckpointMismatch(
                f"the log no longer gives the signed checkpoint of size {size}",
                log_size=size,
            )

    def _index_of(self, position: int, size: int) -> int | None:
        """The leaf index of the event at `position` among the first `size`, if there."""
        block = bisect_right(self._firsts, position) - 1
        if block < 0:
            return None
        positions = self._block_rows(block)[0]
        at = bisect_left(positions, position)
        index = (block << BLOCK_HEIGHT) + at
        found = at < len(positions) and positions[at] == position
        return index if found and index < size else None

    def _position_of(self, index: int) -> int:
        return self._block_rows(index >> BLOCK_HEIGHT)[0][index % BLOCK]

    def _leaves(self, start: int, end: int) -> list[bytes]:
        """The leaf hashes of leaves [start, end) of one block, read back (the tree's)."""
        return self._block_rows(start >> BLOCK_HEIGHT)[1][: end - start]

    def _block_rows(self, block: int) -> tuple[list[int], list[bytes]]:
        """The positions and leaf hashes of one block's events (as far as the tree goes),
        the last few blocks kept."""
        end = min((block + 1) << BLOCK_HEIGHT, self._tree.size)
        key = (block, end)
        cached = self._cache.get(key)
        if cached is None:
            count, first = end - (block << BLOCK_HEIGHT), self._firsts[block]
            pages = stored_rows(self.app.recorder, self._position, count, first - 1)
            rows, ids = next(pages, ([], b""))
            if len(rows) != count or rows[0][0] != first:
                raise CheckpointMismatch(
                    f"the log's events from position {first} are no longer those the tree "
                    "was built from",
                    position=first,
                )
            cached = ([row[0] for row in rows], leaf_hashes(rows, ids))
            self._cache[key] = cached
            if len(self._cache) > CACHED_BLOCKS:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return cached
