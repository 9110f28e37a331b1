"""Small builders shared by tests: a campaign's terms and commands with sensible defaults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from ledger.authorities import authority_territory
from ledger.commands import CaptureHold, PlaceHold, Refund, ReleaseHold, TopUp
from ledger.vouchers import VoucherLedger

START = datetime(2027, 9, 1, tzinfo=UTC)
END = START + timedelta(days=300)
DURING = START + timedelta(days=10)
# The territories of a school in Paris (`ledger.authorities`): its commune, département and
# région may top up its teachers.
PARIS = ("commune:75056", "departement:75", "region:11")


def in_paris(teachers: object) -> dict[str, tuple[str, ...]]:
    """Every teacher of a grant placed in a Paris school."""
    return {t: PARIS for t in teachers}  # type: ignore[attr-defined]


AFTER = END + timedelta(days=1)
FACE_VALUE_CENTS = 7800
FUNDERS = (("etat", 7), ("region-idf", 3))


def open_campaign(
    app: VoucherLedger,
    key: str = "rentree-2027",
    teachers: int = 100,
    budget_cents: int | None = None,
) -> UUID:
    return app.open_campaign(
        campaign_key=key,
        name="Rentrée 2027",
        face_value_cents=FACE_VALUE_CENTS,
        valid_from=START,
        valid_until=END,
        budget_cents=budget_cents or FACE_VALUE_CENTS * teachers,
        funders=FUNDERS,
        by="operator",
        now=START,
    )


def place(
    campaign_id: UUID,
    teacher: str,
    key: str,
    amount_cents: int,
    now: datetime = DURING,
    ttl_s: int = 1800,
    vendor: str = "vendor-1",
) -> PlaceHold:
    return PlaceHold(
        campaign_id=campaign_id,
        teacher_id=teacher,
        key=key,
        by=teacher,
        now=now,
        vendor_id=vendor,
        order_ref=f"order-{key}",
        amount_cents=amount_cents,
        ttl_s=ttl_s,
    )


def capture(
    campaign_id: UUID,
    teacher: str,
    key: str,
    hold_id: UUID,
    amount_cents: int,
    now: datetime = DURING,
) -> CaptureHold:
    return CaptureHold(
        campaign_id=campaign_id,
        teacher_id=teacher,
        key=key,
        by="vendor-1",
        now=now,
        hold_id=hold_id,
        amount_cents=amount_cents,
    )


def release(
    campaign_id: UUID, teacher: str, key: str, hold_id: UUID, now: datetime = DURING
) -> ReleaseHold:
    return ReleaseHold(
        campaign_id=campaign_id,
        teacher_id=teacher,
        key=key,
        by="vendor-1",
        now=now,
        hold_id=hold_id,
    )


def refund(
    campaign_id: UUID,
    teacher: str,
    key: str,
    hold_id: UUID,
    amount_cents: int,
    now: datetime = DURING,
) -> Refund:
    return Refund(
        campaign_id=campaign_id,
        teacher_id=teacher,
        key=key,
        by="vendor-1",
        now=now,
        hold_id=hold_id,
        amount_cents=amount_cents,
    )


def top_up(
    campaign_id: UUID,
    teacher: str,
    key: str,
    amount_cents: int,
    authority: str = "commune-75056",
    now: datetime = DURING,
) -> TopUp:
    return TopUp(
        campaign_id=campaign_id,
        teacher_id=teacher,
        key=key,
        by=authority,
        now=now,
        authority_id=authority,
        kind=authority_territory(authority).kind,
        amount_cents=amount_cents,
    )
