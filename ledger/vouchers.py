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

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from ledger import grants
from ledger.application import LedgerApplication
from ledger.campaigns import Campaign, Funders, normalised_terms
from ledger.commands import AccountCommand, ExpireRemainder, Receipt
from ledger.credits import CreditAccount
from ledger.eligibility import EligibilityRule
from ledger.errors import (
    CampaignNotFound,
    CampaignStillRunning,
    CreditAccountNotFound,
    DomainError,
    HoldNotCaptured,
)
from ledger.grants import GrantReport, Progress
from ledger.holds import HoldStatus
from ledger.ids import campaign_id as make_campaign_id
from ledger.ids import check_key, credit_account_id, request_digest
from ledger.reimbursement import Redemption
from ledger.store import latest_versions, select_events_of

MAX_BATCH_ATTEMPTS = 3
LOG_PAGE_SIZE = 2000


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


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """A batch applied to cached accounts, not saved yet."""

    results: list[Receipt | DomainError]
    events: list[Any]
    account_ids: tuple[UUID, ...]


class VoucherLedger(LedgerApplication):
    """The teacher's EdTech credit: campaigns and credit accounts."""

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
        terms = normalised_terms(
            name, face_value_cents, valid_from, valid_until, budget_cents, funders
        )
        name, face_value_cents, valid_from, valid_until, budget_cents, funders = terms
        digest = request_digest("open_campaign", *terms)
        campaign = Campaign.open(
            campaign_id=campaign_id,
            campaign_key=campaign_key,
            name=name,
            face_value_cents=face_value_cents,
            valid_from=valid_from,
            valid_until=valid_until,
            budget_cents=budget_cents,
            funders=funders,
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

    def set_eligibility(
        self, campaign_id: UUID, rule: EligibilityRule, *, by: str, now: datetime
    ) -> None:
        """Say what the campaign's credit may buy (`ledger.eligibility`)."""

        def attempt():
            campaign = self.get_campaign(campaign_id)
            campaign.set_eligibility(rule, by=by, now=now)
            self.record(campaign)

        return self.retrying(attempt, "the campaign")

    def close_campaign(self, campaign_id: UUID, *, by: str, now: datetime) -> dict[str, int]:
        """Stop granting; return the budget never granted to the funders."""

        def attempt():
            campaign = self.get_campaign(campaign_id)
            if not campaign.is_open:
                return dict(campaign.returned)
            campaign.close(by=by, now=now)
            self.record(campaign)
            return dict(campaign.returned)

        return self.retrying(attempt, "the campaign")

    def grant_credits(
        self,
        campaign_id: UUID,
        teacher_ids: Iterable[str],
        *,
        grant_key: str,
        by: str,
        now: datetime,
        progress: Progress | None = None,
        territories: Mapping[str, Iterable[str]] | None = None,
    ) -> GrantReport:
        """Grant the face value to each teacher, a chunk per transaction (`ledger.grants`),
        recording each teacher's territories where they are given."""
        return grants.grant_credits(
            self,
            campaign_id,
            teacher_ids,
            grant_key=grant_key,
            by=by,
            now=now,
            progress=progress,
            territories=territories,
        )

    def has_account(self, campaign_id: UUID, teacher_id: str) -> bool:
        return bool(latest_versions(self.recorder, [credit_account_id(campaign_id, teacher_id)]))

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

    def redemption(self, account_id: UUID, hold_id: UUID) -> Redemption:
        """A captured hold as its vendor claims it: net of refunds, with its capture time."""
        hold = self.get_account(account_id).get_hold(hold_id)
        if hold.status is not HoldStatus.CAPTURED or hold.captured_at is None:
            raise HoldNotCaptured(f"hold {hold_id} is {hold.status.value}, not captured")
        return Redemption(
            account_id,
            hold_id,
            hold.vendor_id,
            hold.captured_cents - hold.refunded_cents,
            hold.captured_at,
        )

    def execute(self, command: AccountCommand) -> Receipt:
        """One command, one transaction; retried on a concurrent write to the account."""

        def attempt():
            account = self.get_account(command.account_id)
            receipt = command.apply_to(account)
            self.record(account)
            return receipt

        return self.retrying(attempt, "the account")

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
            prepared = self.prepare_many(commands, cache)
            if prepared is None:
                break
            try:
                self.record_events(prepared.events)
                return prepared.results
            except IntegrityError:
                for account_id in prepared.account_ids:
                    cache.pop(account_id, None)
        return [self.execute_answering(c) for c in commands]

    def prepare_many(
        self, commands: Sequence[AccountCommand], cache: dict[UUID, CreditAccount]
    ) -> PreparedBatch | None:
        """Apply a batch to cached accounts without saving it: the answers and the events.

        None when refusals kept being made on stale state: run the commands one by one.
        """
        for _ in range(MAX_BATCH_ATTEMPTS):
            self.load_into(cache, [c.account_id for c in commands])
            touched: dict[UUID, CreditAccount] = {}
            results = [self._apply_cached(c, cache, touched) for c in commands]
            stale = self._stale_refusals(commands, results, touched)
            if not stale:
                events = [e for a in touched.values() for e in a.collect_events()]
                return PreparedBatch(results, events, tuple(touched))
            for account_id in stale | set(touched):
                cache.pop(account_id, None)
        return None

    def _stale_refusals(
        self,
        commands: Sequence[AccountCommand],
        results: list[object],
        touched: dict[UUID, CreditAccount],
    ) -> set[UUID]:
        """Accounts whose cached state is older than the store's, among refused commands.

        A refusal is never saved, so no version conflict would reveal that another process
        changed the account (placed the hold being captured, topped up the credit): check
        the store's versions before answering a refusal made on cached state.
        """
        refused = {
            c.account_id
            for c, r in zip(commands, results, strict=True)
            if isinstance(r, DomainError) and c.account_id in touched
        }
        if not refused:
            return set()
        cached = {i: touched[i].version - len(touched[i].pending_events) for i in refused}
        stored = latest_versions(self.recorder, list(refused))
        return {i for i in refused if stored.get(i, 0) > cached[i]}

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

    def execute_answering(self, command: AccountCommand) -> Receipt | DomainError:
        """`execute`, with a refusal as the answer rather than raised."""
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
                returned += 0 if result.already_expired else result.returned_cents
            cache.clear()
            if progress:
                progress(len(batch))
        return returned


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
