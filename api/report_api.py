"""The programme's report over HTTP: `GET /v1/audit/report`, for auditors and the operator.

The same report as `tirelire report make` (`projections.report`): the log replayed up to
a position (the end by default, or the last event before the first one stamped after
`at`) into every read model, the figures and the reconciliation computed, the checkpoint
of the log at that position signed with the operator's checkpoint key. `format` chooses
JSON (the report object), CSV or a self-contained HTML page (`api.report_render`); any
of them can be confirmed offline with `tirelire report check`.

A report replays the log from its first event: on a large log it takes as long as a
rebuild of the read models, and runs off the event loop.
"""

from __future__ import annotations

from typing import Any

from api import schemas as s
from api.common import POSITION, STAFF, parse_moment
from api.report_render import FORMATS, MEDIA_TYPES, render
from api.spec import Call, Operation, Reply
from api.tokens import load_or_create_checkpoint_key
from projections.report import REPORT_FORMAT, make_report


async def get_report(call: Call) -> Reply:
    services, query = call.services, call.query
    fmt = query.get("format", "json")
    at = parse_moment(query["at"], "at") if "at" in query else None

    def made() -> Any:
        key = load_or_create_checkpoint_key(services.settings)
        report = make_report(
            services.vouchers, key, call.now, position=query.get("position"), at=at
        )
        return report, (None if fmt == "json" else render(report, fmt))

    report, text = await services.run(made)
    if text is None:
        return Reply(report)
    name = f"tirelire-report-{report['as_of']['position']}.{fmt}"
    return Reply(
        text.encode("utf-8"),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
LINE = s.obj(
    {
        "name": s.TEXT,
        "against": s.enum("aggregates", "bank", "zero"),
        "journal_cents": s.SIGNED_CENTS,
        "other_cents": s.SIGNED_CENTS,
        "difference_cents": {"type": "integer"},
        "ok": {"type": "boolean"},
    }
)
CHECKPOINT = s.obj(
    {
        "log_size": s.COUNT,
        "root": HEX64,
        "balances_sha256": HEX64,
        "issued_at": s.TEXT,
        "position": POSITION,
        "signature": s.TEXT,
    }
)
OBJECT = {"type": "object"}
REPORT = s.obj(
    {
        "format": s.enum(REPORT_FORMAT),
        "as_of": s.obj({"position": POSITION, "at": s.nullable(s.TEXT)}),
        "indicators": OBJECT,
        "devices": OBJECT,
        "fund": OBJECT,
        "territories": {"type": "array", "items": OBJECT},
        "bank": OBJECT,
        "reconciliation": {"type": "array", "items": LINE},
        "notes": {"type": "array", "items": {"type": "string"}},
        "generated_at": s.TEXT,
        "checkpoint": CHECKPOINT,
        "sha256": HEX64,
    }
)
# Besides the JSON object: the same report as CSV or HTML, by `format` (`api.openapi`).
REPORT["x-alternative-media-types"] = {
    MEDIA_TYPES["csv"]: {"type": "string"},
    MEDIA_TYPES["html"]: {"type": "string"},
}
EXAMPLE_REPORT = {
    "format": REPORT_FORMAT,
    "as_of": {"position": 1207, "at": None},
    "indicators": {
        "teachers_who_spent": 2,
        "captured_cents": 3980,
        "refunded_cents": 500,
        "purchases_cents": 3480,
        "french_edtechs_listed": 1,
    },
    "devices": {"stages": [], "pledged": 0, "delivered": 0, "scrapped": 0, "charged_cents": 0},
    "fund": {"paid_in_cents": 0, "paid_out_cents": 0, "balance_cents": 0, "months": []},
    "territories": [],
    "bank": {"transfers_paid_cents": 3480, "transfers_confirmed_cents": 3480},
    "reconciliation": [
        {
            "name": "vendor transfers",
            "against": "bank",
            "journal_cents": 3480,
            "other_cents": 3480,
            "difference_cents": 0,
            "ok": True,
        }
    ],
    "notes": ["Figures are the read models rebuilt from the log up to position 1207."],
    "generated_at": "2028-05-06T12:00:00Z",
    "checkpoint": {
        "log_size": 1207,
        "root": "8fba584376e8fbf256241cf32975e2120fd5253330c2cd03b2f912c0742faeed",
        "balances_sha256": "56ce311537c1e80a0378acb3a4237dcc8de3b7de0d45ed03fa275cfad95caea7",
        "issued_at": "2028-05-06T12:00:00Z",
        "position": 1207,
        "signature": "JisF7UcQvMmuIHqdqdQ5jphJf2lowU10lUErZ53HgEfHeLVRB2O4I9KbFXkX5VRi1k9Sr3du2A07"
        "K987u5hfDg==",
    },
    "sha256": "973015520c9277117d9f74fa757dce9b9933a7a8e1139c85e31bec0b6fb71af1",
}

OPERATIONS = (
    Operation(
        operation_id="get_report",
        method="GET",
        path="/v1/audit/report",
        summary="The programme's signed report: indicators, devices, fund, territories, "
        "reconciliation; as JSON, CSV or HTML",
        description="Without `at` or `position`: as of the end of the log. With `position`: "
        "as of that log position (inclusive). With `at`: as of the last event before the "
        "first one stamped after that moment. The report carries its sha256 and the "
        "checkpoint of the log at its position, signed with the operator's checkpoint key; "
        "`tirelire report check FILE --key operator.pub` confirms it against the log. The "
        "log is replayed from its first event: a large log takes a while.",
        tag="auditor",
        roles=STAFF,
        handler=get_report,
        query=s.obj(
            {},
            {
                "position": {**POSITION, "description": "As of this log position."},
                "at": {**s.DATETIME, "description": "As of this moment, by event time."},
                "format": {**s.enum(*FORMATS), "default": "json"},
            },
        ),
        response=REPORT,
        example_response=EXAMPLE_REPORT,
    ),
)
