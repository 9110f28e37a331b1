"""`tirelire audit public-key`, `export` without `--key`, and a witness co-signing the kept
checkpoints (`tirelire checkpoints cosign | witness`), on both stores, in process."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from api.audit_cli import read_public_key
from api.cli import main
from api.tokens import read_signing_key
from ledger.checkpoints import FIELDS, Checkpoint
from ledger.proofs import SignedCheckpoint
from tests.integration.test_proof_cli import grant

NO_DATABASE = "sqlite:////nonexistent/folder/none.sqlite"  # the witness has no database


@pytest.fixture
def tirelire(store_url: str, tmp_path: Path, monkeypatch, capsys):
    """Run a command on the store (or with none: `database=False`); its exit code, stdout
    and stderr."""
    for name in [n for n in os.environ if n.startswith("TIRELIRE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TIRELIRE_CHECKPOINT_KEY_FILE", str(tmp_path / "operator.pem"))
    monkeypatch.chdir(tmp_path)

    def run(*args: str, database: bool = True) -> tuple[int, str, str]:
        monkeypatch.setenv("TIRELIRE_DATABASE_URL", store_url if database else NO_DATABASE)
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture
def kept(tirelire, store_url, tmp_path) -> list[dict]:
    """Operator, witness and another key; two kept checkpoints (sizes 5 and 10) in
    kept.jsonl, and a consistency proof between them in consistency.json."""
    for name in ("operator.pem", "witness.pem", "other.pem"):
        assert tirelire("audit", "keygen", name)[0] == 0
    grant(store_url, "a", 3)
    assert tirelire("checkpoint")[0] == 0
    grant(store_url, "b", 3)
    assert tirelire("checkpoint")[0] == 0
    code, out, _ = tirelire("checkpoints")
    assert code == 0
    (tmp_path / "kept.jsonl").write_text(out)
    code, proof, _ = tirelire("proof", "consistency", "5", "10")
    assert code == 0
    (tmp_path / "consistency.json").write_text(proof)
    return [json.loads(line) for line in out.splitlines()]


def cosign(tirelire, source: str, out: str, key: str = "witness.pem", *more: str):
    return tirelire(
        "checkpoints", "cosign", source, "--operator", "operator.pem.pub", "--key", key,
        "--out", out, *more, database=False,
    )  # fmt: skip


def write_lines(path: Path, lines: list[dict]) -> None:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def witness_signatures(tirelire) -> list[str | None]:
    code, out, _ = tirelire("checkpoints")
    assert code == 0
    return [json.loads(line)["witness_signature"] for line in out.splitlines()]


def test_public_key_verifies_kept_checkpoints_and_default_exports(tirelire, kept, tmp_path):
    code, pem, _ = tirelire("audit", "public-key")
    assert code == 0 and pem == (tmp_path / "operator.pem.pub").read_text()
    (tmp_path / "operator.pub").write_text(pem)
    operator = read_public_key(tmp_path / "operator.pub")
    for line in kept:
        SignedCheckpoint.from_dict(line).check(operator)

    code, _, err = tirelire("export", "--every", "4", "--out", "books.jsonl", "--quiet")
    assert code == 0 and "Exported 10 events." in err
    code, out, _ = tirelire("verify", "books.jsonl", "--key", "operator.pub", database=False)
    assert code == 0 and out.startswith("Verified 10 events and 3 checkpoints")
    code, _, err = tirelire("verify", "books.jsonl", "--key", "witness.pem.pub", database=False)
    assert code == 2 and "export_mismatch" in err
    # --key still signs with the key given.
    assert tirelire("export", "--key", "other.pem", "--out", "other.jsonl", "--quiet")[0] == 0
    assert tirelire("verify", "other.jsonl", "--key", "other.pem.pub")[0] == 0


def test_a_witness_co_signs_kept_checkpoints_offline_and_the_operator_keeps_them(
    tirelire, kept, tmp_path
):
    assert witness_signatures(tirelire) == [None, None]
    code, out, _ = cosign(
        tirelire, "kept.jsonl", "cosigned.jsonl", "witness.pem", "--consistency",
        "consistency.json",
    )  # fmt: skip
    assert code == 0, out
    assert "Co-signed 2 checkpoints (sizes 5 to 10)" in out
    assert "Shown consistent by a proof: 5->10." in out and "NOT shown consistent: none." in out
    cosigned = [json.loads(line) for line in (tmp_path / "cosigned.jsonl").read_text().splitlines()]
    assert [{**line, "witness_signature": None} for line in cosigned] == kept

    code, out, _ = tirelire(
        "checkpoints", "witness", "cosigned.jsonl", "--witness", "witness.pem.pub"
    )
    assert code == 0 and "Stored 2 witness signatures" in out
    code, out, _ = tirelire("checkpoints")
    assert [json.loads(line) for line in out.splitlines()] == cosigned
    assert tirelire("checkpoints", "list")[1] == out
    (tmp_path / "witnessed.jsonl").write_text(out)
    code, out, _ = tirelire(
        "checkpoints", "witness", "cosigned.jsonl", "--witness", "witness.pem.pub"
    )
    assert code == 0 and "Stored 0 witness signatures" in out and "2 were already" in out

    # Proofs now carry the co-signature; an auditor checks it with --witness.
    code, proof, _ = tirelire("proof", "inclusion", "3")
    (tmp_path / "proof.json").write_text(proof)
    with_witness = ("--key", "operator.pem.pub", "--witness", "witness.pem.pub")
    code, out, _ = tirelire("proof", "check", "proof.json", *with_witness, database=False)
    assert code == 0 and out.startswith("Verified: ")
    code, _, err = tirelire(
        "proof", "check", "proof.json", "--key", "operator.pem.pub", "--witness",
        "other.pem.pub", database=False,
    )  # fmt: skip
    assert code == 2 and "invalid_checkpoint_signature" in err

    # An export co-signed by the witness reaches the witnessed checkpoints the auditor kept.
    assert tirelire("export", "--out", "books.jsonl", "--quiet")[0] == 0
    code, _, err = tirelire(
        "audit", "cosign", "books.jsonl", "--operator", "operator.pem.pub", "--key",
        "witness.pem", "--out", "books.cosigned.jsonl", database=False,
    )  # fmt: skip
    assert code == 0, err
    at_least = ("--at-least", "witnessed.jsonl")
    code, out, err = tirelire("verify", "books.cosigned.jsonl", *with_witness, *at_least)
    assert code == 0 and "reaches the 2 checkpoints you kept" in out, err
    # A kept line whose co-signature is not the witness's is refused under --witness.
    forged = [dict(line) for line in cosigned]
    forged[1]["witness_signature"] = forged[0]["witness_signature"]
    write_lines(tmp_path / "forged.jsonl", forged)
    code, _, err = tirelire(
        "verify", "books.cosigned.jsonl", *with_witness, "--at-least", "forged.jsonl"
    )
    assert code == 2 and "invalid_checkpoint_signature" in err


def test_the_witness_refuses_what_it_cannot_check(tirelire, kept, tmp_path):
    other = read_signing_key(tmp_path / "other.pem")
    forged = [dict(line) for line in kept]
    checkpoint = Checkpoint.from_dict({n: forged[1][n] for n in FIELDS})
    forged[1]["signature"] = base64.b64encode(other.sign(checkpoint.signed_bytes())).decode()
    write_lines(tmp_path / "forged.jsonl", forged)
    code, _, err = cosign(tirelire, "forged.jsonl", "out.jsonl")
    assert code == 2 and "invalid_checkpoint_signature: forged.jsonl, line 2:" in err

    write_lines(tmp_path / "reversed.jsonl", kept[::-1])
    code, _, err = cosign(tirelire, "reversed.jsonl", "out.jsonl")
    assert code == 2 and "invalid_checkpoint: reversed.jsonl, line 2:" in err
    assert "size 5 does not follow size 10" in err

    write_lines(tmp_path / "last.jsonl", kept[1:])  # the proof's older end is not a line
    code, _, err = cosign(tirelire, "last.jsonl", "out.jsonl", "witness.pem", "--consistency",
                          "consistency.json")  # fmt: skip
    assert code == 2 and "invalid_proof" in err and "checkpoint_not_in_file" in err
    assert not (tmp_path / "out.jsonl").exists()  # nothing was co-signed


def test_the_operator_stores_nothing_from_a_file_it_cannot_match(tirelire, kept, tmp_path):
    to_witness = ("--witness", "witness.pem.pub")
    assert cosign(tirelire, "kept.jsonl", "by-other.jsonl", "other.pem")[0] == 0
    code, _, err = tirelire("checkpoints", "witness", "by-other.jsonl", *to_witness)
    assert code == 2 and "invalid_checkpoint_signature: by-other.jsonl, line 1:" in err

    assert cosign(tirelire, "kept.jsonl", "cosigned.jsonl")[0] == 0
    lines = [json.loads(t) for t in (tmp_path / "cosigned.jsonl").read_text().splitlines()]
    edited = [dict(line) for line in lines]
    edited[1]["issued_at"] = "2030-01-01T00:00:00Z"  # line 1 is fine: it is not stored either
    write_lines(tmp_path / "edited.jsonl", edited)
    code, _, err = tirelire("checkpoints", "witness", "edited.jsonl", *to_witness)
    assert code == 2 and "checkpoint_not_kept: edited.jsonl, line 2:" in err
    assert "differs from the one kept in its issued_at" in err

    unknown = [dict(lines[0])]
    unknown[0]["log_size"] = 7
    write_lines(tmp_path / "unknown.jsonl", unknown)
    code, _, err = tirelire("checkpoints", "witness", "unknown.jsonl", *to_witness)
    assert code == 2 and "checkpoint_not_kept: unknown.jsonl, line 1:" in err
    assert witness_signatures(tirelire) == [None, None]  # nothing stored

    # Once co-signed, another witness's co-signature is refused.
    assert tirelire("checkpoints", "witness", "cosigned.jsonl", *to_witness)[0] == 0
    code, _, err = tirelire(
        "checkpoints", "witness", "by-other.jsonl", "--witness", "other.pem.pub"
    )
    assert code == 2 and "checkpoint_already_cosigned: by-other.jsonl, line 1:" in err
    assert witness_signatures(tirelire) == [line["witness_signature"] for line in lines]
