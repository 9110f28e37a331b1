"""The `tirelire` command line, run as a user runs it: a real process on a real database."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.sepa import check_pain001

TIMEOUT_S = 300


def tirelire(*args: str, cwd: Path, url: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIRELIRE_")}
    if url:
        env["TIRELIRE_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def test_demo_on_the_default_sqlite_file_balances_to_zero(tmp_path: Path) -> None:
    refused = tirelire("demo", "--teachers", "50", "--quiet", cwd=tmp_path)
    assert refused.returncode == 2
    assert "schema_not_migrated" in refused.stderr and "tirelire migrate" in refused.stderr

    assert tirelire("migrate", cwd=tmp_path).returncode == 0
    assert (tmp_path / "tirelire.db").exists()  # the default: a file where you stand
    demo = tirelire("demo", "--teachers", "300", "--quiet", "--seed", "7", cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert "Granted 300 credits" in demo.stdout
    assert "trial balance" in demo.stdout and demo.stdout.rstrip().endswith("0,00\u00a0€")
    check_vendor_chain(demo.stdout, tmp_path)
    balances = tirelire("balances", cwd=tmp_path)
    assert balances.returncode == 0
    assert balances.stdout.strip().splitlines()[-1].endswith("0,00\u00a0€")


def check_vendor_chain(output: str, folder: Path) -> None:
    """Vendors, two batches paid by valid pain.001 files and reconciled, a debit note."""
    assert "Vendors: 5 approved" in output
    assert "Code en Classe suspended" in output and "vendor_status_conflict" in output
    files = re.findall(r"pain\.001 file (\S+\.xml)", output)
    assert len(files) == 2
    for name in files:
        check_pain001((folder / name).read_bytes())
    counts = re.findall(r"(\d+) matched, (\d+) unmatched .*, (\d+) missing", output)
    assert len(counts) == 2
    assert all(
        int(matched) > 0 and (unmatched, missing) == ("1", "0")
        for matched, unmatched, missing in counts
    )
    deducted = re.search(r"Batch 2: .* less (\d+) debit note\(s\)", output)
    assert deducted and int(deducted[1]) > 0, output


def test_the_same_seed_gives_the_same_books(tmp_path: Path) -> None:
    outputs = []
    for run in ("a", "b"):
        folder = tmp_path / run
        folder.mkdir()
        tirelire("migrate", cwd=folder)
        demo = tirelire(
            "demo",
            "--teachers",
            "120",
            "--quiet",
            "--seed",
            "3",
            "--campaign-key",
            "same",
            cwd=folder,
        )
        assert demo.returncode == 0, demo.stderr
        # How many transactions the group committer needed depends on the threads' timing;
        # so does the order of the log, hence its Merkle root, and each database has its own
        # households' key, hence its own households' accounts in the balances commitment.
        lines = demo.stdout.split("\n")[1:]
        timed = ("Group commit:", "checkpoint signed:")
        outputs.append([line for line in lines if not line.startswith(timed)])
    assert outputs[0] == outputs[1]
    assert "pain.001 file tirelire-same-batch-1.xml" in "\n".join(outputs[0])


@pytest.mark.postgres
def test_demo_runs_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    demo = tirelire("demo", "--teachers", "200", "--quiet", cwd=tmp_path, url=pg_url)
    assert demo.returncode == 0, demo.stderr
    assert "PostgreSQL" in demo.stdout
    check_vendor_chain(demo.stdout, tmp_path)
    assert demo.stdout.rstrip().endswith("0,00\u00a0€")


def test_a_bad_database_url_is_refused_clearly(tmp_path: Path) -> None:
    result = tirelire("balances", cwd=tmp_path, url="mysql://nope")
    assert result.returncode == 2
    assert "unsupported database URL" in result.stderr
