"""Exports for auditors, on both stores: a clean export verifies offline, and every
tampering an operator (or anyone between us and the auditor) could try is caught, naming
the first bad line."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.audit_cli import export_jsonl, verify_export
from api.demo_devices import run_drive
from ledger.application import LedgerApplication
from ledger.audit_log import checkpoint_line, event_leaf_hash
from ledger.checkpoints import FIELDS, Checkpoint, balances_commitment
from ledger.device_bank import DeviceBank
from ledger.errors import ExportMismatch
from ledger.settings import Settings

EVERY = 50  # events per checkpoint: the drive records about 300, so several checkpoints
NOW = datetime(2026, 11, 29, 22, 40, tzinfo=UTC)
TIMEOUT_S = 300


@dataclass
class Export:
    lines: list[dict]
    key: Ed25519PrivateKey
    folder: Path

    def event_lines(self) -> list[int]:
        return [n for n, line in enumerate(self.lines, 1) if line["kind"] == "event"]

    def checkpoint_lines(self) -> list[int]:
        return [n for n, line in enumerate(self.lines, 1) if line["kind"] == "checkpoint"]

    def verify(self, lines: list[dict] | None = None, key=None, witness=None) -> None:
        path = self.folder / f"export-{uuid.uuid4().hex}.jsonl"
        path.write_text("".join(json.dumps(line) + "\n" for line in lines or self.lines))
        verify_export(path, key or self.key.public_key(), witness)

    def refused_at(self, lines: list[dict], key=None) -> ExportMismatch:
        with pytest.raises(ExportMismatch) as refused:
            self.verify(lines, key)
        return refused.value


def build_books(settings: Settings) -> None:
    bank = DeviceBank(settings)
    try:
        run_drive(bank, 4, seed=1, run_key="x")
    finally:
        bank.close()


@pytest.fixture
def export(store_settings: Settings, tmp_path: Path) -> Export:
    build_books(store_settings)
    key = Ed25519PrivateKey.generate()
    app = LedgerApplication(store_settings)
    out = io.StringIO()
    try:
        export_jsonl(app, out, key, EVERY, NOW)
    finally:
        app.close()
    return Export([json.loads(t) for t in out.getvalue().splitlines()], key, tmp_path)


def copy(lines: list[dict]) -> list[dict]:
    return [dict(line) for line in lines]


def test_a_clean_export_verifies_with_a_checkpoint_every_n_events_and_one_at_the_end(export):
    export.verify()
    events, checkpoints = export.event_lines(), export.checkpoint_lines()
    assert len(events) > 4 * EVERY
    assert [export.lines[n - 1]["log_size"] for n in checkpoints] == [
        *range(EVERY, len(events) + 1, EVERY),
        *([len(events)] if len(events) % EVERY else []),
    ]
    assert checkpoints[-1] == len(export.lines)
    assert export.lines[-1]["balances_sha256"] != balances_commitment({})  # money moved
    ids = [export.lines[n - 1]["notification_id"] for n in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_a_flipped_byte_in_a_state_is_caught_at_its_line(export):
    lines = copy(export.lines)
    n = export.event_lines()[10]
    state = bytearray(base64.b64decode(lines[n - 1]["state"]))
    state[len(state) // 2] ^= 0x01
    lines[n - 1]["state"] = base64.b64encode(bytes(state)).decode()
    refused = export.refused_at(lines)
    assert refused.details == {"line": n, "reason": "leaf_hash_mismatch"}


def test_a_flipped_byte_with_its_leaf_hash_recomputed_is_caught_by_the_checkpoint(export):
    lines = copy(export.lines)
    n = export.event_lines()[10]
    line = lines[n - 1]
    state = bytearray(base64.b64decode(line["state"]))
    state[-1] ^= 0x01
    line["state"] = base64.b64encode(bytes(state)).decode()
    leaf = event_leaf_hash(
        line["notification_id"],
        uuid.UUID(line["originator_id"]),
        line["originator_version"],
        line["topic"],
        bytes(state),
    )
    line["leaf_hash"] = leaf.hex()
    refused = export.refused_at(lines)
    next_checkpoint = min(c for c in export.checkpoint_lines() if c > n)
    assert refused.details["line"] in (n, next_checkpoint)  # undecodable, or a new root


def with_state(line: dict, state: bytes) -> None:
    """Give an event line another state, and the leaf hash that goes with it."""
    line["state"] = base64.b64encode(state).decode()
    leaf = event_leaf_hash(
        line["notification_id"],
        uuid.UUID(line["originator_id"]),
        line["originator_version"],
        line["topic"],
        state,
    )
    line["leaf_hash"] = leaf.hex()


def test_a_state_that_does_not_decode_is_caught_at_its_line(export):
    lines = copy(export.lines)
    n = export.event_lines()[7]
    with_state(lines[n - 1], b"\xc1")  # a byte msgpack never uses
    refused = export.refused_at(lines)
    assert refused.details == {"line": n, "reason": "undecodable_state"}


def test_a_money_event_whose_amount_is_not_cents_is_caught_at_its_line(export):
    """It decodes, but the chart cannot post it: a bad line, not a crash of the verifier."""
    lines = copy(export.lines)
    n = next(
        n for n in export.event_lines() if lines[n - 1]["topic"].endswith("Territory.Registered")
    )
    fields = msgpack.unpackb(base64.b64decode(lines[n - 1]["state"]), raw=False)
    fields["budget_cents"] = "lots"
    with_state(lines[n - 1], msgpack.packb(fields, use_bin_type=True))
    refused = export.refused_at(lines)
    assert refused.details == {"line": n, "reason": "undecodable_state"}


def test_a_deleted_event_line_is_caught_at_the_next_checkpoint(export):
    n = export.event_lines()[70]
    lines = [line for i, line in enumerate(export.lines, 1) if i != n]
    next_checkpoint = min(c for c in export.checkpoint_lines() if c > n)
    refused = export.refused_at(lines)
    assert refused.details == {"line": next_checkpoint - 1, "reason": "size_mismatch"}


def test_two_event_lines_swapped_are_caught(export):
    lines = copy(export.lines)
    n = export.event_lines()[20]
    lines[n - 1], lines[n] = lines[n], lines[n - 1]
    refused = export.refused_at(lines)
    assert refused.details == {"line": n + 1, "reason": "out_of_order"}


def test_a_forged_event_line_with_a_valid_leaf_hash_is_caught_at_the_next_checkpoint(export):
    lines = copy(export.lines)
    forged = dict(lines[export.event_lines()[-1] - 1])
    forged["notification_id"] += 1
    forged["originator_id"] = str(uuid.uuid4())
    forged["leaf_hash"] = event_leaf_hash(
        forged["notification_id"],
        uuid.UUID(forged["originator_id"]),
        forged["originator_version"],
        forged["topic"],
        base64.b64decode(forged["state"]),
    ).hex()
    final = len(lines)
    lines.insert(final - 1, forged)
    refused = export.refused_at(lines)
    assert refused.details == {"line": final + 1, "reason": "size_mismatch"}


def test_a_truncated_export_is_caught_at_its_first_uncovered_event(export):
    checkpoints = export.checkpoint_lines()
    lines = export.lines[: checkpoints[-1] - 4]  # the final checkpoint and 3 events dropped
    assert lines[-1]["kind"] == "event"
    refused = export.refused_at(lines)
    assert refused.details == {"line": checkpoints[-2] + 1, "reason": "truncated"}


def test_two_checkpoints_swapped_are_caught(export):
    lines = copy(export.lines)
    first, second = export.checkpoint_lines()[:2]
    lines[first - 1], lines[second - 1] = lines[second - 1], lines[first - 1]
    refused = export.refused_at(lines)
    assert refused.details == {"line": first, "reason": "size_mismatch"}


def test_a_balances_commitment_changed_without_re_signing_is_caught(export):
    lines = copy(export.lines)
    n = export.checkpoint_lines()[2]
    lines[n - 1]["balances_sha256"] = "0" * 64
    refused = export.refused_at(lines)
    assert refused.details == {"line": n, "reason": "bad_signature"}


def test_a_forged_checkpoint_re_signed_with_another_key_is_caught(export):
    lines = copy(export.lines)
    n = export.checkpoint_lines()[2]
    forged = Checkpoint.from_dict({**{k: lines[n - 1][k] for k in FIELDS}, "root": "0" * 64})
    lines[n - 1] = checkpoint_line(forged, Ed25519PrivateKey.generate())
    refused = export.refused_at(lines)
    assert refused.details == {"line": n, "reason": "bad_signature"}


def test_balances_the_operator_signs_but_the_events_do_not_give_are_caught(export):
    lines = copy(export.lines)
    n = export.checkpoint_lines()[2]
    lie = Checkpoint.from_dict(
        {**{k: lines[n - 1][k] for k in FIELDS}, "balances_sha256": "ab" * 32}
    )
    lines[n - 1] = checkpoint_line(lie, export.key)
    refused = export.refused_at(lines)
    assert refused.details == {"line": n, "reason": "balances_mismatch"}


def test_an_export_checked_with_the_wrong_public_key_is_refused(export):
    other = Ed25519PrivateKey.generate().public_key()
    refused = export.refused_at(export.lines, key=other)
    assert refused.details == {"line": export.checkpoint_lines()[0], "reason": "bad_signature"}


def test_an_export_without_the_witness_signature_is_refused_when_a_witness_is_named(export):
    witness = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(ExportMismatch) as refused:
        export.verify(witness=witness)
    assert refused.value.details["reason"] == "missing_witness_signature"


# The command line, as an operator and an auditor run it -------------------------------


def tirelire(*args: str, cwd: Path, url: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIRELIRE_")}
    if url:
        env["TIRELIRE_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=cwd,
        env={**env, "PYTHONPATH": str(Path(__file__).parents[2])},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def test_export_cosign_and_verify_through_the_command_line(store_settings, store_url, tmp_path):
    build_books(store_settings)
    for name in ("operator.pem", "witness.pem"):
        made = tirelire("audit", "keygen", name, cwd=tmp_path)
        assert made.returncode == 0, made.stderr
    exported = tirelire(
        "export", "--format", "jsonl", "--every", "100", "--out", "books.jsonl",
        "--key", "operator.pem", cwd=tmp_path, url=store_url,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    cosigned = tirelire(
        "audit", "cosign", "books.jsonl", "--operator", "operator.pem.pub",
        "--key", "witness.pem", "--out", "cosigned.jsonl", cwd=tmp_path,
    )  # fmt: skip
    assert cosigned.returncode == 0, cosigned.stderr
    # No database for the auditor: the URL is not even set.
    clean = tirelire(
        "verify", "cosigned.jsonl", "--key", "operator.pem.pub", "--witness", "witness.pem.pub",
        cwd=tmp_path,
    )  # fmt: skip
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout.startswith("Verified ")

    lines = (tmp_path / "books.jsonl").read_text().splitlines()
    del lines[5]
    (tmp_path / "tampered.jsonl").write_text("\n".join(lines) + "\n")
    tampered = tirelire("verify", "tampered.jsonl", "--key", "operator.pem.pub", cwd=tmp_path)
    assert tampered.returncode == 2
    assert "export_mismatch: line 100:" in tampered.stderr
    wrong_key = tirelire("verify", "books.jsonl", "--key", "witness.pem.pub", cwd=tmp_path)
    assert wrong_key.returncode == 2 and "line 101:" in wrong_key.stderr
