"""Errors of audit proofs, signed checkpoints and exports of the log."""

from __future__ import annotations

from ledger.errors.base import Conflict, InvalidInput, NotFound


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


# Audit: the checkpoints the system keeps, and proofs against them (`projections.checkpoint_store`,
# `projections.checkpointer`, `projections.log_proofs`).
class CheckpointNotFound(NotFound):
    """No stored checkpoint of that size (or none at all yet)."""

    code = "checkpoint_not_found"
    title = "No such signed checkpoint"


class EventNotFound(NotFound):
    """No event at that log position within the tree of the checkpoint asked for."""

    code = "event_not_found"
    title = "No such event in the checkpointed log"


class CheckpointNotExtending(Conflict):
    """A checkpoint that covers no more of the log than the latest one stored."""

    code = "checkpoint_not_extending"
    title = "The checkpoint does not extend the latest one"


class CheckpointAlreadyCosigned(Conflict):
    """A stored checkpoint already carries another witness's co-signature."""

    code = "checkpoint_already_cosigned"
    title = "The checkpoint is already co-signed"


class CheckpointMismatch(Conflict):
    """The log no longer hashes to a checkpoint we signed: it was rewritten under us."""

    code = "checkpoint_mismatch"
    title = "The log does not match a stored checkpoint"


# Audit: reports of the programme (`projections.report`, `projections.report_check`).
class MalformedReport(InvalidInput):
    """A file that holds no report, or a report missing its fields or seal."""

    code = "malformed_report"
    title = "The report is malformed"


class ReportMismatch(InvalidInput):
    """A report that the log does not confirm; `field` names the first field that differs
    (`sha256`, `checkpoint.signature`, `checkpoint.root`, `indicators.purchases_cents`, …)."""

    code = "report_mismatch"
    title = "The report does not match the log"


# Audit: witnesses' co-signatures of the kept checkpoints (`api.witness_cli`).
class CheckpointNotKept(InvalidInput):
    """A co-signed checkpoint line that matches no kept checkpoint field for field
    (`line` names it): nothing of the file is stored."""

    code = "checkpoint_not_kept"
    title = "The co-signed checkpoint is not one we keep"
