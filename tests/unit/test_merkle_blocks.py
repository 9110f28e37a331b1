"""A Merkle log that keeps only its taller subtrees (`ledger.merkle_blocks`) against the one
that keeps them all (`ledger.merkle.MerkleLog`): the same roots and proofs, node for node,
for every block size; and leaves read back that no longer match are refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import CheckpointMismatch
from ledger.merkle import MerkleLog, leaf_hash, verify_consistency, verify_inclusion
from ledger.merkle_blocks import BlockMerkleLog


def leaves_of(count: int) -> list[bytes]:
    return [leaf_hash(b"entry %d" % i) for i in range(count)]


def both(count: int, block_height: int, leaves: list[bytes] | None = None):
    leaves = leaves_of(count) if leaves is None else leaves
    reads: list[tuple[int, int]] = []

    def read(start: int, end: int) -> list[bytes]:
        reads.append((start, end))
        return leaves[start:end]

    full, blocks = MerkleLog(), BlockMerkleLog(read, block_height)
    full.extend(leaves[:count])
    blocks.extend(leaves[:count])
    return full, blocks, reads


@settings(max_examples=120)
@given(st.integers(min_value=1, max_value=140), st.integers(min_value=0, max_value=5), st.data())
def test_roots_and_proofs_are_those_of_the_full_log(count, block_height, data):
    full, blocks, _ = both(count, block_height)
    size = data.draw(st.integers(min_value=1, max_value=count))
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    old = data.draw(st.integers(min_value=1, max_value=size))
    assert blocks.size == full.size == count
    assert blocks.root() == full.root() and blocks.root(size) == full.root(size)
    path = blocks.inclusion_proof(index, size)
    assert path == full.inclusion_proof(index, size)
    verify_inclusion(leaves_of(count)[index], index, size, path, full.root(size))
    proof = blocks.consistency_proof(old, size)
    assert proof == full.consistency_proof(old, size)
    verify_consistency(old, size, full.root(old), full.root(size), proof)


def test_only_the_taller_subtrees_are_kept_and_blocks_are_read_once_while_cached():
    full, blocks, reads = both(5000, 10)
    kept = sum(len(level) for level in blocks._levels)
    assert kept == 32 * (4 + 2 + 1)  # 4 blocks of 1,024, 2 of 2,048, 1 of 4,096
    assert sum(len(level) for level in full._levels) > 300_000
    assert blocks.inclusion_proof(10, 5000) == full.inclusion_proof(10, 5000)
    assert blocks.inclusion_proof(11, 5000) == full.inclusion_proof(11, 5000)
    assert blocks.inclusion_proof(4999, 5000) == full.inclusion_proof(4999, 5000)
    assert (0, 1024) in reads and (4096, 5000) in reads
    assert reads.count((0, 1024)) == 1  # the second proof in that block read nothing


@pytest.mark.parametrize("index", [3, 1030])  # in the complete first block; in the last one
def test_leaves_read_back_that_changed_are_refused(index):
    leaves = leaves_of(1100)
    _, blocks, _ = both(1100, 10, leaves)
    leaves[index] = leaf_hash(b"rewritten")  # the log changed after the tree was built
    with pytest.raises(CheckpointMismatch):
        blocks.inclusion_proof(index, 1100)
