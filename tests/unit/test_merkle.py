"""Merkle tree heads and proofs: the RFC 9162 definitions, published vectors, and properties.

The reference below is the RFC's recursive definition written out directly over entries
(MTH, PATH, PROOF of RFC 9162 sections 2.1.1, 2.1.3.1 and 2.1.4.1), independent of
`ledger.merkle`: the log, the frontier and the proofs must agree with it everywhere.
"""

from __future__ import annotations

import hashlib
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import InvalidInput
from ledger.merkle import (
    EMPTY_ROOT,
    InvalidProof,
    InvalidTreeSize,
    MerkleFrontier,
    MerkleLog,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

# The RFC's definitions, directly -------------------------------------------------------


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def split_point(n: int) -> int:
    """k, the largest power of two smaller than n, found by doubling."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(entries: list[bytes]) -> bytes:
    if not entries:
        return sha256(b"")
    if len(entries) == 1:
        return sha256(b"\x00" + entries[0])
    k = split_point(len(entries))
    return sha256(b"\x01" + mth(entries[:k]) + mth(entries[k:]))


def path(m: int, entries: list[bytes]) -> list[bytes]:
    if len(entries) == 1:
        return []
    k = split_point(len(entries))
    if m < k:
        return [*path(m, entries[:k]), mth(entries[k:])]
    return [*path(m - k, entries[k:]), mth(entries[:k])]


def proof(m: int, entries: list[bytes]) -> list[bytes]:
    return subproof(m, entries, True)


def subproof(m: int, entries: list[bytes], b: bool) -> list[bytes]:
    if m == len(entries):
        return [] if b else [mth(entries)]
    k = split_point(len(entries))
    if m <= k:
        return [*subproof(m, entries[:k], b), mth(entries[k:])]
    return [*subproof(m - k, entries[k:], False), mth(entries[:k])]


# Published vectors: transparency-dev/merkle, testonly/constants.go (leaves and roots) and
# proof/verify_test.go (proofs; its leaf numbers are 1-based, ours 0-based indexes).
CT_ENTRIES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
    bytes.fromhex(h)
    for h in (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
H = {
    name: bytes.fromhex(h)
    for name, h in {
        "leaf0": "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "leaf1": "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "leaf4": "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "leaf6": "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "node01": "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "node23": "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "node45": "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "node67": "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "node0123": "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "node4567": "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    }.items()
}
CT_INCLUSION = [  # (index, size, proof)
    (0, 8, ["leaf1", "node23", "node4567"]),
    (5, 8, ["leaf4", "node67", "node0123"]),
    (2, 3, ["node01"]),
    (1, 5, ["leaf0", "node23", "leaf4"]),
]
CT_CONSISTENCY = [  # (old size, new size, proof)
    (1, 8, ["leaf1", "node23", "node4567"]),
    (6, 8, ["node45", "node67", "node0123"]),
    (2, 5, ["node23", "leaf4"]),
    (6, 7, ["node45", "leaf6", "node0123"]),
]


def log_of(entries: list[bytes]) -> MerkleLog:
    log = MerkleLog()
    log.extend(leaf_hash(entry) for entry in entries)
    return log


# One log for the properties, built once: proofs between any of its past sizes.
ENTRIES = [f"event {i}".encode() for i in range(3000)]
LOG = log_of(ENTRIES)

sizes = st.integers(min_value=1, max_value=len(ENTRIES))
leaves_in_trees = sizes.flatmap(lambda n: st.tuples(st.integers(0, n - 1), st.just(n)))
size_pairs = sizes.flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n)))


# Known answers -------------------------------------------------------------------------


def test_the_root_of_the_empty_tree_is_the_sha256_of_the_empty_string():
    assert EMPTY_ROOT == hashlib.sha256(b"").digest() == CT_ROOTS[0]
    assert MerkleLog().root() == MerkleLog().root(0) == MerkleFrontier().root() == EMPTY_ROOT


def test_a_leaf_hashes_after_a_zero_byte_and_a_node_after_a_one_byte():
    # Computed by hand with hashlib from the RFC's formulas, then the published values.
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    left, right = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert node_hash(left, right) != node_hash(right, left)
    assert leaf_hash(b"") == H["leaf0"] == CT_ROOTS[1]
    assert node_hash(leaf_hash(b""), leaf_hash(b"\x00")) == H["node01"] == CT_ROOTS[2]


def test_the_published_roots_are_reproduced_for_every_size_from_0_to_8():
    log, frontier = MerkleLog(), MerkleFrontier()
    for size, entry in enumerate(CT_ENTRIES, start=1):
        log.append(leaf_hash(entry))
        frontier.append(leaf_hash(entry))
        assert log.root() == frontier.root() == CT_ROOTS[size]
    assert [log.root(size) for size in range(9)] == CT_ROOTS


@pytest.mark.parametrize(("index", "size", "names"), CT_INCLUSION)
def test_the_published_inclusion_proofs_are_produced_and_verify(index, size, names):
    published = [H[name] for name in names]
    assert log_of(CT_ENTRIES).inclusion_proof(index, size) == published
    verify_inclusion(leaf_hash(CT_ENTRIES[index]), index, size, published, CT_ROOTS[size])


@pytest.mark.parametrize(("old_size", "new_size", "names"), CT_CONSISTENCY)
def test_the_published_consistency_proofs_are_produced_and_verify(old_size, new_size, names):
    published = [H[name] for name in names]
    assert log_of(CT_ENTRIES).consistency_proof(old_size, new_size) == published
    verify_consistency(old_size, new_size, CT_ROOTS[old_size], CT_ROOTS[new_size], published)


def test_every_root_up_to_64_leaves_follows_the_rfc_definition():
    log, frontier = MerkleLog(), MerkleFrontier()
    for size in range(65):
        assert log.size == frontier.size == size
        assert log.root() == frontier.root() == mth(ENTRIES[:size])
        log.append(leaf_hash(ENTRIES[size]))
        frontier.append(leaf_hash(ENTRIES[size]))
    assert [log.root(size) for size in range(65)] == [mth(ENTRIES[:n]) for n in range(65)]


def test_every_proof_in_trees_up_to_40_leaves_is_the_rfc_definition_and_verifies():
    log = log_of(ENTRIES[:40])
    for size in range(1, 41):
        root = log.root(size)
        for index in range(size):
            expected = path(index, ENTRIES[:size])
            assert log.inclusion_proof(index, size) == expected
            verify_inclusion(leaf_hash(ENTRIES[index]), index, size, expected, root)
        for old_size in range(1, size + 1):
            expected = proof(old_size, ENTRIES[:size])
            assert log.consistency_proof(old_size, size) == expected
            verify_consistency(old_size, size, log.root(old_size), root, expected)


@given(st.integers(min_value=0, max_value=len(ENTRIES)))
def test_the_root_of_any_past_size_follows_the_rfc_definition(size):
    frontier = MerkleFrontier()
    frontier.extend(leaf_hash(entry) for entry in ENTRIES[:size])
    assert LOG.root(size) == frontier.root() == mth(ENTRIES[:size])


# Properties: a clean proof is never refused ---------------------------------------------


@given(leaves_in_trees)
def test_every_inclusion_proof_verifies_and_is_the_rfc_path(leaf_in_tree):
    index, size = leaf_in_tree
    inclusion = LOG.inclusion_proof(index, size)
    assert inclusion == path(index, ENTRIES[:size])
    assert len(inclusion) <= math.ceil(math.log2(size))
    verify_inclusion(leaf_hash(ENTRIES[index]), index, size, inclusion, LOG.root(size))


@given(size_pairs)
def test_every_consistency_proof_verifies_and_is_the_rfc_proof(pair):
    old_size, new_size = pair
    consistency = LOG.consistency_proof(old_size, new_size)
    assert consistency == proof(old_size, ENTRIES[:new_size])
    assert len(consistency) <= math.ceil(math.log2(new_size)) + 1
    verify_consistency(old_size, new_size, LOG.root(old_size), LOG.root(new_size), consistency)


@given(sizes)
def test_a_consistency_proof_between_equal_sizes_is_empty_and_verifies(size):
    assert LOG.consistency_proof(size, size) == []
    verify_consistency(size, size, LOG.root(size), LOG.root(size), [])


def test_proofs_may_be_tuples_and_are_left_as_given():
    consistency = LOG.consistency_proof(4, 11)  # 4 is a power of two: step 2 prepends
    as_given = list(consistency)
    verify_consistency(4, 11, LOG.root(4), LOG.root(11), consistency)
    verify_consistency(4, 11, LOG.root(4), LOG.root(11), tuple(consistency))
    assert consistency == as_given


# The log refuses what it cannot answer for, and stays as it was -------------------------


@pytest.mark.parametrize(
    ("ask", "args"),
    [
        ("root", (9,)),
        ("root", (-1,)),
        ("root", (2.0,)),
        ("inclusion_proof", (8, 8)),
        ("inclusion_proof", (-1, 8)),
        ("inclusion_proof", (0, 9)),
        ("inclusion_proof", (0, 0)),
        ("consistency_proof", (0, 8)),
        ("consistency_proof", (5, 4)),
        ("consistency_proof", (1, 9)),
        ("consistency_proof", (True, 8)),
    ],
)
def test_the_log_refuses_sizes_and_indexes_beyond_what_it_holds(ask, args):
    log = log_of(CT_ENTRIES)
    with pytest.raises(InvalidTreeSize) as refusal:
        getattr(log, ask)(*args)
    assert refusal.value.code == "invalid_tree_size"
    assert log.size == 8 and log.root() == CT_ROOTS[8]


def test_the_errors_are_invalid_input_with_stable_codes_and_a_reason():
    assert issubclass(InvalidProof, InvalidInput) and issubclass(InvalidTreeSize, InvalidInput)
    assert (InvalidProof.code, InvalidTreeSize.code) == ("invalid_proof", "invalid_tree_size")
    with pytest.raises(InvalidProof) as refusal:
        verify_inclusion(H["leaf0"], 1, 1, [], CT_ROOTS[1])
    assert refusal.value.as_dict()["code"] == "invalid_proof"
    assert refusal.value.as_dict()["reason"] == "index_beyond_size"


# A million leaves: streamed or stored, the same root; proofs at that size ---------------


@pytest.mark.slow
def test_a_million_leaves_give_one_root_streamed_or_stored_and_their_proofs_verify():
    size = 1_000_000
    leaves = [i.to_bytes(32, "big") for i in range(size)]  # any 32 bytes make a leaf hash
    log, frontier = MerkleLog(), MerkleFrontier()
    log.extend(leaves)
    frontier.extend(leaves)
    root = log.root()
    assert root == frontier.root() == log.root(size)
    index, old_size = 765_432, 654_321
    inclusion = log.inclusion_proof(index, size)
    assert len(inclusion) == 20
    verify_inclusion(leaves[index], index, size, inclusion, root)
    consistency = log.consistency_proof(old_size, size)
    verify_consistency(old_size, size, log.root(old_size), root, consistency)
    frontier_then = MerkleFrontier()
    frontier_then.extend(leaves[:old_size])
    assert frontier_then.root() == log.root(old_size)


# A frontier built from the perfect subtrees of another (the two-core audit pass) ----------


@given(st.integers(min_value=0, max_value=300), st.integers(min_value=0, max_value=5), st.data())
def test_a_frontier_grown_by_aligned_subtrees_has_the_root_of_all_leaves(count, height, data):
    """The first part's leaves, then the rest as blocks of 2**height leaves and the perfect
    subtrees of the last block: the root the RFC gives all the leaves."""
    entries = [b"entry %d" % i for i in range(count)]
    block = 1 << height
    cut = data.draw(st.integers(min_value=0, max_value=count // block)) * block
    frontier = MerkleFrontier()
    frontier.extend(leaf_hash(e) for e in entries[:cut])
    for start in range(cut, count, block):
        part = MerkleFrontier()
        part.extend(leaf_hash(e) for e in entries[start : start + block])
        for root, subtree_height in part.perfect_subtrees():
            frontier.append_subtree(root, subtree_height)
    assert frontier.size == count
    assert frontier.root() == mth(entries)


@given(st.integers(min_value=1, max_value=200))
def test_the_perfect_subtrees_are_one_per_set_bit_of_the_size_tallest_first(count):
    entries = [b"e%d" % i for i in range(count)]
    frontier = MerkleFrontier()
    frontier.extend(leaf_hash(e) for e in entries)
    subtrees = frontier.perfect_subtrees()
    assert [h for _, h in subtrees] == [h for h in range(8, -1, -1) if count >> h & 1]
    start = 0
    for root, height in subtrees:  # each is the RFC root of its own range of leaves
        assert root == mth(entries[start : start + (1 << height)])
        start += 1 << height


def test_a_subtree_that_would_not_start_at_a_multiple_of_its_size_is_refused():
    frontier = MerkleFrontier()
    frontier.extend([leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c")])
    with pytest.raises(InvalidTreeSize):
        frontier.append_subtree(leaf_hash(b"x"), 1)  # 2 leaves at size 3
    assert frontier.size == 3  # nothing changed
    frontier.append_subtree(leaf_hash(b"d"), 0)  # one leaf: always aligned
    assert frontier.root() == mth([b"a", b"b", b"c", b"d"])
