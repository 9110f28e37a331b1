"""The teacher's EdTech credit: the application that runs campaigns and credit accounts.

Commands come in as plain values with the time they happen (`now`) and who asks (`by`).
One command on one account is `execute`: load, apply, save, and on a concurrent write
(the store refuses the version) load again and retry. Many commands are `execute_many`: the
group commit path, which applies a whole batch to cached accounts and saves it in one
transaction; see `ledger.batching`.

Bulk grants save a chunk of new accounts with the campaign's `CreditsGranted` in one
transaction. The ids of accounts derive from (campaign, teacher): a teacher is granted once
per campaign, and a retried chunk is refused by the store itself.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Transcoder
from eventsourcing.utils import get_topic

from ledger.campaigns import Campaign, Funders
from ledger.commands import AccountCommand, ExpireRemainder, Receipt
from ledger.credits import CreditAccount, HoldStatus, TopUpKind
from ledger.errors import (
    CampaignNotFound,
    CampaignStillRunning,
    ConcurrencyConflict,
    CreditAccountNotFound,
    DomainError,
    InvalidInput,
)
from ledger.ids import campaign_id as make_campaign_id
from ledger.ids import check_key, check_opaque_id, credit_account_id, request_digest
from ledger.settings import Settings
from ledger.store import APPLICATION_NAME, select_events_of
from ledger.transcoding import MsgpackTranscoder

MAX_COMMAND_ATTEMPTS = 12
MAX_BATCH_ATTEMPTS = 3
MAX_TEACHERS_PER_GRANT = 1_000_000
LOG_PAGE_SIZE = 2000
RETRY_BASE_DELAY_S = 0.002

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class GrantReport:
    granted: int
    already_granted: int
    chunks: int


@dataclass(frozen=True, slots=True)
class AccountView:
    account_id: UUID
    campaign_id: UUID
    teacher_id: str
    granted_cents: int
    topped_up_cents: int
    available_cents: int
    held_cents: int
    captured_cents: int
    returned_cents: int
    is_expired: bool
    pending_holds: int
    version: int


class VoucherLedger(Application):
    name = APPLICATION_NAME
    enum_types = (TopUpKind, HoldStatus)

    def __init__(self, settings: Settings, **extra_env: str) -> None:
        self.settings = settings
        super().__init__(env={**settings.store.eventsourcing_env(), **extra_env})

    def construct_env(self, name: str, env: Any = None) -> Any:
        # Only the settings object configures the store: no stray process environment.
        from eventsourcing.utils import Environment

        return Environment(name, dict(env or {}))

    def construct_transcoder(self) -> Transcoder:
        return MsgpackTranscoder(self.enum_types)

    def record(self, *aggregates: Aggregate) -> None:
        """Save the pending events of aggregates in one transaction.

        The library's `save` also checks every object against runtime protocols, feeds its
        aggregate cache and snapshots; none of that is used here, and on a bulk grant those
        checks cost a quarter of the time.
        """
        events = [event for aggregate in aggregates for event in aggregate.collect_events()]
        if events:
            self.events.put(events)

    # Campaigns ---------------------------------------------------------------------------

    def open_campaign(
        self,
        *,
        campaign_key: str,
        name: str,
        face_value_cents: int,
        valid_from: datetime,
        valid_until: datetime,
        budget_cents: int,
        funders: Funders,
        by: str,
        now: datetime,
    ) -> UUID:
        """Open a campaign; a retry with the same key and terms answers the same id."""
        campaign_id = make_campaign_id(check_key(campaign_key, "campaign key"))
        digest = request_digest(
            "open_campaign",
            name,
            face_value_cents,
            valid_from,
            valid_until,
            budget_cents,
            tuple(funders),
        )
        campaign = Campaign.open(
            campaign_id=campaign_id,
            campaign_key=campaign_key,
            name=name,
            face_value_cents=face_value_cents,
            valid_from=valid_from,
            valid_until=valid_until,
            budget_cents=budget_cents,
            funders=tuple(funders),
            request_digest=digest,
            by=by,
            now=now,
        )
        try:
            self.record(campaign)
        except IntegrityError:
            self.get_campaign(campaign_id).check_same_request(digest)
        return campaign_id

    def get_campaign(self, campaign_id: UUID) -> Campaign:
        try:
            return self.repository.get(campaign_id)
        except AggregateNotFoundError:
            raise CampaignNotFound(f"no campaign {campaign_id}") from None

    def close_campaign(self, campaign_id: UUID, *, by: str, now: datetime) -> dict[str, int]:
        """Stop granting; return the budget never granted to the funders."""
        for attempt in range(MAX_COMMAND_ATTEMPTS):
            campaign = self.get_campaign(campaign_id)
            if not campaign.is_open:
                return dict(campaign.returned)
            campaign.close(by=by, now=now)
            try:
                self.record(campaign)
                return dict(campaign.returned)
            except IntegrityError:
                backoff(attempt)
        raise ConcurrencyConflict("the campaign kept changing; retry")

    def grant_credits(
        self,
        campaign_id: UUID,
        teacher_ids: Sequence[str],
        *,
        grant_key: str,
        by: str,
        now: datetime,
        progress: Progress | None = None,
    ) -> GrantReport:
        """Grant the face value to each teacher, in chunks of one transaction each.

        A teacher already granted in this campaign is skipped and counted. The same call
        again (same key, same list) skips the chunks already saved, so an interrupted bulk
        grant is finished by running it again.
        """
        check_key(grant_key, "grant key")
        teachers = unique_teachers(teacher_ids)
        chunk_size = self.settings.grant_chunk_size
        chunks = [teachers[i : i + chunk_size] for i in range(0, len(teachers), chunk_size)]
        campaign = self.get_campaign(campaign_id)
        pending = [
            (f"{grant_key}#{n}", chunk)
            for n, chunk in enumerate(chunks)
            if not campaign.check_grant_retry(f"{grant_key}#{n}", chunk_digest(chunk))
        ]
        campaign.check_can_grant(sum(len(c) for _, c in pending), now)
        granted = already = 0
        for chunk_key, chunk in pending:
            new, old = self._grant_chunk(campaign_id, chunk_key, chunk, by, now)
            granted, already = granted + new, already + old
            if progress:
                progress(len(chunk))
        return GrantReport(granted, already, len(pending))

    def _grant_chunk(
        self, campaign_id: UUID, chunk_key: str, chunk: list[str], by: str, now: datetime
    ) -> tuple[int, int]:
        digest = chunk_digest(chunk)
        skip: set[str] = set()
        for attempt in range(MAX_COMMAND_ATTEMPTS):
            campaign = self.get_campaign(campaign_id)
            if campaign.check_grant_retry(chunk_key, digest):
                return 0, 0  # an earlier attempt committed it
            fresh = [t for t in chunk if t not in skip]
            campaign.record_grant(chunk_key, digest, len(fresh), by, now)
            accounts = [grant_account(campaign, t, chunk_key, by, now) for t in fresh]
            try:
                self.record(campaign, *accounts)
                return len(fresh), len(skip)
            except IntegrityError:
                skip |= {t for t in fresh if self.has_account(campaign_id, t)}
                backoff(attempt)
        raise ConcurrencyConflict("the campaign kept changing during the grant; retry")

    def has_account(self, campaign_id: UUID, teacher_id: str) -> bool:
        account_id = credit_account_id(campaign_id, teacher_id)
        return bool(self.recorder.select_events(account_id, limit=1))

    def campaign_teachers(self, campaign_id: UUID) -> Iterator[str]:
        """Every teacher granted credit in a campaign, read from the log in order."""
        topic = get_topic(CreditAccount.Granted)
        position: int | None = None
        while True:
            page = self.recorder.select_notifications(
                start=position, limit=LOG_PAGE_SIZE, topics=[topic], inclusive_of_start=False
            )
            for notification in page:
                event = self.mapper.to_domain_event(notification)
                if event.campaign_id == campaign_id:
                    yield event.teacher_id
            if len(page) < LOG_PAGE_SIZE:
                return
            position = page[-1].id

    # Credit accounts ---------------------------------------------------------------------

    def get_account(self, account_id: UUID) -> CreditAccount:
        try:
            return self.repository.get(account_id)
        except AggregateNotFoundError:
            raise CreditAccountNotFound(f"no credit account {account_id}") from None

    def account_view(self, campaign_id: UUID, teacher_id: str) -> AccountView:
        return view_of(self.get_account(credit_account_id(campaign_id, teacher_id)))

    def execute(self, command: AccountCommand) -> Receipt:
        """One command, one transaction; retried on a concurrent write to the account."""
        for attempt in range(MAX_COMMAND_ATTEMPTS):
            account = self.get_account(command.account_id)
            receipt = command.apply_to(account)
            if not account.pending_events:
                return receipt  # a retry of a recorded command, or nothing to do
            try:
                self.record(account)
                return receipt
            except IntegrityError:
                backoff(attempt)
        raise ConcurrencyConflict("the account kept changing; retry")

    def execute_many(
        self, commands: Sequence[AccountCommand], cache: dict[UUID, CreditAccount]
    ) -> list[Receipt | DomainError]:
        """Group commit: apply a batch to cached accounts, save it in one transaction.

        On a conflict the batch's accounts are dropped from the cache and the batch is
        applied again from fresh state; commands already recorded answer as before, so a
        conflict neither loses nor repeats a command. After `MAX_BATCH_ATTEMPTS` the
        commands run one by one.
        """
        for _ in range(MAX_BATCH_ATTEMPTS):
            self.load_into(cache, [c.account_id for c in commands])
            touched: dict[UUID, CreditAccount] = {}
            results = [self._apply_cached(c, cache, touched) for c in commands]
            changed = [a for a in touched.values() if a.pending_events]
            try:
                if changed:
                    self.record(*changed)
                return results
            except IntegrityError:
                for account_id in touched:
                    cache.pop(account_id, None)
        return [self._execute_alone(c) for c in commands]

    def load_into(self, cache: dict[UUID, CreditAccount], ids: Sequence[UUID]) -> None:
        """Load the accounts missing from the cache, with one query for all of them."""
        missing = list(dict.fromkeys(i for i in ids if i not in cache))
        if not missing:
            return
        account: CreditAccount | None = None
        for stored in select_events_of(self.recorder, missing):
            event = self.mapper.to_domain_event(stored)
            if account is None or account.id != event.originator_id:
                account = None
            account = event.mutate(account)
            cache[account.id] = account

    def _apply_cached(
        self,
        command: AccountCommand,
        cache: dict[UUID, CreditAccount],
        touched: dict[UUID, CreditAccount],
    ) -> Receipt | DomainError:
        account_id = command.account_id
        try:
            account = touched.get(account_id) or cache.get(account_id)
            if account is None:
                account = self.get_account(account_id)
                cache[account_id] = account
            touched[account_id] = account
            return command.apply_to(account)
        except DomainError as error:
            return error

    def _execute_alone(self, command: AccountCommand) -> Receipt | DomainError:
        try:
            return self.execute(command)
        except DomainError as error:
            return error

    def run_year_end_expiry(
        self,
        campaign_id: UUID,
        *,
        by: str,
        now: datetime,
        progress: Progress | None = None,
        batch_size: int = 500,
    ) -> int:
        """Close the campaign if open, then expire every account; returns cents returned."""
        campaign = self.get_campaign(campaign_id)
        if now < campaign.valid_until:
            raise CampaignStillRunning(f"the campaign runs until {campaign.valid_until}")
        self.close_campaign(campaign_id, by=by, now=now)
        returned = 0
        cache: dict[UUID, CreditAccount] = {}
        for batch in batched(self.campaign_teachers(campaign_id), batch_size):
            commands = [
                ExpireRemainder(campaign_id=campaign_id, teacher_id=t, by=by, now=now)
                for t in batch
            ]
            for result in self.execute_many(commands, cache):
                if isinstance(result, DomainError):
                    raise result
                returned += result.returned_cents
            cache.clear()
            if progress:
                progress(len(batch))
        return returned


def grant_account(
    campaign: Campaign, teacher_id: str, grant_key: str, by: str, now: datetime
) -> CreditAccount:
    return CreditAccount._create(
        CreditAccount.Granted,
        id=credit_account_id(campaign.id, teacher_id),
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
    )


def unique_teachers(teacher_ids: Iterable[str]) -> list[str]:
    """Checked, de-duplicated, in first-seen order (so chunks are the same on a retry)."""
    seen: dict[str, None] = {}
    for teacher_id in teacher_ids:
        seen[check_opaque_id(teacher_id, "teacher id")] = None
    if len(seen) > MAX_TEACHERS_PER_GRANT:
        raise InvalidInput(f"at most {MAX_TEACHERS_PER_GRANT} teachers per grant")
    return list(seen)


def chunk_digest(chunk: Sequence[str]) -> str:
    return request_digest("grant_credits", *chunk)


def view_of(account: CreditAccount) -> AccountView:
    return AccountView(
        account_id=account.id,
        campaign_id=account.campaign_id,
        teacher_id=account.teacher_id,
        granted_cents=account.granted_cents,
        topped_up_cents=account.topped_up_cents,
        available_cents=account.available_cents,
        held_cents=account.held_cents,
        captured_cents=account.captured_cents,
        returned_cents=account.returned_cents,
        is_expired=account.is_expired,
        pending_holds=account.pending_count(),
        version=account.version,
    )


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def backoff(attempt: int) -> None:
    """Jittered exponential wait between retries, so contending writers spread out."""
    time.sleep(RETRY_BASE_DELAY_S * (2 ** min(attempt, 6)) * random.random())
