"""Hostile proofs: every forgery, tampering or mix-up is refused, and a clean proof never is.

Each property first checks that the clean proof verifies (no false alarm), then that the
altered one is refused with `InvalidProof`. The fn/sn walk of RFC 9162 depends only on the
sizes, so a proof one element too long or too short fails whatever its values; any other
change would need a SHA-256 collision to pass.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ledger.merkle import (
    MAX_PROOF_HASHES,
    MAX_TREE_SIZE,
    InvalidProof,
    MerkleLog,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

ENTRIES = [f"entry {i}".encode() for i in range(300)]
LEAVES = [leaf_hash(entry) for entry in ENTRIES]
LOG = MerkleLog()
LOG.extend(LEAVES)

hashes = st.binary(min_size=32, max_size=32)
sizes = st.integers(min_value=2, max_value=len(ENTRIES))  # from 2: every proof has a hash
leaves_in_trees = sizes.flatmap(lambda n: st.tuples(st.integers(0, n - 1), st.just(n)))
size_pairs = sizes.flatmap(lambda n: st.tuples(st.integers(1, n - 1), st.just(n)))


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def refused(verify, *args) -> InvalidProof:
    with pytest.raises(InvalidProof) as refusal:
        verify(*args)
    assert refusal.value.code == "invalid_proof"
    return refusal.value


def clean_inclusion(index: int, size: int) -> tuple[bytes, int, int, list[bytes], bytes]:
    """A clean inclusion claim, checked to verify before it is tampered with."""
    claim = (LEAVES[index], index, size, LOG.inclusion_proof(index, size), LOG.root(size))
    verify_inclusion(*claim)
    return claim


def clean_consistency(old_size: int, new_size: int) -> tuple[int, int, bytes, bytes, list]:
    claim = (
        old_size,
        new_size,
        LOG.root(old_size),
        LOG.root(new_size),
        LOG.consistency_proof(old_size, new_size),
    )
    verify_consistency(*claim)
    return claim


def tampered(proof: list[bytes], how: str, data: st.DataObject) -> list[bytes]:
    """The proof with one element flipped, removed, added, duplicated, or two swapped."""
    proof = list(proof)
    at = data.draw(st.integers(0, len(proof) - 1))
    if how == "flip":
        bit = data.draw(st.integers(0, 255))
        element = bytearray(proof[at])
        element[bit // 8] ^= 1 << (bit % 8)
        proof[at] = bytes(element)
    elif how == "remove":
        del proof[at]
    elif how == "add":
        proof.insert(data.draw(st.integers(0, len(proof))), data.draw(hashes))
    elif how == "duplicate":
        proof.insert(at, proof[at])
    else:
        other = data.draw(st.integers(0, len(proof) - 1).filter(lambda i: i != at))
        proof[at], proof[other] = proof[other], proof[at]
    return proof


tamperings = st.sampled_from(["flip", "remove", "add", "duplicate", "swap"])


# Inclusion proofs ----------------------------------------------------------------------


@given(leaves_in_trees, tamperings, st.data())
def test_a_tampered_inclusion_proof_is_refused(leaf_in_tree, how, data):
    leaf, index, size, proof, root = clean_inclusion(*leaf_in_tree)
    assume(how != "swap" or len(proof) > 1)
    refused(verify_inclusion, leaf, index, size, tampered(proof, how, data), root)


@given(leaves_in_trees, st.data())
def test_an_inclusion_proof_under_another_index_is_refused(leaf_in_tree, data):
    leaf, index, size, proof, root = clean_inclusion(*leaf_in_tree)
    other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index))
    refused(verify_inclusion, leaf, other, size, proof, root)


@given(leaves_in_trees, st.integers(min_value=0, max_value=5))
def test_an_index_at_or_beyond_the_size_is_refused(leaf_in_tree, beyond):
    leaf, _, size, proof, root = clean_inclusion(*leaf_in_tree)
    refusal = refused(verify_inclusion, leaf, size + beyond, size, proof, root)
    assert refusal.details["reason"] == "index_beyond_size"
    refused(verify_inclusion, leaf, -1, size, proof, root)


@given(leaves_in_trees, st.data())
def test_a_leaf_from_another_position_is_refused(leaf_in_tree, data):
    _, index, size, proof, root = clean_inclusion(*leaf_in_tree)
    other = data.draw(st.integers(0, len(LEAVES) - 1).filter(lambda i: i != index))
    refused(verify_inclusion, LEAVES[other], index, size, proof, root)


@given(leaves_in_trees, sizes)
def test_an_inclusion_proof_for_another_size_is_refused(leaf_in_tree, other_size):
    leaf, index, size, proof, root = clean_inclusion(*leaf_in_tree)
    assume(index < other_size != size)
    other_proof = LOG.inclusion_proof(index, other_size)
    assume(other_proof != proof)  # the same hashes would be the right proof
    refused(verify_inclusion, leaf, index, size, other_proof, root)
    refused(verify_inclusion, leaf, index, size, proof, LOG.root(other_size))


def test_no_leaf_is_in_the_empty_tree():
    empty_root = sha256(b"")
    refused(verify_inclusion, LEAVES[0], 0, 0, [], empty_root)
    refused(verify_inclusion, empty_root, 0, 0, [], empty_root)


def test_a_tree_of_one_leaf_takes_an_empty_proof_and_nothing_else():
    verify_inclusion(LEAVES[0], 0, 1, [], LEAVES[0])
    refused(verify_inclusion, LEAVES[0], 0, 1, [LEAVES[1]], node_hash(LEAVES[0], LEAVES[1]))
    refused(verify_inclusion, LEAVES[1], 0, 1, [], LEAVES[0])


# Second preimages: an interior node never passes for a leaf -----------------------------


def test_interior_nodes_presented_as_entries_are_refused():
    # Four entries: g = node(L0, L1), h = node(L2, L3), root = node(g, h). The forger
    # presents the 64 bytes L0 || L1 as an entry whose leaf would be g, beside h: a tree
    # of two forged entries with the root of the four.
    h = node_hash(LEAVES[2], LEAVES[3])
    forged = [LEAVES[0] + LEAVES[1], LEAVES[2] + LEAVES[3]]
    refused(verify_inclusion, leaf_hash(forged[0]), 0, 2, [h], LOG.root(4))
    forged_log = MerkleLog()
    forged_log.extend(leaf_hash(entry) for entry in forged)
    assert forged_log.root() != LOG.root(4)
    # Without the 0x00 and 0x01 prefixes the forgery passes: the prefixes are what refuse it.
    leaves = [sha256(entry) for entry in ENTRIES[:4]]
    plain_root = sha256(sha256(leaves[0] + leaves[1]) + sha256(leaves[2] + leaves[3]))
    plain_forged = [leaves[0] + leaves[1], leaves[2] + leaves[3]]
    assert sha256(sha256(plain_forged[0]) + sha256(plain_forged[1])) == plain_root


def test_an_interior_node_presented_as_a_leaf_of_the_heads_tree_is_refused():
    g, h = LOG.root(2), node_hash(LEAVES[2], LEAVES[3])
    for index in range(4):
        refused(verify_inclusion, g, index, 4, [h], LOG.root(4))
    refused(verify_inclusion, LOG.root(4), 0, 4, [], LOG.root(4))


# Malformed input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "malformed",
    [
        b"\x00" * 31,  # truncated
        b"\x00" * 33,
        b"",
        "ab" * 16,  # text, not bytes
        bytearray(32),
        None,
    ],
)
def test_a_hash_that_is_not_32_bytes_is_refused_wherever_it_appears(malformed):
    leaf, index, size, proof, root = clean_inclusion(5, 11)
    for at in range(len(proof)):
        bad = [*proof[:at], malformed, *proof[at + 1 :]]
        refusal = refused(verify_inclusion, leaf, index, size, bad, root)
        assert refusal.details["reason"] == "malformed_hash"
    refused(verify_inclusion, malformed, index, size, proof, root)
    refused(verify_inclusion, leaf, index, size, proof, malformed)
    old, new, old_root, new_root, consistency = clean_consistency(5, 11)
    refused(verify_consistency, old, new, old_root, new_root, [*consistency[:-1], malformed])
    refused(verify_consistency, old, new, malformed, new_root, consistency)
    refused(verify_consistency, old, new, old_root, malformed, consistency)


def test_a_truncated_element_is_refused_even_when_its_32_byte_form_would_verify():
    leaf, index, size, proof, root = clean_inclusion(6, 8)
    bad = [proof[0][:31], *proof[1:]]
    assert refused(verify_inclusion, leaf, index, size, bad, root).details["reason"] == (
        "malformed_hash"
    )


@pytest.mark.parametrize("count", [-1, True, 2.0, "3", None, MAX_TREE_SIZE + 1])
def test_sizes_and_indexes_that_are_not_counts_are_refused(count):
    leaf, index, size, proof, root = clean_inclusion(1, 3)
    old, new, old_root, new_root, consistency = clean_consistency(2, 3)
    for verify, *claim in [
        (verify_inclusion, leaf, count, size, proof, root),
        (verify_inclusion, leaf, index, count, proof, root),
        (verify_consistency, count, new, old_root, new_root, consistency),
        (verify_consistency, old, count, old_root, new_root, consistency),
    ]:
        assert refused(verify, *claim).details["reason"] == "malformed_size"


def test_a_proof_that_is_not_a_list_of_hashes_is_refused():
    leaf, index, size, proof, root = clean_inclusion(0, 2)
    refused(verify_inclusion, leaf, index, size, b"".join(proof), root)
    refused(verify_inclusion, leaf, index, size, iter(proof), root)


def test_a_proof_over_the_limit_is_refused_before_its_hashes_are_read():
    leaf, index, size, proof, root = clean_inclusion(0, 2)
    for too_long in (proof * (MAX_PROOF_HASHES + 1), [None] * (MAX_PROOF_HASHES + 1)):
        refusal = refused(verify_inclusion, leaf, index, size, too_long, root)
        assert refusal.details["reason"] == "proof_too_long"
        refusal = refused(verify_consistency, 1, 2, LEAVES[0], root, too_long)
        assert refusal.details["reason"] == "proof_too_long"


@given(leaves_in_trees, hashes)
def test_a_hash_appended_to_an_inclusion_proof_is_refused_as_one_too_many(leaf_in_tree, extra):
    leaf, index, size, proof, root = clean_inclusion(*leaf_in_tree)
    refusal = refused(verify_inclusion, leaf, index, size, [*proof, extra], root)
    assert refusal.details["reason"] == "proof_too_long"


@given(leaves_in_trees, size_pairs)
def test_a_proof_claimed_for_a_larger_tree_than_its_root_is_refused(leaf_in_tree, pair):
    # The walk must reach the root level of the claimed size, whatever the hashes.
    leaf, index, size, proof, root = clean_inclusion(*leaf_in_tree)
    refusal = refused(verify_inclusion, leaf, index, size * 2, proof, root)
    assert refusal.details["reason"] == "proof_too_short"
    old, new, old_root, new_root, consistency = clean_consistency(*pair)
    refusal = refused(verify_consistency, old, new * 2, old_root, new_root, consistency)
    assert refusal.details["reason"] == "proof_too_short"


# Consistency proofs --------------------------------------------------------------------


@given(size_pairs, tamperings, st.data())
def test_a_tampered_consistency_proof_is_refused(pair, how, data):
    old, new, old_root, new_root, proof = clean_consistency(*pair)
    assume(how != "swap" or len(proof) > 1)
    refused(verify_consistency, old, new, old_root, new_root, tampered(proof, how, data))


@given(size_pairs)
def test_swapped_roots_are_refused(pair):
    old, new, old_root, new_root, proof = clean_consistency(*pair)
    refused(verify_consistency, old, new, new_root, old_root, proof)


@given(size_pairs)
def test_an_old_size_beyond_the_new_size_is_refused(pair):
    old, new, old_root, new_root, proof = clean_consistency(*pair)
    refusal = refused(verify_consistency, new, old, new_root, old_root, proof)
    assert refusal.details["reason"] == "sizes_reversed"
    refused(verify_consistency, new, old, old_root, new_root, proof)


@given(size_pairs, size_pairs)
def test_a_consistency_proof_for_other_sizes_is_refused(pair, other_pair):
    old, new, old_root, new_root, proof = clean_consistency(*pair)
    assume(other_pair != pair)
    other_proof = LOG.consistency_proof(*other_pair)
    assume(other_proof != proof)  # the same hashes would be the right proof
    refused(verify_consistency, old, new, old_root, new_root, other_proof)
    # And ours between the other pair's heads. (A head is a size and its root together:
    # under sizes that are not its roots', the RFC's walk may accept, e.g. the proof from 2
    # to 4 leaves between (2, root of 2) and (3, root of 4). Heads come signed, whole.)
    other_old, other_new = other_pair
    other_roots = LOG.root(other_old), LOG.root(other_new)
    refused(verify_consistency, other_old, other_new, *other_roots, proof)


@given(size_pairs, sizes)
def test_a_root_of_another_size_is_refused(pair, other_size):
    old, new, old_root, new_root, proof = clean_consistency(*pair)
    assume(other_size not in pair)
    refused(verify_consistency, old, new, LOG.root(other_size), new_root, proof)
    refused(verify_consistency, old, new, old_root, LOG.root(other_size), proof)


@given(size_pairs)
def test_an_empty_proof_between_different_sizes_is_refused(pair):
    old, new, old_root, new_root, _ = clean_consistency(*pair)
    refusal = refused(verify_consistency, old, new, old_root, new_root, [])
    assert refusal.details["reason"] == "proof_too_short"


def test_equal_sizes_take_an_empty_proof_and_one_root():
    root = LOG.root(7)
    verify_consistency(7, 7, root, root, [])
    refused(verify_consistency, 7, 7, root, LOG.root(8), [])
    refused(verify_consistency, 7, 7, root, root, [root])
    refused(verify_consistency, 7, 7, root, root, [LEAVES[7]])


def test_a_consistency_proof_from_the_empty_tree_is_refused_as_the_rfc_defines_none():
    empty_root = sha256(b"")
    refusal = refused(verify_consistency, 0, 5, empty_root, LOG.root(5), [])
    assert refusal.details["reason"] == "empty_old_tree"
    refused(verify_consistency, 0, 5, empty_root, LOG.root(5), [LOG.root(5)])


@pytest.mark.parametrize(("old", "new"), [(1, 2), (2, 3), (4, 11), (8, 9), (64, 300)])
def test_a_power_of_two_old_size_whose_proof_repeats_the_old_root_is_refused(old, new):
    old, new, old_root, new_root, proof = clean_consistency(old, new)
    assert old_root not in proof  # step 2 of the RFC puts it back itself
    refused(verify_consistency, old, new, old_root, new_root, [old_root, *proof])


def test_a_history_rewritten_after_the_old_head_is_refused():
    rewritten = MerkleLog()
    rewritten.extend([*LEAVES[:9], leaf_hash(b"forged"), *LEAVES[10:20]])
    old, new, old_root, _, _ = clean_consistency(12, 20)
    for proof in (rewritten.consistency_proof(12, 20), LOG.consistency_proof(12, 20)):
        refused(verify_consistency, old, new, old_root, rewritten.root(20), proof)


def test_a_head_is_a_size_and_its_root_together_so_they_come_signed_as_one():
    # The walk of RFC 9162 binds a root to a size only through the head that carries both:
    # given the root of 4 leaves under the size 3, the proof from 2 to 4 leaves passes. An
    # auditor takes every (size, root) from one signed tree head, never from the prover.
    old_root, root_of_4 = LOG.root(2), LOG.root(4)
    verify_consistency(2, 3, old_root, root_of_4, LOG.consistency_proof(2, 4))
    refused(verify_consistency, 2, 3, old_root, LOG.root(3), LOG.consistency_proof(2, 4))
