"""The base of every Tirelire application: one log, one encoding, settings from one place.

Each bounded context (the teacher's credit, vendors, device banks, the internet fund) is an
eventsourcing `Application` subclass of `LedgerApplication`. All of them write to the same
event table, `ledger_events` (the library names a PostgreSQL table after the application's
`name`, so they share one name), so notification order is a single total order across the
whole system that projections follow and auditors replay.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Transcoder
from eventsourcing.utils import Environment

from ledger.catalogue import SchoolLevel
from ledger.cofinancing import SpendPurpose
from ledger.device_records import DeviceGrade, DeviceKind, DeviceStage, WipeMethod
from ledger.eligibility import Label, ResourceKind
from ledger.errors import ConcurrencyConflict, DomainError
from ledger.holds import HoldStatus, TopUpKind
from ledger.matching import FunderKind
from ledger.parties import PartyRole
from ledger.settings import Settings
from ledger.store import APPLICATION_NAME, backoff, version_at
from ledger.subsidies import SubsidyPayee
from ledger.territories import TerritoryKind
from ledger.transcoding import MsgpackTranscoder

AGGREGATE_CACHE_SIZE = 1000  # aggregates kept between reads, per application
MAX_COMMAND_ATTEMPTS = 12  # a command retried this often after concurrent writes gives up
T = TypeVar("T")

# Every enum any event in the log holds, whichever context wrote it: every application reads
# the whole log (projections, audits, replays), so each must decode every event. Stored by
# class name (see `ledger.transcoding`).
EVENT_ENUMS: tuple[type[Enum], ...] = (
    TopUpKind,
    HoldStatus,
    Label,
    ResourceKind,
    SchoolLevel,
    # Device banks.
    DeviceKind,
    DeviceStage,
    DeviceGrade,
    WipeMethod,
    PartyRole,
    TerritoryKind,
    # The internet fund.
    SubsidyPayee,
    FunderKind,
    SpendPurpose,
)


class LedgerApplication(Application):
    name = APPLICATION_NAME

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The library names each subclass after itself, and a PostgreSQL table after the
        # name: every context must keep the one name, so they all share one log.
        cls.name = APPLICATION_NAME

    def __init__(self, settings: Settings, **extra_env: str) -> None:
        self.settings = settings
        # The library's aggregate cache, fast-forwarded from the store on every read: a
        # campaign granted to 800,000 teachers has hundreds of events, and replaying them on
        # every redemption cost about 12 ms; from the cache it is one query for what is new.
        cache = {"AGGREGATE_CACHE_MAXSIZE": str(AGGREGATE_CACHE_SIZE)}
        super().__init__(env={**settings.store.eventsourcing_env(), **cache, **extra_env})

    def construct_env(self, name: str, env: Any = None) -> Environment:
        # Only the settings object configures the store: no stray process environment.
        return Environment(name, dict(env or {}))

    def construct_transcoder(self) -> Transcoder:
        return MsgpackTranscoder(EVENT_ENUMS)

    def record(self, *aggregates: Aggregate) -> None:
        """Save the pending events of aggregates in one transaction.

        The library's `save` also checks every object against runtime protocols, feeds its
        aggregate cache and snapshots; none of that is used here, and on a bulk grant those
        checks cost a quarter of the time.
        """
        self.record_events([e for aggregate in aggregates for e in aggregate.collect_events()])

    def record_events(self, events: Sequence[Any]) -> None:
        """Save events (of aggregates built elsewhere) in one transaction."""
        if events:
            self.events.put(events)

    def _find(self, aggregate_id: UUID) -> Any:
        """The aggregate with this id, or None when the log has none."""
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def find_as_of(self, aggregate_id: UUID, position: int) -> Any:
        """The aggregate as it stood once the log reached `position`, or None before its
        first event."""
        version = version_at(self.recorder, aggregate_id, position)
        return None if version is None else self.repository.get(aggregate_id, version=version)

    def _get(self, aggregate_id: UUID, kind: type, error: type[DomainError], what: str) -> Any:
        """The aggregate with this id if it is a `kind`; `error` otherwise."""
        found = self._find(aggregate_id)
        if not isinstance(found, kind):
            raise error(f"no {what} {aggregate_id}")
        return found

    def retrying(self, attempt: Callable[[], T], what: str) -> T:
        """Optimistic concurrency: `attempt` loads, commands and records; when another
        writer saved first (the store refuses the version), it runs again on fresh state."""
        for n in range(MAX_COMMAND_ATTEMPTS):
            try:
                return attempt()
            except IntegrityError:
                backoff(n)
        raise ConcurrencyConflict(f"{what} kept changing; retry")
