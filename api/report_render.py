"""A report (`projections.report`) as a file: JSON, CSV or HTML, and back.

- **JSON**: the report object itself, keys sorted, indented for reading. Its `sha256` is
  that of the canonical JSON (`projections.report.canonical_json`), not of the file.
- **CSV**: one `section,name,value` row per figure (a list's items are named by their
  stage, month, code or name), then the checkpoint's fields and the `sha256`, then one
  row `report,canonical_json,<the canonical JSON>`, from which `tirelire report check`
  reads the report back. Text that a spreadsheet would run as a formula (starting with
  `=`, `+`, `-`, `@`) is written after a `'`.
- **HTML**: one self-contained page (`api.report_html`): inline SVG charts, tables, the
  seal in sight, and the canonical JSON in `<script type="application/json"
  id="tirelire-report">`.

A CSV or HTML file is confirmed only if it is exactly the rendering of the report it
embeds: `read_report` renders the embedded report again and names the first line that
differs, so the figures a person reads are the ones that were checked.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

from api.report_html import REPORT_ELEMENT_ID, render_html
from ledger.errors import MalformedReport, ReportMismatch
from projections.report import canonical_json

FORMATS = ("json", "csv", "html")
MEDIA_TYPES = {"json": "application/json", "csv": "text/csv", "html": "text/html"}
MAX_REPORT_BYTES = 64 * 1024 * 1024  # a pilot's report is a few kilobytes
CSV_HEADER = ("section", "name", "value")
CANONICAL_ROW = ("report", "canonical_json")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A list's items are named by the first of these fields they have, else by their index.
ITEM_KEYS = ("stage", "month", "code", "name")


def render(report: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if fmt == "csv":
        return render_csv(report)
    if fmt == "html":
        return render_html(report)
    raise AssertionError(f"unknown format {fmt!r}")


# CSV ----------------------------------------------------------------------------------


def render_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    sealed = ("generated_at", "checkpoint", "sha256")
    for section in sorted(k for k in report if k not in sealed):
        for name, value in flatten(report[section]):
            writer.writerow((section, name, cell(value)))
    writer.writerow(("report", "generated_at", cell(report["generated_at"])))
    for name, value in sorted(report["checkpoint"].items()):
        writer.writerow(("checkpoint", name, cell(value)))
    writer.writerow(("report", "sha256", report["sha256"]))
    writer.writerow((*CANONICAL_ROW, canonical_json(report)))
    return out.getvalue()


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted name, leaf value) of a JSON value; dict keys in order, list items by key."""
    if isinstance(value, dict):
        for key in sorted(value):
            yield from flatten(value[key], f"{prefix}.{key}" if prefix else key)
    elif isinstance(value, list):
        for n, item in enumerate(value):
            label = item_label(item, n)
            yield from flatten(item, f"{prefix}.{label}" if prefix else label)
    else:
        yield prefix, value


def item_label(item: Any, n: int) -> str:
    if isinstance(item, dict):
        for key in ITEM_KEYS:
            if isinstance(item.get(key), str) and item[key]:
                return item[key]
        if isinstance(item.get("territory_id"), str):
            return item["territory_id"]
    return str(n)


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def csv_report(text: str) -> dict[str, Any]:
    for row in csv.reader(io.StringIO(text, newline="")):
        if tuple(row[:2]) == CANONICAL_ROW and len(row) == 3:
            return parse_json(row[2])
    raise MalformedReport("the CSV has no report,canonical_json row")


# HTML ---------------------------------------------------------------------------------


class _ReportScript(HTMLParser):
    """Collects the text of the one `<script id="tirelire-report">` element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.inside, self.found, self.parts = False, 0, list[str]()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script" and ("id", REPORT_ELEMENT_ID) in attrs:
            self.inside, self.found = True, self.found + 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self.inside = False

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.parts.append(data)


def html_report(text: str) -> dict[str, Any]:
    parser = _ReportScript()
    parser.feed(text)
    parser.close()
    if parser.found != 1:
        raise MalformedReport(f'the page needs exactly one script id="{REPORT_ELEMENT_ID}"')
    return parse_json("".join(parser.parts))


# Reading back -------------------------------------------------------------------------


def detect_format(text: str) -> str:
    start = text.lstrip()[:64].lower()
    if start.startswith("{"):
        return "json"
    if start.startswith(("<!doctype html", "<html")):
        return "html"
    if start.startswith(",".join(CSV_HEADER)):
        return "csv"
    raise MalformedReport("not a report: neither JSON, CSV nor HTML")


def read_report(content: bytes) -> tuple[str, dict[str, Any]]:
    """The format of a report file and the report it holds. A CSV or HTML file must be
    exactly the rendering of its report (`ReportMismatch` names the first line that is not)."""
    if len(content) > MAX_REPORT_BYTES:
        raise MalformedReport(f"a report file is at most {MAX_REPORT_BYTES} bytes")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedReport("a report file is UTF-8 text") from None
    fmt = detect_format(text)
    if fmt == "json":
        return fmt, parse_json(text)
    report = csv_report(text) if fmt == "csv" else html_report(text)
    if not isinstance(report, dict) or not {"generated_at", "checkpoint", "sha256"} <= set(report):
        raise MalformedReport("the embedded report has no seal")
    check_rendering(fmt, text, report)
    return fmt, report


def check_rendering(fmt: str, text: str, report: dict[str, Any]) -> None:
    try:
        expected = render(report, fmt)
    except (KeyError, TypeError, AttributeError, ValueError):
        raise MalformedReport(f"the report embedded in the {fmt.upper()} is incomplete") from None
    if expected == text:
        return
    ours, theirs = expected.split("\n"), text.split("\n")
    line = next(
        (
            n
            for n, pair in enumerate(zip(ours, theirs, strict=False), start=1)
            if pair[0] != pair[1]
        ),
        min(len(ours), len(theirs)) + 1,
    )
    raise ReportMismatch(
        f"{fmt}: line {line} is not what the embedded report renders: the file was edited",
        field=f"{fmt}:line {line}",
    )


def parse_json(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    try:
        return json.loads(text, parse_constant=refuse)
    except ValueError:
        raise MalformedReport("the report is not valid JSON") from None
