"""`tirelire checkpoint | checkpoints | proof …` and `verify --at-least`, as an operator and
an auditor run them, on both stores (in process: the commands' `main`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from api.cli import main
from ledger.settings import Settings
from ledger.vouchers import VoucherLedger
from tests import helpers


@pytest.fixture
def tirelire(store_url: str, tmp_path: Path, monkeypatch, capsys):
    """Run a command on the store; its exit code, stdout and stderr."""
    for name in [n for n in os.environ if n.startswith("TIRELIRE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TIRELIRE_DATABASE_URL", store_url)
    monkeypatch.setenv("TIRELIRE_CHECKPOINT_KEY_FILE", str(tmp_path / "operator.pem"))
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def grant(url: str, key: str, teachers: int) -> None:
    """A campaign of its own and a grant: 2 + `teachers` events."""
    app = VoucherLedger(Settings(database_url=url))
    try:
        campaign = helpers.open_campaign(app, key=f"campaign-{key}")
        names = tuple(f"{key}-{n}" for n in range(teachers))
        app.grant_credits(
            campaign, names, grant_key=key, by="op", now=helpers.START,
            territories=helpers.in_paris(names),
        )  # fmt: skip
    finally:
        app.close()


def test_checkpoints_and_proofs_through_the_command_line(tirelire, store_url, tmp_path):
    assert tirelire("audit", "keygen", "operator.pem")[0] == 0
    code, out, err = tirelire("checkpoint")
    assert (code, out) == (0, "") and "none signed" in err  # nothing to sign
    grant(store_url, "a", 3)  # 5 events
    code, out, _ = tirelire("checkpoint")
    first = json.loads(out)
    assert (code, first["log_size"], first["witness_signature"]) == (0, 5, None)
    code, out, err = tirelire("checkpoint")
    assert (code, out) == (0, "") and "none signed" in err
    grant(store_url, "b", 3)  # 5 more
    second = json.loads(tirelire("checkpoint")[1])
    code, out, _ = tirelire("checkpoints")
    assert [json.loads(line) for line in out.splitlines()] == [first, second]
    (tmp_path / "kept.jsonl").write_text(out)

    for args in (("inclusion", "1"), ("inclusion", "3", "--size", "5"), ("consistency", "5", "10")):
        code, out, _ = tirelire("proof", *args)
        assert code == 0
        (tmp_path / "proof.json").write_text(out)
        code, out, _ = tirelire("proof", "check", "proof.json", "--key", "operator.pem.pub")
        assert code == 0 and out.startswith("Verified: ")

    proof = json.loads(tirelire("proof", "inclusion", "7")[1])
    assert (proof["leaf_index"], proof["tree_size"]) == (6, 10)
    proof["audit_path"][0] = "0" * 64
    (tmp_path / "tampered.json").write_text(json.dumps(proof))
    code, _, err = tirelire("proof", "check", "tampered.json", "--key", "operator.pem.pub")
    assert code == 2 and "invalid_proof" in err and "root_mismatch" in err
    assert tirelire("audit", "keygen", "other.pem")[0] == 0
    code, _, err = tirelire("proof", "check", "proof.json", "--key", "other.pem.pub")
    assert code == 2 and "invalid_checkpoint_signature" in err
    code, _, err = tirelire("proof", "inclusion", "99")
    assert code == 2 and "event_not_found" in err
    code, _, err = tirelire("proof", "consistency", "5", "7")
    assert code == 2 and "checkpoint_not_found" in err

    # An export cut at its own checkpoint of 4 events: whole alone, short of what was kept.
    assert tirelire("export", "--key", "operator.pem", "--every", "4", "--out", "x.jsonl")[0] == 0
    lines = (tmp_path / "x.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "cut.jsonl").write_text("".join(lines[:5]))
    assert json.loads(lines[4])["kind"] == "checkpoint"
    assert tirelire("verify", "cut.jsonl", "--key", "operator.pem.pub")[0] == 0
    at_least = ("--key", "operator.pem.pub", "--at-least", "kept.jsonl")
    code, out, _ = tirelire("verify", "x.jsonl", *at_least)
    assert code == 0 and "reaches the 2 checkpoints you kept" in out
    code, _, err = tirelire("verify", "cut.jsonl", *at_least)
    assert code == 2 and "export_mismatch: line 5:" in err
    assert "(truncated_before_known_checkpoint)" in err


def test_the_audit_pass_confirms_the_latest_signed_checkpoint_from_the_log(tirelire, store_url):
    assert tirelire("audit", "keygen", "operator.pem")[0] == 0
    grant(store_url, "a", 3)  # 5 events
    signed = json.loads(tirelire("checkpoint")[1])
    grant(store_url, "b", 3)  # 5 more, after the checkpoint
    code, out, err = tirelire("audit", "pass", "--quiet")
    found = json.loads(out)
    assert code == 0 and "confirmed: the signed checkpoint of size 5" in err
    assert (found["position"], found["log_size"], found["signed_checkpoint"]) == (5, 5, 5)
    assert found["processes"] == 1  # five events: not worth a second process
    assert (found["root"], found["balances_sha256"]) == (signed["root"], signed["balances_sha256"])

    code, out, err = tirelire("audit", "pass", "--position", "10", "--processes", "1", "--quiet")
    found = json.loads(out)
    assert code == 0 and (found["log_size"], found["signed_checkpoint"]) == (10, None)
    assert "confirmed" not in err and found["events_per_second"] > 0

    code, out, err = tirelire("audit", "pass", "--position", "11")
    assert code != 0 and out == "" and "invalid_input" in err

    # The kept checkpoint no longer matches the log (as if the log had been rewritten).
    engine = create_engine(Settings(database_url=store_url).store.sqlalchemy_url())
    with engine.begin() as conn:
        conn.execute(text("UPDATE checkpoints SET root = :r"), {"r": "0" * 64})
    engine.dispose()
    code, _, err = tirelire("audit", "pass", "--quiet")
    assert code != 0 and "checkpoint_mismatch" in err and "root differs" in err
