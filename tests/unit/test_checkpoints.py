"""Checkpoints: signed tree heads with a balances commitment, co-signed by witnesses."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.checkpoints import (
    SIGNING_PREFIX,
    Checkpoint,
    balances_commitment,
    cosign,
    make_checkpoint,
    sign,
    verify,
)
from ledger.errors import InvalidCheckpoint, InvalidCheckpointSignature
from ledger.merkle import EMPTY_ROOT, leaf_hash

NOW = datetime(2026, 11, 29, 22, 40, 0, 123456, tzinfo=UTC)
BALANCES = {"bank:main": -500, "vendor_payable:v1": 500, "funder:etat": 0}


def a_checkpoint() -> Checkpoint:
    return make_checkpoint(3, leaf_hash(b"three"), BALANCES, NOW)


def test_a_checkpoint_states_size_root_balances_and_time_to_the_second():
    checkpoint = a_checkpoint()
    assert checkpoint.log_size == 3
    assert checkpoint.root == leaf_hash(b"three").hex()
    assert checkpoint.issued_at == "2026-11-29T22:40:00Z"
    assert checkpoint.signed_bytes() == SIGNING_PREFIX + (
        b'{"balances_sha256":"' + checkpoint.balances_sha256.encode() + b'",'
        b'"issued_at":"2026-11-29T22:40:00Z","log_size":3,'
        b'"root":"' + checkpoint.root.encode() + b'"}'
    )


def test_the_balances_commitment_ignores_zero_balances_and_key_order():
    reordered = {"vendor_payable:v1": 500, "bank:main": -500}
    assert balances_commitment(BALANCES) == balances_commitment(reordered)
    assert balances_commitment({}) == balances_commitment({"funder:etat": 0})
    assert balances_commitment(BALANCES) != balances_commitment({"bank:main": -500})


def test_a_time_in_another_zone_is_written_in_utc():
    paris = NOW.astimezone(timezone(timedelta(hours=1)))
    assert make_checkpoint(0, EMPTY_ROOT, {}, paris).issued_at == "2026-11-29T22:40:00Z"


def test_a_signed_checkpoint_verifies_under_the_operators_key():
    key = Ed25519PrivateKey.generate()
    checkpoint = a_checkpoint()
    verify(checkpoint, sign(checkpoint, key), key.public_key())


@pytest.mark.parametrize(
    "change",
    [
        {"log_size": 4},
        {"root": leaf_hash(b"four").hex()},
        {"balances_sha256": balances_commitment({"bank:main": -1, "vendor_payable:v1": 1})},
        {"issued_at": "2026-11-29T22:40:01Z"},
    ],
)
def test_a_checkpoint_with_any_field_changed_is_refused(change):
    key = Ed25519PrivateKey.generate()
    checkpoint = a_checkpoint()
    signature = sign(checkpoint, key)
    tampered = dataclasses.replace(checkpoint, **change)
    with pytest.raises(InvalidCheckpointSignature):
        verify(tampered, signature, key.public_key())
    verify(checkpoint, signature, key.public_key())  # the original still verifies


def test_a_signature_under_another_key_is_refused():
    checkpoint = a_checkpoint()
    signature = sign(checkpoint, Ed25519PrivateKey.generate())
    with pytest.raises(InvalidCheckpointSignature):
        verify(checkpoint, signature, Ed25519PrivateKey.generate().public_key())


def test_a_flipped_or_truncated_signature_is_refused():
    key = Ed25519PrivateKey.generate()
    checkpoint = a_checkpoint()
    signature = sign(checkpoint, key)
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    for bad in (flipped, signature[:-1], b""):
        with pytest.raises(InvalidCheckpointSignature):
            verify(checkpoint, bad, key.public_key())


def test_a_signature_of_the_bare_json_without_the_prefix_is_refused():
    key = Ed25519PrivateKey.generate()
    checkpoint = a_checkpoint()
    bare = key.sign(checkpoint.signed_bytes().removeprefix(SIGNING_PREFIX))
    with pytest.raises(InvalidCheckpointSignature):
        verify(checkpoint, bare, key.public_key())


def test_a_witness_co_signs_the_same_bytes_with_its_own_key():
    operator, witness = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    checkpoint = a_checkpoint()
    cosigned = cosign(checkpoint, witness)
    verify(checkpoint, cosigned, witness.public_key())
    verify(checkpoint, sign(checkpoint, operator), operator.public_key())
    with pytest.raises(InvalidCheckpointSignature):
        verify(checkpoint, cosigned, operator.public_key())  # not the operator's signature


@pytest.mark.parametrize(
    "fields",
    [
        {"log_size": -1},
        {"log_size": True},
        {"root": "AB" * 32},
        {"root": "ab" * 31},
        {"balances_sha256": 7},
        {"issued_at": "2026-11-29 22:40:00Z"},
        {"issued_at": "2026-13-29T22:40:00Z"},
        {"extra": 1},
    ],
)
def test_a_malformed_checkpoint_is_refused(fields):
    good = a_checkpoint().as_dict()
    with pytest.raises(InvalidCheckpoint):
        Checkpoint.from_dict({**good, **fields})
    assert Checkpoint.from_dict(good) == a_checkpoint()


def test_a_checkpoint_missing_a_field_is_refused():
    fields = a_checkpoint().as_dict()
    del fields["issued_at"]
    with pytest.raises(InvalidCheckpoint):
        Checkpoint.from_dict(fields)
