"""A Merkle log that keeps only its taller subtrees, and reads the shorter ones back.

`ledger.merkle.MerkleLog` keeps every leaf hash and every perfect subtree: about 64 bytes
an event, so a server answering proofs over a log of tens of millions of events would
hold gigabytes. `BlockMerkleLog` keeps the perfect subtrees of 2**block_height leaves and
taller (with 10, 1,024 leaves: 1/16 of a byte an event) and the frontier; a proof that
needs a shorter subtree reads the leaves of its block again (`leaves(start, end)`: at most
2**block_height of them) and hashes them, keeping the last few blocks. The proofs are the
RFC 9162 ones of `MerkleLog`, node for node (tests/unit/test_merkle_blocks.py).

Leaves read back are checked against the tree: a complete block must hash to the subtree
root kept for it, the last, partial one to the frontier's shorter subtrees. Otherwise the
log changed under the tree and `CheckpointMismatch` says so, rather than a wrong proof.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence

from ledger.errors import CheckpointMismatch
from ledger.merkle import MerkleLog

CACHED_BLOCKS = 8  # blocks of leaves kept after being read back

Leaves = Callable[[int, int], Sequence[bytes]]  # the leaf hashes of leaves [start, end)


class BlockMerkleLog(MerkleLog):
    __slots__ = ("_blocks", "_read")

    def __init__(self, leaves: Leaves, block_height: int = 10) -> None:
        super().__init__(keep_from=block_height)  # the shorter levels stay empty
        self._read = leaves
        self._blocks: OrderedDict[tuple[int, int], MerkleLog] = OrderedDict()

    def _node(self, height: int, index: int) -> bytes:
        keep = self._keep_from
        if height >= keep:
            return super()._node(height, index)
        block = (index << height) >> keep
        return self._block(block)._node(height, index - (block << (keep - height)))

    def _block(self, block: int) -> MerkleLog:
        """The full tree of one block's leaves, read back (the last block: as far as it goes)."""
        keep = self._keep_from
        start = block << keep
        end = min(start + (1 << keep), self._size)
        key = (block, end)
        tree = self._blocks.get(key)
        if tree is not None:
            self._blocks.move_to_end(key)
            return tree
        tree = MerkleLog()
        tree.extend(self._read(start, end))
        self._check(tree, block, start, end)
        self._blocks[key] = tree
        if len(self._blocks) > CACHED_BLOCKS:
            self._blocks.popitem(last=False)
        return tree

    def _check(self, tree: MerkleLog, block: int, start: int, end: int) -> None:
        keep = self._keep_from
        if end - start == 1 << keep:  # complete: its root is kept
            same = tree.size == end - start and tree.root() == super()._node(keep, block)
        else:  # the last block: its perfect subtrees end the frontier
            tail = bin(end - start).count("1")
            same = tree.size == end - start and tree._roots == self._roots[-tail:]
        if not same:
            raise CheckpointMismatch(
                f"the log's events {start + 1} to {end} no longer hash to the tree built "
                "from them: the log changed under it",
                start=start,
                end=end,
            )
