"""Errors of audit proofs, signed checkpoints and exports of the log."""

from __future__ import annotations

from ledger.errors.base import InvalidInput


# Audit proofs (`ledger.merkle`).
class InvalidProof(InvalidInput):
    """A proof that does not show what it claims; `reason` says which check refused it."""

    code = "invalid_proof"
    title = "The Merkle proof does not verify"


class InvalidTreeSize(InvalidInput):
    """A tree size or leaf index the log cannot answer for (beyond its size, or reversed)."""

    code = "invalid_tree_size"
    title = "No such tree size or leaf index in the log"


# Audit: signed checkpoints and exports of the log (`ledger.checkpoints`, `ledger.audit_log`).
class InvalidCheckpoint(InvalidInput):
    """A checkpoint whose fields are missing, malformed or out of range."""

    code = "invalid_checkpoint"
    title = "The checkpoint is malformed"


class InvalidCheckpointSignature(InvalidInput):
    """A checkpoint signature that does not verify under the given public key."""

    code = "invalid_checkpoint_signature"
    title = "The checkpoint signature does not verify"


class ExportMismatch(InvalidInput):
    """An export that is malformed or disagrees with its checkpoints; `line` names where."""

    code = "export_mismatch"
    title = "The export does not match its checkpoints"
