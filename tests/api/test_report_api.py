"""The programme's report over real HTTP and through the command line: JSON, CSV and HTML,
each confirmed against the log with the operator's public key; an edited file refused."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from api.report_render import read_report, render
from api.tokens import generate_key_file, read_signing_key
from ledger.errors import MalformedReport, ReportMismatch
from ledger.settings import Settings
from projections.report_check import check_report
from tests.api.conftest import served_settings
from tests.api.test_audit_api import spend

TIMEOUT_S = 120


@pytest.fixture
def api_settings(store_settings: Settings, tmp_path: Path) -> Settings:
    """The served settings, with a checkpoint key of their own (PostgreSQL needs one)."""
    key = tmp_path / "checkpoint-key.pem"
    generate_key_file(key)
    settings = served_settings(store_settings, tmp_path)
    return dataclasses.replace(settings, checkpoint_key_file=str(key))


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


async def test_the_report_is_served_as_json_csv_and_html_and_each_is_confirmed(api):
    campaign = api.campaign(("t1", "t2"))
    granted = api.vouchers.recorder.max_notification_id()
    await spend(api, campaign)
    auditor = api.token("auditor", "cour-des-comptes")
    operator = read_signing_key(Path(api.settings.checkpoint_key_file)).public_key()

    status, report = await api.call("GET", "/v1/audit/report", auditor)
    assert status == 200 and report["indicators"]["purchases_cents"] == 1990
    assert report["generated_at"] == "2027-09-11T00:00:00Z"  # the server's clock
    assert all(line["ok"] for line in report["reconciliation"])
    assert check_report(api.vouchers, report, operator) == report["as_of"]["position"]

    for fmt, media_type in (("csv", "text/csv"), ("html", "text/html")):
        response = await api.client.get(
            "/v1/audit/report", params={"format": fmt, "position": str(granted)}, headers=auditor
        )
        assert response.status == 200 and response.content_type == media_type
        content = await response.read()
        found, embedded = read_report(content)
        assert found == fmt and embedded["as_of"]["position"] == granted
        assert embedded["indicators"]["purchases_cents"] == 0
        assert check_report(api.vouchers, embedded, operator) == granted
    page = Page()
    page.feed(content.decode())
    assert page.tags.count("svg") == 3 and "table" in page.tags

    status, problem = await api.call("GET", "/v1/audit/report?position=999999", auditor)
    assert status == 422 and problem["code"] == "invalid_input"
    teacher = api.token("teacher", "t1")
    assert (await api.call("GET", "/v1/audit/report", teacher))[0] == 403


def tirelire(*args: str, url: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIRELIRE_")}
    env["TIRELIRE_DATABASE_URL"] = url
    command = [sys.executable, "-m", "api.cli", *args]
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )


def test_report_make_then_check_confirms_each_format_and_refuses_an_edited_file(
    sqlite_url: str, tmp_path: Path
) -> None:
    from ledger.vouchers import VoucherLedger
    from tests import helpers

    app = VoucherLedger(Settings(database_url=sqlite_url))
    campaign = helpers.open_campaign(app, teachers=2)
    app.grant_credits(campaign, ("t1", "t2"), grant_key="g", by="op", now=helpers.START)
    hold = app.execute(helpers.place(campaign, "t1", "h1", 1990))
    app.execute(helpers.capture(campaign, "t1", "c1", hold.hold_id, 1990))
    app.close()

    for fmt in ("json", "html"):
        made = tirelire(
            "report", "make", "--format", fmt, "--out", f"r.{fmt}", url=sqlite_url, cwd=tmp_path
        )
        assert made.returncode == 0, made.stderr
    assert "replaying the log" in made.stderr  # the progress bar
    key = read_signing_key(Path(sqlite_url.removeprefix("sqlite:///") + ".checkpoint-key.pem"))
    public = tmp_path / "operator.pub"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    for fmt in ("json", "html"):
        checked = tirelire(
            "report",
            "check",
            f"r.{fmt}",
            "--key",
            str(public),
            "--quiet",
            url=sqlite_url,
            cwd=tmp_path,
        )
        assert checked.returncode == 0, checked.stderr
        assert checked.stdout.startswith("confirmed")

    report = json.loads((tmp_path / "r.json").read_text())
    text = render(report, "csv")
    report["indicators"]["purchases_cents"] = 1
    (tmp_path / "edited.json").write_text(json.dumps(report))
    edited = tirelire(
        "report", "check", "edited.json", "--key", str(public), url=sqlite_url, cwd=tmp_path
    )
    assert (
        edited.returncode == 2 and "report_mismatch" in edited.stderr and "sha256" in edited.stderr
    )

    assert read_report(text.encode())[0] == "csv"
    line = next(row for row in text.splitlines() if row.startswith("indicators,purchases_cents"))
    with pytest.raises(ReportMismatch) as error:
        read_report(text.replace(line, "indicators,purchases_cents,1").encode())
    assert error.value.details["field"].startswith("csv:line")
    with pytest.raises(MalformedReport):
        read_report(b"hello")
