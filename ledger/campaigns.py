"""Campaigns: a year's EdTech credit, its budget and who pays for it.

A campaign is opened by the operator with a face value per teacher, a validity window, a
total budget and the funders who provide it, each with an integer weight. The budget is
split between funders by those weights (largest remainder, so the parts add up), and so is
every teacher's face value: each euro granted can always be traced back to a funder.

Credit is granted in chunks: each chunk of teachers is one `CreditsGranted` event on the
campaign, saved in the same transaction as the teachers' new credit accounts. A chunk has a
key, so a retried bulk grant skips the chunks already recorded. The budget is checked per
funder, so no funder ever pays more than it put in.

Closing a campaign stops granting and returns the budget never granted to its funders.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from eventsourcing.domain import Aggregate

from ledger.eligibility import EligibilityRule, Label, ResourceKind
from ledger.errors import (
    BudgetExceeded,
    CampaignNotOpen,
    IdempotencyKeyReused,
    InvalidAmount,
    InvalidFunders,
    InvalidInput,
    InvalidPeriod,
)
from ledger.ids import check_opaque_id
from ledger.money import MAX_AMOUNT_CENTS, Amounts, allocate_cents

MAX_FUNDERS = 16
MAX_NAME_LENGTH = 200
MAX_FUNDER_WEIGHT = 1_000_000

Funders = tuple[tuple[str, int], ...]  # (funder id, weight)


class Campaign(Aggregate):
    """The operator's campaign of EdTech credit for one school year."""

    class Event(Aggregate.Event):
        pass

    class Opened(Aggregate.Created):
        campaign_key: str
        name: str
        face_value_cents: int
        valid_from: datetime
        valid_until: datetime
        budget_cents: int
        funders: Funders
        contributions: Amounts
        face_value_split: Amounts
        request_digest: str
        opened_by: str
        opened_at: datetime

        def apply(self, campaign: Campaign) -> None:
            campaign.campaign_key = self.campaign_key
            campaign.name = self.name
            campaign.face_value_cents = self.face_value_cents
            campaign.valid_from = self.valid_from
            campaign.valid_until = self.valid_until
            campaign.budget_cents = self.budget_cents
            campaign.funders = self.funders
            campaign.contributions = dict(self.contributions)
            campaign.face_value_split = self.face_value_split
            campaign.request_digest = self.request_digest
            campaign.is_open = True
            campaign.grants = {}
            campaign.chunks_granted = set()
            campaign.teachers_granted = 0
            campaign.granted_by_funder = {f: 0 for f, _ in campaign.funders}
            campaign.returned = {}
            campaign.eligibility = EligibilityRule()  # any listed resource, no caps

    class CreditsGranted(Event):
        grant_key: str
        request_digest: str
        chunk_size: int
        chunk: int
        teacher_count: int
        amount_cents: int
        by_funder: Amounts
        granted_by: str
        granted_at: datetime

        def apply(self, campaign: Campaign) -> None:
            campaign.grants[self.grant_key] = (self.request_digest, self.chunk_size)
            campaign.chunks_granted.add((self.grant_key, self.chunk))
            campaign.teachers_granted += self.teacher_count
            for funder, cents in self.by_funder:
                campaign.granted_by_funder[funder] += cents

    class EligibilitySet(Event):
        required_labels: tuple[Label, ...]
        kind_caps_cents: tuple[tuple[ResourceKind, int], ...]
        set_by: str
        set_at: datetime

        def apply(self, campaign: Campaign) -> None:
            campaign.eligibility = EligibilityRule(self.required_labels, self.kind_caps_cents)

    class Closed(Event):
        returned: Amounts
        closed_by: str
        closed_at: datetime

        def apply(self, campaign: Campaign) -> None:
            campaign.is_open = False
            campaign.returned = dict(self.returned)

    # Commands ----------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        *,
        campaign_id: UUID,
        campaign_key: str,
        name: str,
        face_value_cents: int,
        valid_from: datetime,
        valid_until: datetime,
        budget_cents: int,
        funders: Funders,
        request_digest: str,
        by: str,
        now: datetime,
    ) -> Campaign:
        check_campaign_terms(name, face_value_cents, valid_from, valid_until, budget_cents)
        funders = check_funders(funders)
        weights = [w for _, w in funders]
        ids = [f for f, _ in funders]
        face_split = allocate_cents(face_value_cents, weights)
        # Each funder's share of the budget is its share of each whole face value, plus its
        # share of what is left: a budget of N face values always covers N teachers.
        teachers, rest = divmod(budget_cents, face_value_cents)
        contributions = (
            [
                teachers * face + extra
                for face, extra in zip(face_split, allocate_cents(rest, weights), strict=True)
            ]
            if rest
            else [teachers * face for face in face_split]
        )
        return cls._create(
            cls.Opened,
            id=campaign_id,
            timestamp=now,
            campaign_key=campaign_key,
            name=name,
            face_value_cents=face_value_cents,
            valid_from=valid_from,
            valid_until=valid_until,
            budget_cents=budget_cents,
            funders=funders,
            contributions=tuple(zip(ids, contributions, strict=True)),
            face_value_split=tuple(zip(ids, face_split, strict=True)),
            request_digest=request_digest,
            opened_by=by,
            opened_at=now,
        )

    def check_same_request(self, request_digest: str) -> None:
        if request_digest != self.request_digest:
            raise IdempotencyKeyReused(
                f"campaign {self.campaign_key!r} was opened with other terms",
                campaign_key=self.campaign_key,
            )

    def check_can_grant(self, teacher_count: int, now: datetime) -> None:
        if not self.is_open:
            raise CampaignNotOpen(f"campaign {self.campaign_key!r} is closed")
        if now >= self.valid_until:
            raise CampaignNotOpen(f"campaign {self.campaign_key!r} ended at {self.valid_until}")
        for funder, cents in self.grant_split(teacher_count):
            left = self.contributions[funder] - self.granted_by_funder[funder]
            if cents > left:
                raise BudgetExceeded(
                    f"granting {teacher_count} teachers needs {cents} cents from funder "
                    f"{funder!r}, which has {left} cents left",
                    funder=funder,
                    needed_cents=cents,
                    left_cents=left,
                )

    def grant_split(self, teacher_count: int) -> Amounts:
        return tuple((f, cents * teacher_count) for f, cents in self.face_value_split)

    def chunk_size_for(self, grant_key: str, request_digest: str, default: int) -> int:
        """The chunk size of this grant request: as first recorded, for a retry."""
        seen = self.grants.get(grant_key)
        if seen is None:
            return default
        if seen[0] != request_digest:
            raise IdempotencyKeyReused(
                f"grant key {grant_key!r} was used for another list of teachers", key=grant_key
            )
        return seen[1]

    def record_grant(
        self,
        grant_key: str,
        request_digest: str,
        chunk_size: int,
        chunk: int,
        teacher_count: int,
        by: str,
        now: datetime,
    ) -> None:
        assert (grant_key, chunk) not in self.chunks_granted, "caller checks chunks first"
        assert self.chunk_size_for(grant_key, request_digest, chunk_size) == chunk_size
        self.check_can_grant(teacher_count, now)
        self.trigger_event(
            self.CreditsGranted,
            timestamp=now,
            grant_key=grant_key,
            request_digest=request_digest,
            chunk_size=chunk_size,
            chunk=chunk,
            teacher_count=teacher_count,
            amount_cents=teacher_count * self.face_value_cents,
            by_funder=self.grant_split(teacher_count),
            granted_by=by,
            granted_at=now,
        )

    def set_eligibility(self, rule: EligibilityRule, by: str, now: datetime) -> None:
        """Say what this campaign's credit may buy; the same rule again records nothing."""
        if not self.is_open:
            raise CampaignNotOpen(f"campaign {self.campaign_key!r} is closed")
        if rule == self.eligibility:
            return
        self.trigger_event(
            self.EligibilitySet,
            timestamp=now,
            required_labels=rule.required_labels,
            kind_caps_cents=rule.kind_caps_cents,
            set_by=by,
            set_at=now,
        )

    def close(self, by: str, now: datetime) -> None:
        if not self.is_open:
            raise CampaignNotOpen(f"campaign {self.campaign_key!r} is already closed")
        returned = tuple(
            (f, self.contributions[f] - self.granted_by_funder[f]) for f, _ in self.funders
        )
        self.trigger_event(
            self.Closed, timestamp=now, returned=returned, closed_by=by, closed_at=now
        )

    @property
    def granted_cents(self) -> int:
        return sum(self.granted_by_funder.values())

    @property
    def remaining_cents(self) -> int:
        return self.budget_cents - self.granted_cents - sum(self.returned.values())


def check_campaign_terms(
    name: str, face_value_cents: int, valid_from: datetime, valid_until: datetime, budget: int
) -> None:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"a campaign name has 1 to {MAX_NAME_LENGTH} characters")
    for what, cents in (("face value", face_value_cents), ("budget", budget)):
        if type(cents) is not int or not 0 < cents <= MAX_AMOUNT_CENTS:
            raise InvalidAmount(f"the {what} must be a positive number of cents", field=what)
    if budget < face_value_cents:
        raise InvalidAmount("the budget must cover at least one teacher's face value")
    for moment in (valid_from, valid_until):
        if not isinstance(moment, datetime) or moment.tzinfo is None:
            raise InvalidPeriod("validity dates must be timezone-aware date-times")
    if valid_from >= valid_until:
        raise InvalidPeriod("the validity window must end after it starts")


def normalised_terms(
    name: str,
    face_value_cents: int,
    valid_from: datetime,
    valid_until: datetime,
    budget_cents: int,
    funders: Funders,
) -> tuple[str, int, datetime, datetime, int, Funders]:
    """Checked terms in one canonical form (UTC times, tuple funders), for digests and events."""
    check_campaign_terms(name, face_value_cents, valid_from, valid_until, budget_cents)
    return (
        name,
        face_value_cents,
        valid_from.astimezone(UTC),
        valid_until.astimezone(UTC),
        budget_cents,
        check_funders(funders),
    )


def check_funders(funders: Funders) -> Funders:
    """Funders as a tuple of (id, weight) pairs, whatever sequence they came in."""
    try:
        funders = tuple((f, w) for f, w in funders)
    except (TypeError, ValueError):
        raise InvalidFunders("funders are (funder id, weight) pairs") from None
    if not 1 <= len(funders) <= MAX_FUNDERS:
        raise InvalidFunders(f"a campaign has 1 to {MAX_FUNDERS} funders")
    for funder, weight in funders:
        check_opaque_id(funder, "funder id")
        if type(weight) is not int or not 0 < weight <= MAX_FUNDER_WEIGHT:
            raise InvalidFunders(
                f"funder {funder!r} needs a whole weight from 1 to {MAX_FUNDER_WEIGHT}"
            )
    if len({f for f, _ in funders}) != len(funders):
        raise InvalidFunders("each funder appears once")
    return funders
