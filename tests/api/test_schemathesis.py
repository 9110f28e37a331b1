"""Schemathesis against the served OpenAPI document: 0 server errors, 0 answers that break
the document, authentication enforced on every protected operation."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from api.spec import Role
from api.tokens import issue_token, load_or_create_signing_key
from ledger.settings import Settings
from tests import helpers
from tests.api.conftest import Clock, served_settings
from tests.api.served import serving

EXAMPLES = int(os.environ.get("TIRELIRE_SCHEMATHESIS_EXAMPLES", "10"))


def schemathesis(url: str, token: str, report: Path) -> subprocess.CompletedProcess:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance,use_after_free,ensure_resource_availability",
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        "2027",
        "--workers",
        "1",
        "--phases",
        "examples,coverage,fuzzing",
        "--request-timeout",
        "20",
        "--no-color",
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)


# A device bank's party, a telecom operator and a co-financing company are named as
# `api.parties` names them.
SUBJECTS = {
    "donor": "company:38012986646850",
    "refurbisher": "organisation:55210055400013",
    "telecom_operator": "telecom:380129866",
    "company": "company:38012986646850",
}


ROLES = ["teacher", "vendor", "operator", "auditor", "regulator", *SUBJECTS]
# On PostgreSQL, the roles whose operations write the most: every role runs on SQLite, and
# the document and the handlers are the same on both stores (18 runs took half the suite).
POSTGRESQL_ROLES = ["operator", "telecom_operator"]


def run_generated_requests(api_settings: Settings, tmp_path: Path, role: str) -> None:
    # Generated requests come fast and guess codes: limits would answer most of them.
    api_settings = dataclasses.replace(
        api_settings, rate_per_minute=10**6, code_guesses_per_minute=10**6
    )
    key = load_or_create_signing_key(api_settings)
    subject = SUBJECTS.get(role, f"{role}-1")
    token = issue_token(key, subject=subject, role=Role(role), now=int(time.time()))
    with serving(api_settings, clock=Clock(helpers.DURING)) as url:
        result = schemathesis(url, token, tmp_path / "report")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


@pytest.mark.parametrize("role", ROLES)
def test_the_api_keeps_to_its_document_under_generated_requests(sqlite_url, tmp_path, role):
    run_generated_requests(
        served_settings(Settings(database_url=sqlite_url), tmp_path), tmp_path, role
    )


@pytest.mark.postgres
@pytest.mark.parametrize("role", POSTGRESQL_ROLES)
def test_the_api_keeps_to_its_document_on_postgresql_too(pg_url, tmp_path, role):
    run_generated_requests(served_settings(Settings(database_url=pg_url), tmp_path), tmp_path, role)
