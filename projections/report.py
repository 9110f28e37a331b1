"""The programme's report as of a point of the log: the paper's indicators, the books
reconciled, and the signed checkpoint they were computed at.

A report is one JSON object (`REPORT_FORMAT`), computed from the log alone:

- `as_of`: the log position the figures stand at, and the moment asked for (if any: the
  position is then that of the last event before the first one stamped after it);
- `indicators`: teachers who spent, purchases (captured minus refunded), French EdTechs
  listed (`projections.indicators`);
- `devices`: per stage in pipeline order, the devices there now and those that ever
  reached it (the funnel), and pledged, delivered, scrapped, charged (`DevicePipeline`);
- `fund`: the internet fund's money in (levies paid) and out (subsidies), its balance,
  month by month (`FundReports`), and the levies declared and due;
- `territories`: per territory, its devices, the refurbishment and repairs charged to
  its budget, the subsidies paid to its households, and its co-financing (pledged,
  paid, matched, spent on devices and on subsidies, returned);
- `bank`, `reconciliation`: `projections.reconciliation`;
- `notes`: what the reader should know (figures left out, limits reached);
- `generated_at`, and `checkpoint`: the signed checkpoint of the log at the position
  (`ledger.checkpoints`: log size, Merkle root, balances commitment, issued at) with
  that position and the operator's Ed25519 signature (base64);
- `sha256`: SHA-256 (hex) of the canonical JSON of everything else (keys sorted, no
  spaces, ASCII): `report_digest`.

Every read model is rebuilt by replaying the log up to the position into an empty
database (`projections.replay`), so a report as of any position, past or present, is
computed by the same code and can be computed again to check it
(`projections.report_check`). Money is integer cents throughout.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, distinct, func, select

from ledger.audit_log import b64encode
from ledger.audit_parallel import audit_checkpoint
from ledger.checkpoints import issued_at, sign
from ledger.device_records import DeviceStage
from ledger.errors import InvalidInput
from ledger.vouchers import VoucherLedger
from projections.as_of import Timeline
from projections.balances import Balances
from projections.device_pipeline import DevicePipeline, count_if
from projections.fund_views import FundReports
from projections.indicators import Indicators
from projections.reconciliation import AggregateFold, bank_figures, reconcile, territory_names
from projections.registry import all_projections
from projections.replay import replay
from projections.schema import (
    device_pipeline,
    device_stage_stays,
    fund_cofinancings,
    fund_levies,
    fund_subsidies,
)

REPORT_FORMAT = "tirelire-report-v1"
MAX_TERRITORIES = 1000  # the pilot has five; a report lists at most this many
# What a report holds besides its figures: never recomputed, checked otherwise.
SEAL_FIELDS = ("generated_at", "checkpoint", "sha256")

Progress = Callable[[int], None]


# The position ---------------------------------------------------------------------------


def head(app: VoucherLedger) -> int:
    return app.recorder.max_notification_id() or 0


def resolve_position(app: VoucherLedger, position: int | None, at: datetime | None) -> int:
    """The log position a report asked `position`, `at` or neither (the end) stands at."""
    last = head(app)
    if position is not None and at is not None:
        raise InvalidInput("ask as of a moment or as of a position, not both", field="at")
    if position is not None:
        if not 0 <= position <= last:
            raise InvalidInput(f"position is 0 to {last}, the end of the log", field="position")
        return position
    return position_at(app, at) if at is not None else last


def position_at(app: VoucherLedger, at: datetime) -> int:
    """The position of the last event before the first one stamped after `at`."""
    if at.tzinfo is None:
        raise InvalidInput("a moment has its time zone", field="at")
    return Timeline(app).position_at(at, head(app))


# Figures ------------------------------------------------------------------------------


def replay_for_report(
    app: VoucherLedger, position: int, progress: Progress | None = None
) -> tuple[Engine, AggregateFold]:
    """Every read model and the aggregates of the reconciliation, as of `position`."""
    fold = AggregateFold()
    engine = replay(app, position, projections=(*all_projections(), fold), progress=progress)
    return engine, fold


def figures(engine: Engine, fold: AggregateFold, position: int, at: str | None) -> dict[str, Any]:
    """Everything a report says but its seal, from the read models in `engine` and the
    aggregates in `fold`, both as of `position`."""
    notes: list[str] = [
        f"Figures are the read models rebuilt from the log up to position {position}.",
        "Spend by territory: the refurbishment and repairs charged to each territory's "
        "budget, and its co-financing spent (on devices and on subsidies).",
    ]
    territories = territory_figures(engine, fold)
    if len(territories) > MAX_TERRITORIES:
        notes.append(f"Only the first {MAX_TERRITORIES} of {len(territories)} territories.")
        territories = territories[:MAX_TERRITORIES]
    if fold.credit_accounts_skipped:
        notes.append(
            f"More than {fold.max_credit_accounts} credit accounts: the teachers' available "
            "and held credit are not reconciled against the accounts in this report."
        )
    journal = {k.kind: k.balance_cents for k in Balances(engine).by_kind()}
    return {
        "format": REPORT_FORMAT,
        "as_of": {"position": position, "at": at},
        "indicators": indicator_figures(engine),
        "devices": device_figures(engine),
        "fund": fund_figures(engine),
        "territories": territories,
        "bank": bank_figures(fold),
        "reconciliation": [line.as_dict() for line in reconcile(journal, fold)],
        "notes": notes,
    }


def indicator_figures(engine: Engine) -> dict[str, int]:
    values = Indicators(engine).current()
    return {**asdict(values), "purchases_cents": values.purchases_cents}


def device_figures(engine: Engine) -> dict[str, Any]:
    pipeline = DevicePipeline(engine)
    now = pipeline.by_stage()
    t = device_stage_stays.c
    reached_query = select(t.stage, func.count(distinct(t.device_id))).group_by(t.stage)
    with engine.connect() as conn:
        reached = {DeviceStage(s): int(n) for s, n in conn.execute(reached_query)}
    produced, cost = pipeline.yield_(), pipeline.cost_per_delivered()
    return {
        "stages": [
            {
                "stage": stage.value,
                "devices_now": now[stage],
                "devices_reached": reached.get(stage, 0),
            }
            for stage in DeviceStage
        ],
        "pledged": produced.pledged,
        "delivered": produced.delivered,
        "scrapped": produced.scrapped,
        "charged_cents": cost.charged_cents,
        "cost_per_delivered_cents": cost.cost_per_delivered_cents,
    }


def fund_figures(engine: Engine) -> dict[str, Any]:
    reports = FundReports(engine)
    months = reports.months()
    t = fund_levies.c
    sums = select(*(func.coalesce(func.sum(c), 0) for c in (t.declared_cents, t.due_cents)))
    with engine.connect() as conn:
        declared, due = (int(n) for n in conn.execute(sums).one())
    return {
        "paid_in_cents": sum(m.paid_in_cents for m in months),
        "levy_payments": sum(m.levy_payments for m in months),
        "paid_out_cents": sum(m.paid_out_cents for m in months),
        "subsidies": sum(m.subsidies for m in months),
        "balance_cents": reports.balance(),
        "levies_declared_cents": declared,
        "levies_due_cents": due,
        "months": [asdict(m) for m in months],
    }


def territory_figures(engine: Engine, fold: AggregateFold) -> list[dict[str, Any]]:
    """Per territory (every one the aggregates or read models name), by code."""
    names = territory_names(fold)
    p, s, c = device_pipeline.c, fund_subsidies.c, fund_cofinancings.c
    devices_query = select(
        p.territory_id, func.count(), count_if(p.times_delivered > 0), func.sum(p.charged_cents)
    ).group_by(p.territory_id)
    subsidies_query = select(
        s.territory_id, func.sum(s.subsidies), func.sum(s.amount_cents)
    ).group_by(s.territory_id)
    with engine.connect() as conn:
        devices = {
            row[0]: tuple(int(n or 0) for n in row[1:]) for row in conn.execute(devices_query)
        }
        subsidies = {
            row[0]: tuple(int(n or 0) for n in row[1:]) for row in conn.execute(subsidies_query)
        }
        codes = dict(conn.execute(select(c.territory_id, c.territory_code)).all())
    reports = FundReports(engine)
    found = []
    for territory in sorted({*names, *devices, *subsidies, *codes}):
        code, name = names.get(territory, (codes.get(territory, ""), ""))
        pledged, delivered, charged = devices.get(territory, (0, 0, 0))
        paid, paid_cents = subsidies.get(territory, (0, 0))
        found.append(
            {
                "territory_id": territory,
                "code": code,
                "name": name,
                "devices_pledged": pledged,
                "devices_delivered": delivered,
                "refurbishment_cents": charged,
                "subsidies": paid,
                "subsidies_cents": paid_cents,
                "cofinancing": cofinancing_figures(reports, codes[territory])
                if territory in codes
                else None,
            }
        )
    return sorted(found, key=lambda row: (row["code"], row["territory_id"]))


def cofinancing_figures(reports: FundReports, code: str) -> dict[str, Any]:
    report = reports.cofinancing(code)
    _, on_devices, on_subsidies = reports.cofinancing_spends(code)
    return {
        "is_closed": report.is_closed,
        "pledged_cents": report.pledged_cents,
        "paid_cents": report.paid_cents,
        "matched_cents": report.matched_cents,
        "spent_cents": report.spent_cents,
        "spent_devices_cents": on_devices,
        "spent_subsidies_cents": on_subsidies,
        "returned_cents": report.returned_cents,
        "paid_by_kind": {k.kind.value: k.paid_cents for k in report.kinds},
    }


# The seal -----------------------------------------------------------------------------


def canonical_json(value: Any) -> str:
    """Keys sorted, no spaces, ASCII: one spelling per report."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def report_digest(report: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of the report without its `sha256`."""
    body = {k: v for k, v in report.items() if k != "sha256"}
    return hashlib.sha256(canonical_json(body).encode("ascii")).hexdigest()


def make_report(
    app: VoucherLedger,
    key: Ed25519PrivateKey,
    now: datetime,
    *,
    position: int | None = None,
    at: datetime | None = None,
    progress: Progress | None = None,
    processes: int = 1,
) -> dict[str, Any]:
    """The sealed report as of `position`, `at` or the end of the log, signed with the
    operator's checkpoint key `key`; `now` is when it is generated and signed."""
    if at is not None:  # to the second, as the report writes it: a check finds the same
        at = at.replace(microsecond=0)
    stop = resolve_position(app, position, at)
    engine, fold = replay_for_report(app, stop, progress)
    try:
        body = figures(engine, fold, stop, issued_at(at) if at is not None else None)
    finally:
        engine.dispose()
    checkpoint = audit_checkpoint(app.recorder, app.mapper, stop, now, processes=processes)
    body["generated_at"] = issued_at(now)
    body["checkpoint"] = {
        **checkpoint.as_dict(),
        "position": stop,
        "signature": b64encode(sign(checkpoint, key)),
    }
    return {**body, "sha256": report_digest(body)}
