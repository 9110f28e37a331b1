"""The auditor's proofs over HTTP: the signed checkpoints the system keeps, and inclusion
and consistency proofs against them. Auditors write nothing; operators may read.

The answers are the JSON of `tirelire checkpoints` and `tirelire proof …` (`ledger.proofs`):
each proof carries the signed checkpoints it is checked against, so that an auditor checks
it offline with the operator's public key only (`tirelire proof check`). Proofs are given
against stored checkpoints only, never against an unsigned tree head.
"""

from __future__ import annotations

from datetime import UTC, datetime
from hashlib import sha256
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api import schemas as s
from api.common import STAFF, page, paging
from api.spec import Call, Operation, Reply
from ledger.checkpoints import make_checkpoint, sign
from ledger.errors import CheckpointNotFound, InvalidInput
from ledger.merkle import MAX_PROOF_HASHES, MAX_TREE_SIZE, MerkleLog, leaf_hash
from ledger.proofs import SignedCheckpoint, consistency_document, inclusion_document
from projections.checkpoint_store import MAX_LIST

DEFAULT_CHECKPOINTS_LISTED = 100


async def list_checkpoints(call: Call) -> Reply:
    limit, offset = page(call)
    store = call.services.checkpoints

    def listing() -> dict[str, Any]:
        signed = store.listing(limit, offset)
        return {"checkpoints": [c.as_dict() for c in signed], "total": store.count()}

    return Reply(await call.services.run(listing))


async def get_checkpoint(call: Call) -> Reply:
    raw = call.path["log_size"]
    if not (raw.isascii() and raw.isdigit()):
        raise InvalidInput("a checkpoint is named by its size, a whole number", field="log_size")
    size = int(raw)
    if size > MAX_TREE_SIZE:
        raise CheckpointNotFound(f"no signed checkpoint of size {raw[:30]}…")
    signed = await call.services.run(call.services.checkpoints.by_size, size)
    return Reply(signed.as_dict())


async def get_inclusion_proof(call: Call) -> Reply:
    position, size = call.query["position"], call.query.get("size")
    return Reply(await call.services.run(call.services.proofs.inclusion, position, size))


async def get_consistency_proof(call: Call) -> Reply:
    old, new = call.query["from"], call.query["to"]
    return Reply(await call.services.run(call.services.proofs.consistency, old, new))


# Schemas and examples -----------------------------------------------------------------

SIZE = {"type": "integer", "minimum": 1, "maximum": MAX_TREE_SIZE}
HEX_HASH = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
SIGNATURE = {"type": "string", "pattern": "^[A-Za-z0-9+/]{86}==$", "description": "base64"}
SIGNED_CHECKPOINT = s.obj(
    {
        "log_size": s.COUNT,
        "root": HEX_HASH,
        "balances_sha256": HEX_HASH,
        "issued_at": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$"},
        "position": s.nullable(s.COUNT),
        "signature": SIGNATURE,
        "witness_signature": s.nullable(SIGNATURE),
    }
)
PATH = s.array(HEX_HASH, max_items=MAX_PROOF_HASHES)
INCLUSION = s.obj(
    {
        "kind": s.enum("inclusion"),
        "position": s.COUNT,
        "leaf_hash": HEX_HASH,
        "leaf_index": s.COUNT,
        "tree_size": s.COUNT,
        "audit_path": PATH,
        "checkpoint": SIGNED_CHECKPOINT,
    }
)
CONSISTENCY = s.obj(
    {
        "kind": s.enum("consistency"),
        "from_size": s.COUNT,
        "to_size": s.COUNT,
        "consistency_path": PATH,
        "from_checkpoint": SIGNED_CHECKPOINT,
        "to_checkpoint": SIGNED_CHECKPOINT,
    }
)


def _examples() -> tuple[SignedCheckpoint, SignedCheckpoint, MerkleLog]:
    """Two real checkpoints of a log of five events, signed with a key made for the docs."""
    key = Ed25519PrivateKey.from_private_bytes(sha256(b"tirelire docs example").digest())
    tree = MerkleLog()
    tree.extend(leaf_hash(b"event %d" % n) for n in range(1, 6))
    moment = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    signed = []
    for size, position in ((3, 3), (5, 6)):
        checkpoint = make_checkpoint(size, tree.root(size), {"funder:etat": -7800 * size}, moment)
        signed.append(SignedCheckpoint(checkpoint, position, sign(checkpoint, key)))
    return signed[0], signed[1], tree


_OLD, _NEW, _TREE = _examples()
EXAMPLE_INCLUSION = inclusion_document(
    6, leaf_hash(b"event 5"), 4, _TREE.inclusion_proof(4, 5), _NEW
)
EXAMPLE_CONSISTENCY = consistency_document(_TREE.consistency_proof(3, 5), _OLD, _NEW)
PROOF_TEXT = (
    " The answer carries the signed checkpoint(s) it is checked against; check it offline "
    "with `tirelire proof check FILE --key operator.pub` or any RFC 9162 verifier: the "
    "signatures first, then the proof against the signed root(s)."
)

OPERATIONS = (
    Operation(
        operation_id="list_checkpoints",
        method="GET",
        path="/v1/audit/checkpoints",
        summary="The signed checkpoints of the log, smallest first",
        description="Every checkpoint the operator signed and keeps: the number of events "
        "it covers, their Merkle root (RFC 9162), the balances commitment, when it was "
        "issued, the log position of its last event (not signed), the operator's signature "
        "and a witness's co-signature once given. An item is what `tirelire verify "
        "--at-least` takes.",
        tag="auditor",
        roles=STAFF,
        handler=list_checkpoints,
        query={"type": "object", "properties": paging(DEFAULT_CHECKPOINTS_LISTED, MAX_LIST)},
        response=s.obj(
            {"checkpoints": s.array(SIGNED_CHECKPOINT, max_items=MAX_LIST), "total": s.COUNT}
        ),
        example_response={"checkpoints": [_OLD.as_dict(), _NEW.as_dict()], "total": 2},
    ),
    Operation(
        operation_id="get_checkpoint",
        method="GET",
        path="/v1/audit/checkpoints/{log_size}",
        summary="The signed checkpoint of one size of the log",
        tag="auditor",
        roles=STAFF,
        handler=get_checkpoint,
        response=SIGNED_CHECKPOINT,
        example_response=_NEW.as_dict(),
    ),
    Operation(
        operation_id="get_inclusion_proof",
        method="GET",
        path="/v1/audit/proofs/inclusion",
        summary="Proof that an event is in a signed checkpoint of the log",
        description="The event at log `position` is leaf `leaf_index` of the tree of the "
        "signed checkpoint of `size` events (default: the latest checkpoint)." + PROOF_TEXT,
        tag="auditor",
        roles=STAFF,
        handler=get_inclusion_proof,
        query=s.obj(
            {"position": {**SIZE, "description": "The event's log position."}},
            {"size": {**SIZE, "description": "The checkpoint's size (default: the latest)."}},
        ),
        response=INCLUSION,
        example_response=EXAMPLE_INCLUSION,
    ),
    Operation(
        operation_id="get_consistency_proof",
        method="GET",
        path="/v1/audit/proofs/consistency",
        summary="Proof that a signed checkpoint extends an older one",
        description="The tree of the checkpoint of `from` events is a prefix of that of "
        "`to` events: the log between them only grew." + PROOF_TEXT,
        tag="auditor",
        roles=STAFF,
        handler=get_consistency_proof,
        query=s.obj(
            {
                "from": {**SIZE, "description": "The older checkpoint's size."},
                "to": {**SIZE, "description": "The newer checkpoint's size."},
            }
        ),
        response=CONSISTENCY,
        example_response=EXAMPLE_CONSISTENCY,
    ),
)
