"""A report as one HTML page a person can open: no script runs, nothing is fetched.

Three inline SVG charts: the device pipeline as a funnel (devices that ever reached each
stage, in pipeline order, and how many are there now), the internet fund's balance at the
end of each month, and spend by territory (the refurbishment and repairs charged to each
territory's budget beside its co-financing spent). Tables give every indicator, the
territories, the bank's figures and the reconciliation; the seal (sha256 and signed
checkpoint) is printed at the top. The canonical JSON of the report sits in
`<script type="application/json" id="tirelire-report">` for `tirelire report check`.

Every text from the report is escaped. Bar lengths are computed here, for drawing only;
the figures printed beside them are the report's integer cents, formatted in French.
"""

from __future__ import annotations

from html import escape
from typing import Any

from ledger.money import Money
from projections.report import canonical_json

REPORT_ELEMENT_ID = "tirelire-report"
CHART_WIDTH = 720
BAR_HEIGHT = 18
BAR_GAP = 6
LABEL_WIDTH = 230  # room for a stage or territory name left of its bar
COLUMN_WIDTH = 56  # a month's bar and its label
CHART_HEIGHT = 200  # the month chart's plotting height
COLOURS = ("#2b6cb0", "#dd6b20")

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#1a202c}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #cbd5e0;
padding:.25rem .5rem;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
code{font-size:.85em;word-break:break-all}.ko{background:#fed7d7}.ok{background:#f0fff4}
svg{display:block;margin:.5rem 0 1.5rem}svg text{font:12px system-ui,sans-serif}
"""


def e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def euros(cents: Any) -> str:
    return Money(cents).format() if type(cents) is int else e(cents)


def render_html(report: dict[str, Any]) -> str:
    position = report["as_of"]["position"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="fr"><head><meta charset="utf-8">',
        f"<title>Tirelire — report as of position {e(position)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Tirelire — report as of log position {e(position)}</h1>",
        seal_html(report),
        indicators_html(report["indicators"]),
        devices_html(report["devices"]),
        fund_html(report["fund"]),
        territories_html(report["territories"]),
        bank_html(report["bank"]),
        reconciliation_html(report["reconciliation"]),
        "<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in report["notes"]) + "</ul>",
        embedded_json(report),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def embedded_json(report: dict[str, Any]) -> str:
    # ASCII JSON with <, > and & as \u escapes: nothing inside can close the element.
    body = canonical_json(report)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        body = body.replace(char, escaped)
    return f'<script type="application/json" id="{REPORT_ELEMENT_ID}">{body}</script>'


def table(headers: tuple[str, ...], rows: list[tuple[Any, ...]], numeric: set[int]) -> str:
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="n">{cell}</td>' if n in numeric else f"<td>{cell}</td>"
            for n, cell in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def seal_html(report: dict[str, Any]) -> str:
    checkpoint = report["checkpoint"]
    rows = [("sha256", f"<code>{e(report['sha256'])}</code>")]
    rows += [(f"checkpoint {e(k)}", f"<code>{e(v)}</code>") for k, v in sorted(checkpoint.items())]
    rows += [
        ("generated at", e(report["generated_at"])),
        ("as of a moment", e(report["as_of"]["at"] or "—")),
    ]
    return "<h2>Seal</h2>" + table(("field", "value"), rows, set())


def indicators_html(values: dict[str, Any]) -> str:
    rows = [
        ("teachers who spent their credit", e(values["teachers_who_spent"])),
        ("purchases (captured less refunded)", euros(values["purchases_cents"])),
        ("captured", euros(values["captured_cents"])),
        ("refunded", euros(values["refunded_cents"])),
        ("French EdTechs listed", e(values["french_edtechs_listed"])),
    ]
    return "<h2>The paper's indicators</h2>" + table(("indicator", "value"), rows, {1})


def devices_html(devices: dict[str, Any]) -> str:
    stages = devices["stages"]
    rows = [(e(s["stage"]), e(s["devices_reached"]), e(s["devices_now"])) for s in stages]
    summary = [
        ("pledged", e(devices["pledged"])),
        ("delivered to a pupil", e(devices["delivered"])),
        ("scrapped or recycled", e(devices["scrapped"])),
        ("charged for refurbishment and repairs", euros(devices["charged_cents"])),
        ("cost per delivered device", euros(devices["cost_per_delivered_cents"])),
    ]
    return (
        "<h2>Devices by stage</h2>"
        + funnel_svg(stages)
        + table(("stage", "devices that reached it", "devices there now"), rows, {1, 2})
        + table(("figure", "value"), summary, {1})
    )


def fund_html(fund: dict[str, Any]) -> str:
    summary = [
        ("levies declared", euros(fund["levies_declared_cents"])),
        ("levies due (after corrections)", euros(fund["levies_due_cents"])),
        ("paid in (levies)", f"{euros(fund['paid_in_cents'])} ({e(fund['levy_payments'])})"),
        ("paid out (subsidies)", f"{euros(fund['paid_out_cents'])} ({e(fund['subsidies'])})"),
        ("balance", euros(fund["balance_cents"])),
    ]
    months = [
        (
            e(m["month"]),
            euros(m["paid_in_cents"]),
            euros(m["paid_out_cents"]),
            euros(m["closing_balance_cents"]),
        )
        for m in fund["months"]
    ]
    return (
        "<h2>The internet fund: in and out</h2>"
        + table(("figure", "value"), summary, {1})
        + months_svg(fund["months"])
        + table(("month", "paid in", "paid out", "balance at its end"), months, {1, 2, 3})
    )


def territory_label(t: dict[str, Any]) -> str:
    return t["name"] or t["code"] or t["territory_id"]


def territories_html(territories: list[dict[str, Any]]) -> str:
    rows = []
    for t in territories:
        c = t["cofinancing"] or {}
        rows.append(
            (
                e(territory_label(t)),
                e(t["devices_pledged"]),
                e(t["devices_delivered"]),
                euros(t["refurbishment_cents"]),
                euros(t["subsidies_cents"]),
                *(euros(c[k]) if c else "—" for k in COFINANCING_COLUMNS),
            )
        )
    headers = ("territory", "pledged", "delivered", "refurbishment", "subsidies")
    headers += tuple(f"co-financing {k.removesuffix('_cents')}" for k in COFINANCING_COLUMNS)
    return (
        "<h2>Spend and co-financing by territory</h2>"
        + territories_svg(territories)
        + table(headers, rows, set(range(1, len(headers))))
    )


COFINANCING_COLUMNS = (
    "pledged_cents",
    "paid_cents",
    "matched_cents",
    "spent_cents",
    "returned_cents",
)


def bank_html(bank: dict[str, Any]) -> str:
    rows = [
        (e(k.replace("_", " ")), euros(v) if k.endswith("_cents") else e(v))
        for k, v in sorted(bank.items())
    ]
    return "<h2>The bank</h2>" + table(("figure", "value"), rows, {1})


def reconciliation_html(lines: list[dict[str, Any]]) -> str:
    rows = []
    for line in lines:
        mark = "ok" if line["ok"] is True else "ko"
        rows.append(
            (
                e(line["name"]),
                e(line["against"]),
                euros(line["journal_cents"]),
                euros(line["other_cents"]),
                euros(line["difference_cents"]),
                f'<span class="{mark}">{"yes" if mark == "ok" else "NO"}</span>',
            )
        )
    headers = ("line", "against", "journal", "other side", "difference", "agrees")
    return "<h2>Reconciliation</h2>" + table(headers, rows, {2, 3, 4})


# Charts -------------------------------------------------------------------------------


def svg(height: int, title: str, body: list[str], width: int = CHART_WIDTH) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{e(title)}">'
        f"<title>{e(title)}</title>{''.join(body)}</svg>"
    )


def bar_length(value: int, largest: int, room: int) -> int:
    return 0 if largest <= 0 or value <= 0 else max(1, round(room * value / largest))


def funnel_svg(stages: list[dict[str, Any]]) -> str:
    """Centred bars, one per stage in pipeline order: devices that reached it."""
    room = CHART_WIDTH - LABEL_WIDTH - 120
    largest = max((s["devices_reached"] for s in stages), default=0)
    body = []
    for n, s in enumerate(stages):
        y = n * (BAR_HEIGHT + BAR_GAP)
        length = bar_length(s["devices_reached"], largest, room)
        x = LABEL_WIDTH + (room - length) // 2
        body += [
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 13}" text-anchor="end">{e(s["stage"])}</text>',
            f'<rect x="{x}" y="{y}" width="{length}" height="{BAR_HEIGHT}" fill="{COLOURS[0]}"/>',
            f'<text x="{LABEL_WIDTH + room + 8}" y="{y + 13}">{e(s["devices_reached"])} '
            f"(now {e(s['devices_now'])})</text>",
        ]
    height = max(1, len(stages)) * (BAR_HEIGHT + BAR_GAP)
    return svg(height, "Device pipeline: devices that reached each stage", body)


def months_svg(months: list[dict[str, Any]]) -> str:
    """One column per month: the fund's balance at the month's end."""
    title = "The internet fund's balance at the end of each month"
    if not months:
        return svg(30, title, ['<text x="0" y="20">No movement of the fund yet.</text>'])
    largest = max(max(m["closing_balance_cents"] for m in months), 0)
    body = []
    for n, m in enumerate(months):
        x, length = (
            n * COLUMN_WIDTH + 4,
            bar_length(m["closing_balance_cents"], largest, CHART_HEIGHT),
        )
        body += [
            f'<rect x="{x}" y="{20 + CHART_HEIGHT - length}" width="{COLUMN_WIDTH - 12}" '
            f'height="{length}" fill="{COLOURS[0]}"><title>{e(m["month"])}: '
            f"{euros(m['closing_balance_cents'])}</title></rect>",
            f'<text x="{x}" y="{CHART_HEIGHT + 36}">{e(m["month"])}</text>',
        ]
    body.append(f'<text x="0" y="12">highest: {euros(largest)}</text>')
    width = max(CHART_WIDTH, len(months) * COLUMN_WIDTH + 8)
    return svg(CHART_HEIGHT + 44, title, body, width)


def territories_svg(territories: list[dict[str, Any]]) -> str:
    """Two bars per territory: refurbishment charged, co-financing spent."""
    title = "Spend by territory: refurbishment charged and co-financing spent"
    series = [
        (t, t["refurbishment_cents"], (t["cofinancing"] or {}).get("spent_cents", 0))
        for t in territories
    ]
    room = CHART_WIDTH - LABEL_WIDTH - 140
    largest = max((max(a, b) for _, a, b in series), default=0)
    body = [
        f'<rect x="0" y="0" width="12" height="12" fill="{COLOURS[0]}"/>'
        '<text x="18" y="11">refurbishment and repairs charged</text>',
        f'<rect x="260" y="0" width="12" height="12" fill="{COLOURS[1]}"/>'
        '<text x="278" y="11">co-financing spent</text>',
    ]
    group = 2 * BAR_HEIGHT + BAR_GAP
    for n, (t, charged, spent) in enumerate(series):
        y = 24 + n * group
        body.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 22}" text-anchor="end">'
            f"{e(territory_label(t))}</text>"
        )
        for k, cents in enumerate((charged, spent)):
            top, length = y + k * BAR_HEIGHT, bar_length(cents, largest, room)
            body += [
                f'<rect x="{LABEL_WIDTH}" y="{top}" width="{length}" '
                f'height="{BAR_HEIGHT - 2}" fill="{COLOURS[k]}"/>',
                f'<text x="{LABEL_WIDTH + length + 6}" y="{top + 12}">{euros(cents)}</text>',
            ]
    return svg(24 + max(1, len(series)) * group, title, body)
