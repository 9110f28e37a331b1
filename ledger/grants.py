"""Bulk grants: credit for hundreds of thousands of teachers, in chunks.

A grant request is a list of teachers and a key. The list is checked and de-duplicated, then
cut into chunks; each chunk is one transaction that records `Campaign.CreditsGranted` and
creates the chunk's credit accounts. The campaign remembers each request's digest and chunk
size, and which chunks are done:

- the same request again (same key, same list) skips the chunks already saved, so an
  interrupted grant is finished by running it again, even with another chunk size setting;
- the same key with another list is refused (`idempotency_key_reused`);
- a teacher already granted in this campaign (by another request) is skipped and counted.
  Account ids derive from (campaign, teacher), so the store itself refuses a second account.

A request may also give each teacher's territories (their school's commune, département and
région, `ledger.authorities`): they are recorded on the account and decide which local
authorities may top it up. They are part of the request's digest.

The budget is checked for the whole request before the first chunk, counting only teachers
not yet granted, so a request the budget cannot cover changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from ledger.authorities import checked_territories
from ledger.campaigns import Campaign
from ledger.credits import CreditAccount
from ledger.errors import BudgetExceeded, ConcurrencyConflict, InvalidInput
from ledger.ids import (
    check_key,
    check_opaque_id,
    checked_credit_account_id,
    credit_account_id,
    request_digest,
)
from ledger.store import backoff, latest_versions

if TYPE_CHECKING:
    from ledger.vouchers import VoucherLedger

MAX_TEACHERS_PER_GRANT = 1_000_000
MAX_CHUNK_ATTEMPTS = 12
ACCOUNT_TOPIC = get_topic(CreditAccount)

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class GrantReport:
    granted: int
    already_granted: int
    chunks: int


@dataclass(frozen=True, slots=True)
class GrantRequest:
    campaign_id: UUID
    grant_key: str
    teachers: list[str]
    digest: str
    by: str
    now: datetime
    territories: dict[str, tuple[str, ...]]


def grant_credits(
    app: VoucherLedger,
    campaign_id: UUID,
    teacher_ids: Iterable[str],
    *,
    grant_key: str,
    by: str,
    now: datetime,
    progress: Progress | None = None,
    territories: Mapping[str, Iterable[str]] | None = None,
) -> GrantReport:
    teachers = unique_teachers(teacher_ids)
    places = teachers_territories(teachers, territories or {})
    described = [f"{t}@{' '.join(places[t])}" for t in teachers if t in places]
    request = GrantRequest(
        campaign_id,
        check_key(grant_key, "grant key"),
        teachers,
        request_digest("grant_credits", *teachers, *described),
        by,
        now,
        places,
    )
    campaign = app.get_campaign(campaign_id)
    size = campaign.chunk_size_for(grant_key, request.digest, app.settings.grant_chunk_size)
    chunks = [
        (n, teachers[start : start + size])
        for n, start in enumerate(range(0, len(teachers), size))
        if (grant_key, n) not in campaign.chunks_granted
    ]
    granted_before = existing_teachers(app, campaign, [t for _, c in chunks for t in c])
    campaign.check_can_grant(sum(len(c) for _, c in chunks) - len(granted_before), now)
    granted = already = 0
    for n, chunk in chunks:
        campaign, new, old = _grant_chunk(app, campaign, request, size, n, chunk, granted_before)
        granted, already = granted + new, already + old
        if progress:
            progress(len(chunk))
    return GrantReport(granted, already, len(chunks))


def existing_teachers(app: VoucherLedger, campaign: Campaign, teachers: list[str]) -> set[str]:
    """Teachers of the list who already have an account in this campaign.

    On a first grant nobody has one: the check is skipped when the campaign has granted
    nobody yet, which is the 800,000-teacher case that must be fast.
    """
    if not teachers or campaign.teachers_granted == 0:
        return set()
    by_id = {credit_account_id(campaign.id, t): t for t in teachers}
    return {by_id[i] for i in latest_versions(app.recorder, list(by_id))}


def _grant_chunk(
    app: VoucherLedger,
    campaign: Campaign,
    request: GrantRequest,
    size: int,
    n: int,
    chunk: list[str],
    granted_before: set[str],
) -> tuple[Campaign, int, int]:
    """One chunk, one transaction. The campaign object is kept from chunk to chunk and
    reloaded only after a conflict: reloading it per chunk grows with the square of the
    number of chunks."""
    skip = {t for t in chunk if t in granted_before}
    for attempt in range(MAX_CHUNK_ATTEMPTS):
        if (request.grant_key, n) in campaign.chunks_granted:
            return campaign, 0, 0  # an earlier attempt committed it
        fresh = [t for t in chunk if t not in skip]
        try:
            campaign.record_grant(
                request.grant_key, request.digest, size, n, len(fresh), request.by, request.now
            )
        except BudgetExceeded:
            if attempt:
                raise
            skip |= existing_teachers(app, campaign, fresh)
            continue
        granted = [
            granted_event(
                campaign,
                t,
                request.grant_key,
                request.by,
                request.now,
                request.territories.get(t, ()),
            )
            for t in fresh
        ]
        try:
            app.record_events([*campaign.collect_events(), *granted])
            return campaign, len(fresh), len(skip)
        except IntegrityError:
            campaign = app.get_campaign(request.campaign_id)
            skip |= existing_teachers(app, campaign, fresh)
            backoff(attempt)
    raise ConcurrencyConflict("the campaign kept changing during the grant; retry")


def granted_event(
    campaign: Campaign,
    teacher_id: str,
    grant_key: str,
    by: str,
    now: datetime,
    territories: tuple[str, ...] = (),
) -> CreditAccount.Granted:
    """The event that creates a teacher's account (for a teacher id already checked).

    A bulk grant records these events without building the accounts, which it would never
    use: building each one cost a sixth of the grant.
    """
    return CreditAccount.Granted(
        originator_id=checked_credit_account_id(campaign.id, teacher_id),
        originator_version=CreditAccount.INITIAL_VERSION,
        originator_topic=ACCOUNT_TOPIC,
        timestamp=now,
        campaign_id=campaign.id,
        teacher_id=teacher_id,
        amount_cents=campaign.face_value_cents,
        funding=campaign.face_value_split,
        valid_from=campaign.valid_from,
        valid_until=campaign.valid_until,
        grant_key=grant_key,
        granted_by=by,
        granted_at=now,
        territories=territories,
    )


def grant_account(
    campaign: Campaign,
    teacher_id: str,
    grant_key: str,
    by: str,
    now: datetime,
    territories: Iterable[str] = (),
) -> CreditAccount:
    """A newly granted account, with its `Granted` event pending."""
    teacher_id = check_opaque_id(teacher_id, "teacher id")
    places = checked_territories(territories)
    event = granted_event(campaign, teacher_id, grant_key, by, now, places)
    account = event.mutate(None)
    account.pending_events.append(event)
    return account


def unique_teachers(teacher_ids: Iterable[str]) -> list[str]:
    """Checked, de-duplicated, in first-seen order (so chunks are the same on a retry)."""
    seen: dict[str, None] = {}
    for teacher_id in teacher_ids:
        seen[check_opaque_id(teacher_id, "teacher id")] = None
        if len(seen) > MAX_TEACHERS_PER_GRANT:
            raise InvalidInput(f"at most {MAX_TEACHERS_PER_GRANT} teachers per grant")
    return list(seen)


def teachers_territories(
    teachers: list[str], territories: Mapping[str, Iterable[str]]
) -> dict[str, tuple[str, ...]]:
    """Each listed teacher's territories, checked; a teacher not in the list is refused."""
    listed = set(teachers)
    unknown = [t for t in territories if t not in listed]
    if unknown:
        raise InvalidInput(f"territories are given for {unknown[0]!r}, who is not in the grant")
    places = {t: checked_territories(names) for t, names in territories.items()}
    return {t: p for t, p in places.items() if p}
