"""Proof documents against signed checkpoints: a clean proof is accepted, and every change
to it, to its checkpoints or to their signatures is refused, naming what is wrong."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.checkpoints import cosign, make_checkpoint, sign
from ledger.errors import InvalidCheckpoint, InvalidCheckpointSignature, InvalidProof
from ledger.merkle import MerkleLog, leaf_hash
from ledger.proofs import (
    SignedCheckpoint,
    check_proof,
    consistency_document,
    inclusion_document,
)

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
OPERATOR = Ed25519PrivateKey.generate()
LEAVES = [leaf_hash(b"event %d" % n) for n in range(13)]
TREE = MerkleLog()
TREE.extend(LEAVES)


def signed_at(size: int, key: Ed25519PrivateKey = OPERATOR, root: bytes | None = None):
    checkpoint = make_checkpoint(size, root or TREE.root(size), {"funder:etat": -size}, NOW)
    return SignedCheckpoint(checkpoint, size * 2, sign(checkpoint, key))


def inclusion(index: int = 5, size: int = 13) -> dict:
    path = TREE.inclusion_proof(index, size)
    return inclusion_document(index * 2 + 2, LEAVES[index], index, path, signed_at(size))


def consistency(old: int = 6, new: int = 13) -> dict:
    path = TREE.consistency_proof(old, new)
    return consistency_document(path, signed_at(old), signed_at(new))


def refused(document: dict, key=OPERATOR) -> InvalidProof:
    with pytest.raises(InvalidProof) as error:
        check_proof(document, key.public_key())
    return error.value


def flip(hex_hash: str) -> str:
    data = bytearray.fromhex(hex_hash)
    data[7] ^= 0x01
    return data.hex()


def test_a_clean_inclusion_proof_is_accepted_for_every_leaf_of_every_size():
    for size in range(1, 14):
        for index in range(size):
            assert "is in the signed checkpoint" in check_proof(
                inclusion(index, size), OPERATOR.public_key()
            )


def test_a_clean_consistency_proof_is_accepted_between_any_two_sizes():
    for old in range(1, 14):
        for new in range(old, 14):
            assert "is a prefix" in check_proof(consistency(old, new), OPERATOR.public_key())


def test_a_flipped_byte_in_an_audit_path_is_refused():
    document = inclusion()
    for n in range(len(document["audit_path"])):
        changed = copy.deepcopy(document)
        changed["audit_path"][n] = flip(changed["audit_path"][n])
        assert refused(changed).details["reason"] == "root_mismatch"


def test_a_flipped_byte_in_the_leaf_hash_is_refused():
    document = inclusion()
    document["leaf_hash"] = flip(document["leaf_hash"])
    assert refused(document).details["reason"] == "root_mismatch"


def test_a_wrong_index_is_refused():
    for index in (4, 6, 12):
        document = inclusion(5)
        document["leaf_index"] = index
        assert refused(document).details["reason"] in ("root_mismatch", "proof_too_long")
    document = inclusion(5)
    document["leaf_index"] = 13
    assert refused(document).details["reason"] == "index_beyond_size"


def test_a_wrong_size_is_refused_whatever_the_proof_claims():
    document = inclusion(5, 13)
    document["tree_size"] = 12
    assert refused(document).details["reason"] == "size_mismatch"
    # The proof of a smaller tree, shown with the checkpoint of a larger one.
    smaller = inclusion(5, 12)
    smaller["checkpoint"] = signed_at(13).as_dict()
    smaller["tree_size"] = 13
    assert refused(smaller).details["reason"] in ("root_mismatch", "proof_too_short")


def test_extra_or_missing_path_elements_are_refused():
    document = inclusion()
    longer = copy.deepcopy(document)
    longer["audit_path"].append(LEAVES[0].hex())
    assert refused(longer).details["reason"] == "proof_too_long"
    shorter = copy.deepcopy(document)
    shorter["audit_path"].pop()
    assert refused(shorter).details["reason"] == "proof_too_short"
    proof = consistency()
    longer = copy.deepcopy(proof)
    longer["consistency_path"].append(LEAVES[0].hex())
    assert refused(longer).details["reason"] == "proof_too_long"
    for n in range(len(proof["consistency_path"])):
        shorter = copy.deepcopy(proof)
        del shorter["consistency_path"][n]
        assert refused(shorter).details["reason"].endswith(("too_short", "root_mismatch"))


def test_a_flipped_byte_in_a_consistency_path_is_refused():
    proof = consistency(6, 13)
    for n in range(len(proof["consistency_path"])):
        changed = copy.deepcopy(proof)
        changed["consistency_path"][n] = flip(changed["consistency_path"][n])
        assert refused(changed).details["reason"] in ("old_root_mismatch", "new_root_mismatch")


def test_swapped_checkpoints_are_refused():
    proof = consistency(6, 13)
    proof["from_checkpoint"], proof["to_checkpoint"] = (
        proof["to_checkpoint"],
        proof["from_checkpoint"],
    )
    assert refused(proof).details["reason"] == "size_mismatch"
    proof["from_size"], proof["to_size"] = 13, 6
    assert refused(proof).details["reason"] == "sizes_reversed"


def test_a_checkpoint_of_another_tree_is_refused():
    proof = consistency(6, 13)
    forked = signed_at(6, root=leaf_hash(b"another history"))
    proof["from_checkpoint"] = forked.as_dict()
    assert refused(proof).details["reason"] == "old_root_mismatch"


def test_a_checkpoint_re_signed_with_another_key_is_refused():
    other = Ed25519PrivateKey.generate()
    document = inclusion()
    document["checkpoint"] = signed_at(13, key=other).as_dict()
    with pytest.raises(InvalidCheckpointSignature):
        check_proof(document, OPERATOR.public_key())
    proof = consistency()
    proof["to_checkpoint"] = signed_at(13, key=other).as_dict()
    with pytest.raises(InvalidCheckpointSignature):
        check_proof(proof, OPERATOR.public_key())
    with pytest.raises(InvalidCheckpointSignature):  # the right proof, the wrong key
        check_proof(inclusion(), other.public_key())


def test_a_signed_field_changed_after_signing_is_refused():
    document = inclusion()
    document["checkpoint"]["root"] = flip(document["checkpoint"]["root"])
    with pytest.raises(InvalidCheckpointSignature):
        check_proof(document, OPERATOR.public_key())


def test_a_named_witness_must_have_co_signed():
    witness = Ed25519PrivateKey.generate()
    document = inclusion()
    with pytest.raises(InvalidCheckpointSignature):
        check_proof(document, OPERATOR.public_key(), witness.public_key())
    signed = signed_at(13)
    cosigned = SignedCheckpoint(
        signed.checkpoint, 26, signed.signature, cosign(signed.checkpoint, witness)
    )
    document["checkpoint"] = cosigned.as_dict()
    assert check_proof(document, OPERATOR.public_key(), witness.public_key())


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.pop("leaf_index"),
        lambda d: d.update(extra=1),
        lambda d: d.update(kind="exclusion"),
        lambda d: d.update(leaf_hash="AB" * 32),
        lambda d: d.update(audit_path="00" * 32),
        lambda d: d.update(audit_path=["00" * 32] * 65),
        lambda d: d.update(leaf_index=True),
        lambda d: d.update(tree_size=13.0),
        lambda d: d["checkpoint"].update(signature="not base64!"),
        lambda d: d["checkpoint"].update(extra=1),
    ],
)
def test_a_malformed_proof_is_refused(change):
    document = inclusion()
    change(document)
    with pytest.raises((InvalidProof, InvalidCheckpointSignature)):
        check_proof(document, OPERATOR.public_key())
    with pytest.raises(InvalidProof):
        check_proof([document], OPERATOR.public_key())


def test_a_signed_checkpoint_reads_back_from_its_json_and_from_an_export_line():
    signed = signed_at(7)
    assert SignedCheckpoint.from_dict(signed.as_dict()) == signed
    line = {
        "kind": "checkpoint",
        **signed.checkpoint.as_dict(),
        "signature": signed.as_dict()["signature"],
    }
    assert SignedCheckpoint.from_dict(line) == SignedCheckpoint(
        signed.checkpoint, None, signed.signature
    )
    for bad in (
        {**line, "kind": "event"},
        {**line, "position": -1},
        {k: line[k] for k in line if k != "signature"},
    ):
        with pytest.raises(InvalidCheckpoint):
            SignedCheckpoint.from_dict(bad)
