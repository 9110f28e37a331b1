"""Proofs for auditors: an event is in the log, and the log only grew, each shown against
checkpoints the operator signed.

The system keeps a signed checkpoint (`ledger.checkpoints`) every so many events or minutes
(`projections.checkpointer`). A **signed checkpoint** as it travels is one JSON object:

    {"log_size":…,"root":…,"balances_sha256":…,"issued_at":…,   the four signed fields
     "position":…,                                              log position of its last event
     "signature":"<base64>","witness_signature":"<base64>"|null}

Only the four fields are signed; `position` tells where the log stood (to read the events
it covers) and is not trusted. An auditor who keeps one can later check that an export did
not lose or rewrite what it covered (`tirelire verify --at-least`).

Two proof documents (`tirelire proof …` and `GET /v1/audit/proofs/…` write the same JSON):

    {"kind":"inclusion","position":P,"leaf_hash":"<hex>","leaf_index":i,"tree_size":n,
     "audit_path":["<hex>",…],"checkpoint":{signed checkpoint of size n}}
    {"kind":"consistency","from_size":m,"to_size":n,"consistency_path":["<hex>",…],
     "from_checkpoint":{signed, size m},"to_checkpoint":{signed, size n}}

`check_proof` trusts nothing in a document but what the operator's key signed: it checks
the signatures first, takes each tree size from its signed checkpoint (a proof's own sizes
must agree with them), and only then runs the RFC 9162 verifiers (`ledger.merkle`) against
the signed roots. Any failure raises `InvalidProof` (with a `reason`) or
`InvalidCheckpointSignature`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.checkpoints import FIELDS, Checkpoint, verify
from ledger.errors import InvalidCheckpoint, InvalidProof
from ledger.merkle import MAX_PROOF_HASHES, verify_consistency, verify_inclusion

SIGNATURES = ("signature", "witness_signature")
OPTIONAL_FIELDS = frozenset({"kind", "position", "witness_signature"})
INCLUSION_FIELDS = frozenset(
    {"kind", "position", "leaf_hash", "leaf_index", "tree_size", "audit_path", "checkpoint"}
)
CONSISTENCY_FIELDS = frozenset(
    {"kind", "from_size", "to_size", "consistency_path", "from_checkpoint", "to_checkpoint"}
)

_HEX_HASH = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint, where the log stood, and the signatures of its four fields."""

    checkpoint: Checkpoint
    position: int | None  # the log position of its last event; None where not given
    signature: bytes
    witness_signature: bytes | None = None

    @property
    def log_size(self) -> int:
        return self.checkpoint.log_size

    def as_dict(self) -> dict[str, Any]:
        witness = self.witness_signature
        return {
            **self.checkpoint.as_dict(),
            "position": self.position,
            "signature": _b64(self.signature),
            "witness_signature": None if witness is None else _b64(witness),
        }

    @classmethod
    def from_dict(cls, fields: Mapping[str, Any]) -> SignedCheckpoint:
        """From the JSON above, or an export's checkpoint line (`kind`, no `position`).
        Raises `InvalidCheckpoint` on anything malformed or unknown."""
        if not isinstance(fields, Mapping):
            raise InvalidCheckpoint("a signed checkpoint is a JSON object")
        unknown = set(fields) - set(FIELDS) - {"signature"} - OPTIONAL_FIELDS
        if unknown or "signature" not in fields:
            raise InvalidCheckpoint(
                f"a signed checkpoint has the fields {', '.join(FIELDS)} and a signature"
            )
        if fields.get("kind", "checkpoint") != "checkpoint":
            raise InvalidCheckpoint("not a checkpoint", field="kind")
        position = fields.get("position")
        if position is not None and (type(position) is not int or position < 0):
            raise InvalidCheckpoint("position is a log position", field="position")
        checkpoint = Checkpoint.from_dict({name: fields[name] for name in FIELDS if name in fields})
        witness = fields.get("witness_signature")
        return cls(
            checkpoint,
            position,
            _signature(fields["signature"], "signature"),
            None if witness is None else _signature(witness, "witness_signature"),
        )

    def check(self, operator: Ed25519PublicKey, witness: Ed25519PublicKey | None = None) -> None:
        """Raise `InvalidCheckpointSignature` unless the operator (and the witness, when
        named) signed it."""
        verify(self.checkpoint, self.signature, operator)
        if witness is not None:
            verify(self.checkpoint, self.witness_signature or b"", witness)

    @property
    def root(self) -> bytes:
        return bytes.fromhex(self.checkpoint.root)


def inclusion_document(
    position: int, leaf: bytes, index: int, path: Sequence[bytes], signed: SignedCheckpoint
) -> dict[str, Any]:
    return {
        "kind": "inclusion",
        "position": position,
        "leaf_hash": leaf.hex(),
        "leaf_index": index,
        "tree_size": signed.log_size,
        "audit_path": [node.hex() for node in path],
        "checkpoint": signed.as_dict(),
    }


def consistency_document(
    path: Sequence[bytes], old: SignedCheckpoint, new: SignedCheckpoint
) -> dict[str, Any]:
    return {
        "kind": "consistency",
        "from_size": old.log_size,
        "to_size": new.log_size,
        "consistency_path": [node.hex() for node in path],
        "from_checkpoint": old.as_dict(),
        "to_checkpoint": new.as_dict(),
    }


def check_proof(
    document: object, operator: Ed25519PublicKey, witness: Ed25519PublicKey | None = None
) -> str:
    """Check a proof document offline; a sentence saying what it proved."""
    if not isinstance(document, dict):
        raise _malformed("a proof is a JSON object")
    kind = document.get("kind")
    if kind == "inclusion":
        return _check_inclusion(document, operator, witness)
    if kind == "consistency":
        return _check_consistency(document, operator, witness)
    raise _malformed(f"unknown kind of proof {kind!r}: inclusion or consistency")


def _check_inclusion(
    document: dict[str, Any], operator: Ed25519PublicKey, witness: Ed25519PublicKey | None
) -> str:
    _check_fields(document, INCLUSION_FIELDS)
    signed = _signed(document["checkpoint"], "checkpoint")
    signed.check(operator, witness)
    size = signed.log_size  # the size comes from what was signed, never from the proof
    if type(document["tree_size"]) is not int or document["tree_size"] != size:
        raise InvalidProof(
            f"the proof is for a tree of {document['tree_size']!r} events but its checkpoint "
            f"signs {size}",
            reason="size_mismatch",
        )
    leaf = _hash(document["leaf_hash"], "leaf_hash")
    path = _path(document["audit_path"], "audit_path")
    verify_inclusion(leaf, document["leaf_index"], size, path, signed.root)
    return (
        f"event {document['position']} (leaf {document['leaf_index']}) is in the signed "
        f"checkpoint of size {size}, root {signed.checkpoint.root}"
    )


def _check_consistency(
    document: dict[str, Any], operator: Ed25519PublicKey, witness: Ed25519PublicKey | None
) -> str:
    _check_fields(document, CONSISTENCY_FIELDS)
    old = _signed(document["from_checkpoint"], "from_checkpoint")
    new = _signed(document["to_checkpoint"], "to_checkpoint")
    old.check(operator, witness)
    new.check(operator, witness)
    sizes = (document["from_size"], document["to_size"])
    if any(type(n) is not int for n in sizes) or sizes != (old.log_size, new.log_size):
        raise InvalidProof(
            f"the proof is from size {document['from_size']!r} to {document['to_size']!r} "
            f"but its checkpoints sign {old.log_size} and {new.log_size}",
            reason="size_mismatch",
        )
    path = _path(document["consistency_path"], "consistency_path")
    verify_consistency(old.log_size, new.log_size, old.root, new.root, path)
    return (
        f"the signed checkpoint of size {old.log_size} is a prefix of the signed checkpoint "
        f"of size {new.log_size}, root {new.checkpoint.root}"
    )


def _check_fields(document: dict[str, Any], fields: frozenset[str]) -> None:
    if set(document) != fields:
        raise _malformed(f"a proof of its kind has exactly the fields {', '.join(sorted(fields))}")


def _signed(fields: object, name: str) -> SignedCheckpoint:
    try:
        return SignedCheckpoint.from_dict(fields)  # type: ignore[arg-type]
    except InvalidCheckpoint as error:
        raise _malformed(f"{name}: {error.message}") from None


def _path(values: object, name: str) -> list[bytes]:
    if not isinstance(values, list) or len(values) > MAX_PROOF_HASHES:
        raise _malformed(f"{name} is a list of at most {MAX_PROOF_HASHES} hashes")
    return [_hash(value, name) for value in values]


def _hash(value: object, name: str) -> bytes:
    if not isinstance(value, str) or not _HEX_HASH.fullmatch(value):
        raise _malformed(f"{name} holds hashes of 64 lowercase hex digits")
    return bytes.fromhex(value)


def _signature(text: object, name: str) -> bytes:
    """Strict, canonical base64 (one spelling per signature)."""
    try:
        if not isinstance(text, str):
            raise TypeError
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise InvalidCheckpoint(f"{name} is not base64", field=name) from None
    if _b64(data) != text:
        raise InvalidCheckpoint(f"{name} is not canonical base64", field=name)
    return data


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _malformed(why: str) -> InvalidProof:
    return InvalidProof(why, reason="malformed_proof")
