"""Merkle tree heads and proofs: how an auditor checks, offline, that the log is whole.

The log of events is append-only, and an auditor must be able to check that without
trusting us. Following Certificate Transparency (RFC 9162, section 2.1), each event is a
*leaf* of a binary Merkle tree, in log order, and the tree of the first `size` events
hashes down to one 32-byte *root*. A **tree head** is the pair (size, root): it commits to
every event of the first `size` and to their order, so changing, removing or reordering
any of them changes the root. The size and the root travel together (a signed tree head):
an auditor takes both from the same head, never the size from whoever sends a proof.

The tree (RFC 9162, 2.1.1): the root of no leaves is SHA-256 of the empty string; a leaf
hashes as SHA-256(0x00 || entry); a tree of n > 1 leaves is split at k, the largest power
of two below n, and hashes as SHA-256(0x01 || root of the first k || root of the rest). The
prefixes separate the two domains: without them, an entry made of two child hashes side by
side would hash like an interior node, and a log could show one root for two different
lists of entries (a second preimage). With them, a leaf can never pass for a node.

Two proofs, each a list of about log2(n) hashes, let an auditor check a head without the
whole log:

- an **inclusion proof** (2.1.3) shows that an entry is the leaf at `index` in the tree of
  a head: `verify_inclusion` folds the entry's leaf hash with the proof up to the root;
- a **consistency proof** (2.1.4) shows that the tree of an older head is a prefix of the
  tree of a newer one, that is, the log between them only grew: nothing was rewritten,
  removed or reordered. `verify_consistency` rebuilds both roots from the one proof.

The verifiers follow the algorithms of RFC 9162 sections 2.1.3.2 and 2.1.4.2 step by
step: verifiers that took shortcuts have accepted forged proofs. Any failure raises
`InvalidProof`; a malformed proof (wrong length of an element, too many elements, a size
out of range) is a failure like any other.

`MerkleFrontier` keeps only the roots of the perfect subtrees of the log so far (a
"compact range": one per set bit of the size), so an auditor streaming the whole log gets
its root in O(log n) memory. `MerkleLog` also keeps every perfect subtree's root, to answer
the root of any past size and the proofs between them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from hashlib import sha256

from ledger.errors import InvalidProof, InvalidTreeSize

HASH_SIZE = 32  # bytes of a SHA-256 digest: every leaf hash, node, root and proof element
MAX_TREE_SIZE = 2**63 - 1  # the largest size a tree head may claim (a signed 64-bit count)
MAX_PROOF_HASHES = 64  # ceil(log2(MAX_TREE_SIZE)) + 1: no valid proof is longer
EMPTY_ROOT = sha256(b"").digest()  # the root of the tree of no leaves (RFC 9162, 2.1.1)

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(entry: bytes) -> bytes:
    """The hash of one entry as a leaf: SHA-256(0x00 || entry)."""
    return sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node from its children's: SHA-256(0x01 || left || right)."""
    return sha256(_NODE_PREFIX + left + right).digest()


def _split(size: int) -> int:
    """k, the largest power of two smaller than `size` (size >= 2): the left subtree's size."""
    return 1 << ((size - 1).bit_length() - 1)


def _fold(perfect_roots: Sequence[bytes]) -> bytes:
    """The root of a tree from the roots of its perfect subtrees, tallest (leftmost) first.

    The tallest subtree is the left half of the split, the rest is the right half, so the
    root is folded from the right: root(a, b, c) = node(a, node(b, c)).
    """
    if not perfect_roots:
        return EMPTY_ROOT
    root = perfect_roots[-1]
    for left in reversed(perfect_roots[:-1]):
        root = sha256(_NODE_PREFIX + left + root).digest()
    return root


class MerkleFrontier:
    """The compact range of a growing log: the roots of its perfect subtrees, tallest first.

    A log of 13 leaves (0b1101) is three perfect subtrees of 8, 4 and 1 leaves: one root per
    set bit of the size. Appending a leaf merges it with the equal-sized subtrees on the
    right, like a carry in binary addition: one hash per leaf on average.
    """

    __slots__ = ("_roots", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._roots: list[bytes] = []

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf: bytes) -> None:
        """Add the leaf hash of the next entry (`leaf_hash(entry)`)."""
        self.extend((leaf,))

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Add the leaf hashes of the next entries, in log order."""
        roots = self._roots
        size = self._size
        for leaf in leaves:
            assert len(leaf) == HASH_SIZE, "append the leaf hash of an entry, not the entry"
            node = leaf
            carry = size
            while carry & 1:
                node = sha256(_NODE_PREFIX + roots.pop() + node).digest()
                carry >>= 1
            roots.append(node)
            size += 1
        self._size = size

    def append_subtree(self, root: bytes, height: int) -> None:
        """Add the root of a perfect subtree of 2**height leaves that starts at the current
        size, which must be a multiple of 2**height: as `extend` of its leaves would."""
        assert len(root) == HASH_SIZE, "append the root of a subtree, not its leaves"
        if height < 0 or self._size % (1 << height):
            raise InvalidTreeSize(
                f"a subtree of 2**{height} leaves cannot start at size {self._size}",
                size=self._size,
                height=height,
            )
        roots, node, carry = self._roots, root, self._size >> height
        while carry & 1:
            node = sha256(_NODE_PREFIX + roots.pop() + node).digest()
            carry >>= 1
        roots.append(node)
        self._size += 1 << height

    def perfect_subtrees(self) -> list[tuple[bytes, int]]:
        """The roots of the perfect subtrees so far with their heights, tallest first: what
        `append_subtree` takes to add these leaves to a tree whose size they are aligned to."""
        heights = [h for h in range(self._size.bit_length() - 1, -1, -1) if self._size >> h & 1]
        return list(zip(self._roots, heights, strict=True))

    def root(self) -> bytes:
        """The root of the tree of all leaves appended so far."""
        return _fold(self._roots)


class MerkleLog:
    """Every leaf hash of the log and every perfect subtree above them, level by level.

    Level h holds the roots of the perfect subtrees of 2**h leaves, left to right, as one
    bytearray of 32-byte hashes (level 0 is the leaves): about 64 bytes per leaf in all.
    Any range the proofs need is a few of these subtrees folded together, so the root of
    any past size and any proof cost O(log n) lookups and at most O(log² n) hashes.
    `keep_from` > 0 keeps only the levels from that height up (`ledger.merkle_blocks`,
    which finds the shorter subtrees again when it needs them).
    """

    __slots__ = ("_keep_from", "_levels", "_roots", "_size")

    def __init__(self, keep_from: int = 0) -> None:
        self._size = 0
        self._keep_from = keep_from
        self._levels: list[bytearray] = [bytearray() for _ in range(keep_from + 1)]
        self._roots: list[bytes] = []  # the frontier, as in `MerkleFrontier`

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf: bytes) -> None:
        """Add the leaf hash of the next entry, and the perfect subtrees it completes."""
        self.extend((leaf,))

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Add the leaf hashes of the next entries, in log order."""
        levels = self._levels
        roots = self._roots
        size = self._size
        keep = self._keep_from
        for leaf in leaves:
            assert len(leaf) == HASH_SIZE, "append the leaf hash of an entry, not the entry"
            if keep == 0:
                levels[0] += leaf
            node = leaf
            carry = size
            height = 0
            while carry & 1:  # each merge completes a perfect subtree: store its root
                node = sha256(_NODE_PREFIX + roots.pop() + node).digest()
                carry >>= 1
                height += 1
                if height == len(levels):
                    levels.append(bytearray())
                if height >= keep:
                    levels[height] += node
            roots.append(node)
            size += 1
        self._size = size

    def root(self, size: int | None = None) -> bytes:
        """The root of the tree of the first `size` leaves (all of them by default)."""
        size = self._size if size is None else size
        self._check_size(size)
        if size == self._size:
            return _fold(self._roots)
        return self._range_root(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """PATH(index, D[size]) (RFC 9162, 2.1.3.1): the siblings from the leaf up."""
        self._check_size(size)
        if type(index) is not int or not 0 <= index < size:
            raise InvalidTreeSize(
                f"no leaf {index!r} in the tree of {size} leaves", index=index, size=size
            )
        return self._path(index, 0, size)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """PROOF(old_size, D[new_size]) (RFC 9162, 2.1.4.1); empty between equal sizes."""
        self._check_size(old_size)
        self._check_size(new_size)
        if not 0 < old_size <= new_size:
            raise InvalidTreeSize(
                f"no consistency proof from size {old_size} to size {new_size}: "
                "the old tree must be non-empty and no larger than the new one",
                old_size=old_size,
                new_size=new_size,
            )
        return self._subproof(old_size, 0, new_size, True)

    def _check_size(self, size: int) -> None:
        if type(size) is not int or not 0 <= size <= self._size:
            raise InvalidTreeSize(
                f"no tree of size {size!r}: the log has {self._size} leaves", size=size
            )

    def _path(self, index: int, start: int, end: int) -> list[bytes]:
        """PATH(m, D[n]) over the leaves [start, end), index relative to start."""
        if end - start == 1:
            return []
        k = _split(end - start)
        if index < k:
            return [*self._path(index, start, start + k), self._range_root(start + k, end)]
        return [*self._path(index - k, start + k, end), self._range_root(start, start + k)]

    def _subproof(self, old_size: int, start: int, end: int, known: bool) -> list[bytes]:
        """SUBPROOF(m, D[n], b) over [start, end); `known`: the auditor holds this root."""
        if end - start == old_size:
            return [] if known else [self._range_root(start, end)]
        k = _split(end - start)
        if old_size <= k:
            left = self._subproof(old_size, start, start + k, known)
            return [*left, self._range_root(start + k, end)]
        right = self._subproof(old_size - k, start + k, end, False)
        return [*right, self._range_root(start, start + k)]

    def _range_root(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for the ranges of the RFC's recursion, from stored subtrees.

        Such a range starts at a multiple of a power of two at least its length, so it is
        the perfect subtrees of its length's set bits, tallest first, each one stored.
        """
        perfect_roots = []
        while start < end:
            height = (end - start).bit_length() - 1
            assert start % (1 << height) == 0, "only ranges of the RFC's recursion"
            perfect_roots.append(self._node(height, start >> height))
            start += 1 << height
        return _fold(perfect_roots)

    def _node(self, height: int, index: int) -> bytes:
        """The root of the `index`-th perfect subtree of 2**height leaves (a complete one)."""
        offset = index * HASH_SIZE
        return bytes(self._levels[height][offset : offset + HASH_SIZE])


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that `leaf` (a leaf hash) is at `index` in the tree head (`size`, `root`).

    RFC 9162, 2.1.3.2, step by step. Raises `InvalidProof` on any failure.
    """
    _check_hash(leaf, "leaf hash")
    _check_hash(root, "root")
    path = _checked_path(proof)
    _check_count(size, "tree size")
    _check_count(index, "leaf index")
    # 1. An index at or beyond the size fails.
    if index >= size:
        raise InvalidProof(f"no leaf {index} in a tree of {size}", reason="index_beyond_size")
    # 2. fn is the index, sn the last index; 3. r starts as the leaf hash.
    fn, sn, r = index, size - 1, leaf
    # 4. For each p of the proof:
    for p in path:
        # a. A proof element left over once sn is 0 fails.
        if sn == 0:
            raise InvalidProof("the inclusion proof is too long", reason="proof_too_long")
        # b. r is a right child (fn odd) or the last node of its level (fn == sn):
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # ii. climb past the levels where the node has no sibling to its right.
            while not (fn & 1 or fn == 0):
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        # c. Up one level.
        fn >>= 1
        sn >>= 1
    # 5. The proof must reach the root level (sn == 0) and land on the root.
    if sn != 0:
        raise InvalidProof("the inclusion proof is too short", reason="proof_too_short")
    if r != root:
        raise InvalidProof("the inclusion proof leads to another root", reason="root_mismatch")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree head (old_size, old_root) is a prefix of (new_size, new_root).

    RFC 9162, 2.1.4.2, step by step, for 0 < old_size < new_size. Between equal sizes the
    proof is empty (SUBPROOF(m, D[m], true) = {}) and the roots must be equal. The RFC
    defines no proof from the empty tree: old_size 0 is refused. Raises `InvalidProof`.
    """
    _check_hash(old_root, "old root")
    _check_hash(new_root, "new root")
    path = _checked_path(proof)
    _check_count(old_size, "old tree size")
    _check_count(new_size, "new tree size")
    if old_size > new_size:
        raise InvalidProof(
            f"the old size {old_size} is beyond the new size {new_size}", reason="sizes_reversed"
        )
    if old_size == new_size:
        _check_same_head(old_root, new_root, path)
        return
    if old_size == 0:
        raise InvalidProof(
            "RFC 9162 defines consistency proofs from a non-empty tree only (0 < first)",
            reason="empty_old_tree",
        )
    _verify_consistency_path(old_size, new_size, old_root, new_root, path)


def _check_same_head(old_root: bytes, new_root: bytes, path: list[bytes]) -> None:
    if path:
        raise InvalidProof("a proof between equal sizes is empty", reason="proof_too_long")
    if old_root != new_root:
        raise InvalidProof("two roots for one tree size", reason="root_mismatch")


def _verify_consistency_path(
    first: int, second: int, first_hash: bytes, second_hash: bytes, path: list[bytes]
) -> None:
    """RFC 9162, 2.1.4.2, steps 1 to 7, for 0 < first < second; `path` is a fresh copy."""
    # 1. An empty proof fails.
    if not path:
        raise InvalidProof("the consistency proof is empty", reason="proof_too_short")
    # 2. When the old tree is a perfect subtree of the new one, its root starts the path.
    if first & (first - 1) == 0:
        path = [first_hash, *path]
    # 3. fn is the old tree's last index, sn the new tree's.
    fn, sn = first - 1, second - 1
    # 4. Climb to the level of the first node of the path (the old tree's last perfect part).
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. fr rebuilds the old root, sr the new root, both from the first node.
    fr = sr = path[0]
    # 6. For each subsequent c:
    for c in path[1:]:
        # a. A proof element left over once sn is 0 fails.
        if sn == 0:
            raise InvalidProof("the consistency proof is too long", reason="proof_too_long")
        # b. c is a left sibling (fn odd) or the node is the last of the old tree's level:
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            # iii. climb past the levels where the node has no sibling to its right.
            while not (fn & 1 or fn == 0):
                fn >>= 1
                sn >>= 1
        else:
            # c lies beyond the old tree: only the new root includes it.
            sr = node_hash(sr, c)
        # c. Up one level.
        fn >>= 1
        sn >>= 1
    # 7. Both roots rebuilt, and the path reached the new tree's root level.
    if sn != 0:
        raise InvalidProof("the consistency proof is too short", reason="proof_too_short")
    if fr != first_hash:
        raise InvalidProof("the proof leads to another old root", reason="old_root_mismatch")
    if sr != second_hash:
        raise InvalidProof("the proof leads to another new root", reason="new_root_mismatch")


def _check_hash(value: object, name: str) -> None:
    if type(value) is not bytes or len(value) != HASH_SIZE:
        raise InvalidProof(f"the {name} is not {HASH_SIZE} bytes", reason="malformed_hash")


def _check_count(value: object, name: str) -> None:
    if type(value) is not int or not 0 <= value <= MAX_TREE_SIZE:
        raise InvalidProof(f"the {name} {value!r} is out of range", reason="malformed_size")


def _checked_path(proof: Sequence[bytes]) -> list[bytes]:
    """A copy of the proof, once every element is a hash: the caller's list stays intact."""
    if not isinstance(proof, list | tuple):
        raise InvalidProof("a proof is a list of hashes", reason="malformed_proof")
    if len(proof) > MAX_PROOF_HASHES:
        raise InvalidProof(
            f"a proof has at most {MAX_PROOF_HASHES} hashes", reason="proof_too_long"
        )
    for element in proof:
        _check_hash(element, "proof element")
    return list(proof)
