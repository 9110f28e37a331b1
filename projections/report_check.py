"""Confirming a report against the log: `check_report`.

A report (`projections.report`) is confirmed when, in this order:

1. its `sha256` is the SHA-256 of its canonical JSON (nothing was edited after sealing);
2. its checkpoint is well formed and the operator's public key verifies its signature
   (the operator vouched for it);
3. the log up to the checkpoint's position gives the same checkpoint: log size, Merkle
   root and balances commitment (the checkpoint belongs to this log at this position);
4. every figure computed again from the log at that position is the same, field by field
   (`as_of`, `indicators`, `devices`, …): the read models are replayed as the report was.

The first failure raises `ReportMismatch` whose `field` names what differs, such as
`sha256`, `checkpoint.signature`, `checkpoint.root` or `indicators.purchases_cents`.
`generated_at` and the checkpoint's `issued_at` are only the moments stated: the
signature covers `issued_at`, the digest both.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.audit_log import b64decode
from ledger.audit_parallel import audit_checkpoint
from ledger.checkpoints import FIELDS, TIME_FORMAT, Checkpoint, verify
from ledger.errors import (
    InvalidCheckpoint,
    InvalidCheckpointSignature,
    MalformedReport,
    ReportMismatch,
)
from ledger.vouchers import VoucherLedger
from projections.report import (
    REPORT_FORMAT,
    SEAL_FIELDS,
    Progress,
    figures,
    head,
    position_at,
    replay_for_report,
    report_digest,
)

CHECKPOINT_FIELDS = frozenset({*FIELDS, "position", "signature"})
MAX_DIFFERENCE_CHARS = 60  # of each value, when a message quotes a difference


def check_report(
    app: VoucherLedger,
    report: Any,
    operator: Ed25519PublicKey,
    progress: Progress | None = None,
    processes: int = 1,
) -> int:
    """Confirm `report` against the log of `app`; the position it stands at. Raises
    `MalformedReport` or `ReportMismatch` naming the first field that differs."""
    check_shape(report)
    if report_digest(report) != report["sha256"]:
        raise mismatch("sha256", "the sha256 is not that of the report: it was edited")
    checkpoint, position = signed_checkpoint(report["checkpoint"], operator)
    if position > head(app):
        raise mismatch("checkpoint.position", f"position {position} is beyond the log")
    when = moment(checkpoint.issued_at)
    found = audit_checkpoint(app.recorder, app.mapper, position, when, processes=processes)
    for name in ("log_size", "root", "balances_sha256"):
        if getattr(found, name) != getattr(checkpoint, name):
            raise mismatch(f"checkpoint.{name}", f"the log at position {position} gives another")
    expected = recompute(app, report, position, progress)
    for path, ours, theirs in differences(expected, strip_seal(report)):
        raise mismatch(path, f"the log gives {show(ours)}, the report says {show(theirs)}")
    return position


def check_shape(report: Any) -> None:
    if not isinstance(report, dict) or report.get("format") != REPORT_FORMAT:
        raise MalformedReport(f'not a report: no "format": "{REPORT_FORMAT}"')
    missing = [name for name in SEAL_FIELDS if name not in report]
    if missing:
        raise MalformedReport(f"the report has no {', '.join(missing)}")
    if not isinstance(report["sha256"], str) or not isinstance(report["checkpoint"], dict):
        raise MalformedReport("the report's sha256 is text and its checkpoint an object")


def signed_checkpoint(fields: dict[str, Any], operator: Ed25519PublicKey) -> tuple[Checkpoint, int]:
    """The checkpoint, once its signature verifies, and its position."""
    if set(fields) != CHECKPOINT_FIELDS:
        raise mismatch("checkpoint", f"a checkpoint has the fields {sorted(CHECKPOINT_FIELDS)}")
    position = fields["position"]
    if type(position) is not int or position < 0:
        raise mismatch("checkpoint.position", "a position is a count")
    try:
        checkpoint = Checkpoint.from_dict({name: fields[name] for name in FIELDS})
        signature = b64decode(fields["signature"])
        verify(checkpoint, signature, operator)
    except InvalidCheckpoint as error:
        field = error.details.get("field", "log_size")
        raise mismatch(f"checkpoint.{field}", error.message) from None
    except (InvalidCheckpointSignature, ValueError, TypeError):
        raise mismatch(
            "checkpoint.signature", "the signature does not verify with this key"
        ) from None
    return checkpoint, position


def recompute(
    app: VoucherLedger, report: dict[str, Any], position: int, progress: Progress | None
) -> dict[str, Any]:
    """The report's figures computed again at `position`; a report asked as of a moment
    must also stand at the position that moment gives."""
    as_of = report.get("as_of")
    at = as_of.get("at") if isinstance(as_of, dict) else None
    if at is not None:
        try:
            asked = moment(at)
        except (TypeError, ValueError):
            raise mismatch("as_of.at", "a moment is written like 2028-05-06T12:00:00Z") from None
        if position_at(app, asked) != position:
            raise mismatch("as_of.at", f"the log at {at} is not at position {position}")
    engine, fold = replay_for_report(app, position, progress)
    try:
        return figures(engine, fold, position, at)
    finally:
        engine.dispose()


def strip_seal(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k not in SEAL_FIELDS}


def differences(ours: Any, theirs: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Each place where two JSON values differ, in key order; types count (1 ≠ 1.0 ≠ true)."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for key in sorted({*ours, *theirs}):
            where = f"{path}.{key}" if path else key
            yield from differences(ours.get(key, MISSING), theirs.get(key, MISSING), where)
    elif isinstance(ours, list) and isinstance(theirs, list):
        for n in range(max(len(ours), len(theirs))):
            yield from differences(
                ours[n] if n < len(ours) else MISSING,
                theirs[n] if n < len(theirs) else MISSING,
                f"{path}[{n}]",
            )
    elif type(ours) is not type(theirs) or ours != theirs:
        yield path, ours, theirs


class _Missing:
    def __repr__(self) -> str:
        return "nothing"


MISSING = _Missing()


def show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_DIFFERENCE_CHARS else text[: MAX_DIFFERENCE_CHARS - 1] + "…"


def moment(text: str) -> datetime:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)


def mismatch(field: str, why: str) -> ReportMismatch:
    return ReportMismatch(f"{field}: {why}", field=field)
