"""`tirelire token …` and `tirelire apikey …`, called in-process on a migrated SQLite file."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from api.cli import main
from api.keys import ApiKeys
from api.spec import Role
from api.tokens import TokenVerifier, load_or_create_signing_key
from ledger.errors import InvalidToken
from ledger.settings import Settings
from projections.engine import create_read_engine


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> Settings:
    """A migrated SQLite file as the configured database, and nothing else configured."""
    for name in [name for name in os.environ if name.startswith("TIRELIRE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("TIRELIRE_DATABASE_URL", f"sqlite:///{tmp_path / 't.db'}")
    assert main(["migrate"]) == 0
    capsys.readouterr()
    return Settings.from_env()


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_token_issue_prints_a_token_the_verifier_accepts(settings, capsys):
    code, out, err = run(capsys, "token", "issue", "--role", "teacher", "--subject", "t-42")
    assert code == 0 and "development signing key" in err
    key = load_or_create_signing_key(settings)
    caller = TokenVerifier(key.public_key()).verify(out.strip(), now=int(time.time()))
    assert (caller.role, caller.subject) == (Role.TEACHER, "t-42")
    assert caller.expires_at - time.time() <= 3600


def test_token_issue_takes_a_lifetime_and_public_key_prints_the_verifying_key(settings, capsys):
    _, out, _ = run(capsys, "token", "issue", "--role", "auditor", "--subject", "a1", "--ttl", "60")
    code, pem, _ = run(capsys, "token", "public-key")
    assert code == 0 and pem.startswith("-----BEGIN PUBLIC KEY-----")
    verifier = TokenVerifier(serialization.load_pem_public_key(pem.encode()))
    caller = verifier.verify(out.strip(), now=int(time.time()))
    assert caller.role is Role.AUDITOR and caller.expires_at - time.time() <= 60


def test_an_unknown_role_exits_non_zero_with_a_clear_message(settings, capsys):
    code, out, err = run(capsys, "token", "issue", "--role", "admin", "--subject", "t-42")
    assert code == 2 and out == ""
    assert "unknown role 'admin'" in err and "teacher, vendor, operator" in err


def test_a_lifetime_beyond_thirty_days_exits_non_zero(settings, capsys):
    code, out, err = run(
        capsys, "token", "issue", "--role", "teacher", "--subject", "t", "--ttl", "2592001"
    )
    assert code == 2 and out == "" and "30 days" in err


def test_token_issue_on_postgresql_without_a_key_file_says_what_to_do(monkeypatch, capsys):
    monkeypatch.delenv("TIRELIRE_SIGNING_KEY_FILE", raising=False)
    monkeypatch.setenv("TIRELIRE_DATABASE_URL", "postgresql://postgres@127.0.0.1/tirelire")
    code, out, err = run(capsys, "token", "issue", "--role", "teacher", "--subject", "t")
    assert code == 2 and out == ""
    assert "invalid_signing_key" in err and "tirelire token keygen PATH" in err


def test_keygen_writes_a_key_that_signs_and_never_overwrites_it(settings, capsys, tmp_path):
    path = tmp_path / "prod.pem"
    code, out, _ = run(capsys, "token", "keygen", str(path))
    assert code == 0 and str(path) in out
    before = path.read_bytes()
    code, _, err = run(capsys, "token", "keygen", str(path))
    assert code == 2 and "already exists" in err
    assert path.read_bytes() == before


def test_apikey_issue_list_and_revoke_round_trip(settings, capsys):
    code, out, err = run(
        capsys, "apikey", "issue", "--vendor", "v-1", "--scope", "submit_claim", "--scope", "b"
    )
    assert code == 0 and "shown this once" in err
    lines = dict(line.split(": ", 1) for line in out.strip().splitlines())
    key_id, secret = lines["key id"], lines["secret"]
    engine = create_read_engine(settings)
    try:
        keys = ApiKeys(engine, cache_ttl_s=0)
        caller = keys.verify(secret)
        assert (caller.subject, caller.role, caller.key_id) == ("v-1", Role.VENDOR, key_id)
        assert caller.scopes == {"submit_claim", "b"}

        code, listed, _ = run(capsys, "apikey", "list", "--vendor", "v-1")
        assert code == 0 and key_id in listed and "active" in listed
        assert "b submit_claim" in listed and secret not in listed

        assert run(capsys, "apikey", "revoke", key_id)[:2] == (0, f"Revoked API key {key_id}.\n")
        with pytest.raises(InvalidToken, match="revoked"):
            keys.verify(secret)
        code, again, _ = run(capsys, "apikey", "revoke", key_id)
        assert code == 0 and "already revoked" in again
        _, listed, _ = run(capsys, "apikey", "list", "--vendor", "v-1")
        assert "revoked" in listed and "by cli:operator" in listed
    finally:
        engine.dispose()


def test_apikey_list_of_a_vendor_without_keys_says_so(settings, capsys):
    assert run(capsys, "apikey", "list", "--vendor", "v-9")[:2] == (0, "No API keys for v-9.\n")


def test_revoking_an_unknown_key_exits_non_zero(settings, capsys):
    code, out, err = run(capsys, "apikey", "revoke", "0" * 32)
    assert code == 2 and out == "" and "not_found" in err


def test_a_refused_scope_exits_non_zero_and_issues_nothing(settings, capsys):
    code, out, err = run(capsys, "apikey", "issue", "--vendor", "v-1", "--scope", "Submit")
    assert code == 2 and out == "" and "snake_case" in err
    assert run(capsys, "apikey", "list", "--vendor", "v-1")[1] == "No API keys for v-1.\n"


def test_apikey_commands_need_a_migrated_database(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TIRELIRE_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    code, out, err = run(capsys, "apikey", "issue", "--vendor", "v-1")
    assert code == 2 and out == "" and "schema_not_migrated" in err
