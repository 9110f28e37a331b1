"""The log of `audit.py`: a school year of money events, built through the real applications.

The mix, for a log of N events (fractions of N, rounded):
- one campaign opened by two funders (`Campaign.Opened`);
- bulk grants (`VoucherLedger.grant_credits`, chunks of 2,000 teachers): about 0.50 N
  `CreditAccount.Granted` and one `Campaign.CreditsGranted` per chunk;
- top-ups by the teachers' communes (`TopUp`): one teacher in ten, about 0.05 N;
- redemptions at five vendors through group-commit batches (`VoucherLedger.execute_many`):
  about 0.21 N holds (`HoldPlaced`), of which 85 % captured in part (`HoldCaptured`: 60 %
  to the vendor, the rest back to the teacher) and 15 % released (`HoldReleased`);
- refunds of 1 % of the captures (`Refunded`);
- vendor claims of 10 % of the captures through the claims desk (500 redemptions a claim:
  `Claim.Submitted`, the vendor's yearly tally, one `RedemptionClaim` marker a line), each
  approved after its dispute window (`Claim.Approved`), batched and paid
  (`PaymentBatch.Created`, `PaymentBatch.MarkedPaid`, each claim's batched and paid events);
- then grants to more teachers until the log holds N events (a second grant, same campaign).

Every event is made by the applications' own commands, with simulated time.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

from tqdm import tqdm

from ledger.claims_desk import ClaimsDesk
from ledger.commands import (
    AccountCommand,
    CaptureHold,
    HoldReceipt,
    PlaceHold,
    Refund,
    ReleaseHold,
    TopUp,
)
from ledger.credits import TopUpKind
from ledger.errors import DomainError
from ledger.ids import credit_account_id
from ledger.reimbursement import Redemption, default_rule_book
from ledger.settings import DEFAULT_DEBTOR_IBAN, Settings
from ledger.vouchers import VoucherLedger

START = datetime(2027, 9, 1, tzinfo=UTC)
END = datetime(2028, 7, 6, tzinfo=UTC)
DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)
FACE_VALUE_CENTS = 7800
FUNDERS = (("etat", 80), ("region-idf", 20))
TOWNS = ("75056", "69123", "13055", "97411")
TOWN_TERRITORIES = {
    "75056": ("commune:75056", "departement:75", "region:11"),
    "69123": ("commune:69123", "departement:69", "region:84"),
    "13055": ("commune:13055", "departement:13", "region:93"),
    "97411": ("commune:97411", "departement:974", "region:04"),
}
VENDORS = tuple(f"vendor-{i}" for i in range(1, 6))
BATCH = 1000  # commands per group-commit transaction
CLAIM_LINES = 500
GRANT_SHARE, TOPUP_SHARE, HOLD_SHARE = 0.50, 0.05, 0.21
CLAIM_SHARE = 0.10  # of the captures


def town(n: int) -> str:
    return TOWNS[n % len(TOWNS)]


def build_log(settings: Settings, n_events: int, quiet: bool = False) -> dict[str, int]:
    """Fill an empty, migrated store with about `n_events` events; answers counts by kind."""
    ledger = VoucherLedger(settings)
    desk = ClaimsDesk(settings, default_rule_book())
    counts: dict[str, int] = {}
    started = time.perf_counter()
    try:
        teachers = [f"teacher-{i:07d}" for i in range(max(int(n_events * GRANT_SHARE), 10))]
        campaign = ledger.open_campaign(
            campaign_key="audit-bench",
            name="Audit bench 2027-2028",
            face_value_cents=FACE_VALUE_CENTS,
            valid_from=START,
            valid_until=END,
            budget_cents=FACE_VALUE_CENTS * n_events,  # room for the filler grant
            funders=FUNDERS,
            by="operator",
            now=START - 30 * DAY,
        )
        counts["campaign"] = 1
        counts["grants"] = _grant(ledger, campaign, teachers, "grant-1", quiet)
        n_topups = int(n_events * TOPUP_SHARE)
        topups = [
            TopUp(
                campaign_id=campaign,
                teacher_id=t,
                key=f"topup-{t}",
                by=f"commune-{town(10 * i)}",
                now=START + 20 * DAY,
                authority_id=f"commune-{town(10 * i)}",
                kind=TopUpKind.COMMUNE,
                amount_cents=2000,
            )
            for i, t in enumerate(teachers[: n_topups * 10 : 10])
        ]
        counts["top-ups"] = len(_run(ledger, topups, "top-ups", quiet))
        captured = _redeem(ledger, campaign, teachers, int(n_events * HOLD_SHARE), counts, quiet)
        counts["claimed"] = _claim_and_pay(desk, captured, int(len(captured) * CLAIM_SHARE))
        made = ledger.recorder.max_notification_id() or 0
        rest = n_events - made
        if rest > 1:  # one CreditsGranted per chunk of the filler grant
            size = settings.grant_chunk_size
            extra = rest - -(-rest // (size + 1))
            more = [f"teacher-{i:07d}" for i in range(len(teachers), len(teachers) + extra)]
            counts["filler grants"] = _grant(ledger, campaign, more, "grant-2", quiet)
        counts["events"] = ledger.recorder.max_notification_id() or 0
        counts["build_s"] = round(time.perf_counter() - started)
        return counts
    finally:
        desk.close()
        ledger.close()


def _grant(app: VoucherLedger, campaign: UUID, teachers: list[str], key: str, quiet: bool) -> int:
    with tqdm(total=len(teachers), desc=f"build: {key}", disable=quiet, file=sys.stderr) as bar:
        report = app.grant_credits(
            campaign,
            teachers,
            grant_key=key,
            by="operator",
            now=START,
            progress=bar.update,
            territories={t: TOWN_TERRITORIES[town(i)] for i, t in enumerate(teachers)},
        )
    if report.granted != len(teachers):
        raise SystemExit(f"grant {key} reported {report}")
    return report.granted


def _run(app: VoucherLedger, commands: Sequence[AccountCommand], what: str, quiet: bool) -> list:
    """Commands in group-commit batches of distinct accounts; every one must succeed."""
    results: list = []
    with tqdm(total=len(commands), desc=f"build: {what}", disable=quiet, file=sys.stderr) as bar:
        for i in range(0, len(commands), BATCH):
            batch = commands[i : i + BATCH]
            done = app.execute_many(batch, {})
            for result in done:
                if isinstance(result, DomainError):
                    raise SystemExit(f"{what}: {result!r}")
            results += done
            bar.update(len(batch))
    return results


def _redeem(
    app: VoucherLedger,
    campaign: UUID,
    teachers: list[str],
    n_holds: int,
    counts: dict[str, int],
    quiet: bool,
) -> list[Redemption]:
    """Holds on distinct teachers; 85 % captured in part, 15 % released; 1 % refunded."""
    holders = teachers[:n_holds]
    day = START + 40 * DAY
    places = [
        PlaceHold(
            campaign_id=campaign,
            teacher_id=t,
            key=f"hold-{t}",
            by=t,
            now=day,
            vendor_id=VENDORS[i % len(VENDORS)],
            order_ref=f"order-{t}",
            amount_cents=1000 + (i % 37) * 100,
        )
        for i, t in enumerate(holders)
    ]
    receipts: list[HoldReceipt] = _run(app, places, "holds", quiet)
    resolutions: list[AccountCommand] = []
    captures: list[tuple[PlaceHold, HoldReceipt, int]] = []
    for i, (place, receipt) in enumerate(zip(places, receipts, strict=True)):
        common = {"campaign_id": campaign, "teacher_id": place.teacher_id, "now": day + MINUTE}
        if i % 20 < 17:
            cents = receipt.amount_cents * 6 // 10
            resolutions.append(
                CaptureHold(
                    **common,
                    key=f"cap-{i}",
                    by=place.vendor_id,
                    hold_id=receipt.hold_id,
                    amount_cents=cents,
                )
            )
            captures.append((place, receipt, cents))
        else:
            resolutions.append(
                ReleaseHold(**common, key=f"rel-{i}", by=place.vendor_id, hold_id=receipt.hold_id)
            )
    _run(app, resolutions, "captures and releases", quiet)
    refunds = [
        Refund(
            campaign_id=campaign,
            teacher_id=p.teacher_id,
            key=f"refund-{i}",
            by=p.vendor_id,
            now=day + 3 * DAY,
            hold_id=r.hold_id,
            amount_cents=cents // 2,
        )
        for i, (p, r, cents) in enumerate(captures)
        if i % 100 == 99
    ]
    _run(app, refunds, "refunds", quiet)
    counts.update(holds=len(places), captures=len(captures), refunds=len(refunds))
    refunded = {r.hold_id for r in refunds}
    return [
        Redemption(
            credit_account_id(campaign, p.teacher_id), r.hold_id, p.vendor_id, cents, day + MINUTE
        )
        for p, r, cents in captures
        if r.hold_id not in refunded
    ]


def _claim_and_pay(desk: ClaimsDesk, captured: list[Redemption], n: int) -> int:
    """Each vendor claims its share of `n` redemptions, 500 a claim; all approved and paid."""
    submitted = START + 60 * DAY
    claims: list[UUID] = []
    per_vendor: dict[str, list[Redemption]] = {}
    for r in captured[:n]:
        per_vendor.setdefault(r.vendor_id, []).append(r)
    for vendor, lines in sorted(per_vendor.items()):
        for i in range(0, len(lines), CLAIM_LINES):
            claims.append(
                desk.submit_claim(
                    vendor,
                    f"claim-{vendor}-{i}",
                    lines[i : i + CLAIM_LINES],
                    by=vendor,
                    now=submitted,
                )
            )
    approved = submitted + 32 * DAY
    for claim in claims:
        desk.approve_claim(claim, by="operator", now=approved)
    payees = tuple((v, f"Vendor {v}", DEFAULT_DEBTOR_IBAN) for v in sorted(per_vendor))
    for i in range(0, len(claims), 100):
        batch = desk.create_payment_batch(
            key=f"batch-{i}",
            claim_ids=claims[i : i + 100],
            value_date=(approved + 2 * DAY).date(),
            payees=payees,
            by="operator",
            now=approved,
        )
        desk.mark_batch_paid(batch, bank_reference=f"BQ-{i}", by="bank", now=approved + 2 * DAY)
    return sum(len(v) for v in per_vendor.values())
