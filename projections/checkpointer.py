"""The checkpointer: signs a checkpoint of the log every so many events or minutes.

A checkpoint (`ledger.checkpoints`) is due when at least `checkpoint_every_events` events
were recorded since the latest stored one, or when `checkpoint_every_minutes` have passed
since it was issued and at least one event is new; with none stored yet, the first is due
as soon as the log holds an event. A log that did not move gets no new checkpoint. Time is
passed in (`due(now)`, `issue(now)`), never read here.

It is incremental: it keeps the log's Merkle frontier (`ledger.merkle.MerkleFrontier`, one
hash per set bit of the size) and the balances in memory, and folds only the events after
the last one it has seen, by the lean audit pass (`ledger.audit_replay`) into a running
commitment (`ledger.commitment`) that writes again only the balances that moved. On its
first use it rebuilds them once from the log up to the latest stored checkpoint and checks
that they give that checkpoint's size, root and balances commitment: if they do not, the
log was rewritten under a signature we gave, and it refuses to sign anything more
(`CheckpointMismatch`).

Each checkpoint covers every event folded so far, so sizes are not multiples of the
cadence. Another process may store a checkpoint meanwhile (`tirelire checkpoint` beside a
server): the store then refuses ours (`CheckpointNotExtending`) and the next use starts
again from the newest stored one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.application import LedgerApplication
from ledger.audit_log import last_notification_id
from ledger.audit_replay import AuditReplay, stored_rows
from ledger.checkpoints import TIME_FORMAT, checkpoint_of, sign
from ledger.commitment import RunningCommitment
from ledger.errors import CheckpointMismatch, CheckpointNotExtending
from ledger.merkle import MerkleFrontier
from ledger.proofs import SignedCheckpoint
from ledger.settings import Settings
from projections.checkpoint_store import CheckpointStore

PAGE_SIZE = 10_000  # events read per query when folding


class Checkpointer:
    def __init__(
        self,
        app: LedgerApplication,
        store: CheckpointStore,
        key: Ed25519PrivateKey,
        settings: Settings,
    ) -> None:
        self.app, self.store, self.key = app, store, key
        self.every_events = settings.checkpoint_every_events
        self.every = timedelta(minutes=settings.checkpoint_every_minutes)
        self._loaded = False
        self._latest: SignedCheckpoint | None = None
        self._start_from_zero()

    @property
    def latest(self) -> SignedCheckpoint | None:
        return self._latest

    def pending(self) -> int:
        """Events folded since the latest checkpoint."""
        return self._frontier.size - (self._latest.log_size if self._latest else 0)

    def due(self, now: datetime) -> bool:
        """Whether a checkpoint is due now (after folding the new events)."""
        self._catch_up()
        pending = self.pending()
        if pending == 0:
            return False
        if pending >= self.every_events or self._latest is None:
            return True
        issued = datetime.strptime(self._latest.checkpoint.issued_at, TIME_FORMAT)
        return now - issued.replace(tzinfo=UTC) >= self.every

    def issue(self, now: datetime) -> SignedCheckpoint | None:
        """Sign and keep a checkpoint of every event so far; None if none is new."""
        self._catch_up()
        if self.pending() == 0:
            return None
        frontier = self._frontier
        checkpoint = checkpoint_of(frontier.size, frontier.root(), self._balances.digest(), now)
        signed = SignedCheckpoint(checkpoint, self._position, sign(checkpoint, self.key))
        try:
            self.store.add(signed)
        except CheckpointNotExtending:
            self._loaded = False  # another process stored one: start again from it
            raise
        self._latest = signed
        return signed

    def tick(self, now: datetime) -> SignedCheckpoint | None:
        """Issue a checkpoint if one is due: what a loop calls at each turn."""
        return self.issue(now) if self.due(now) else None

    def _catch_up(self) -> None:
        if not self._loaded:
            self._load()
        self._fold(last_notification_id(self.app.recorder))

    def _load(self) -> None:
        """Rebuild the frontier and balances up to the latest stored checkpoint, and check
        that the log still gives it."""
        self._start_from_zero()
        latest = self.store.latest()
        if latest is not None:
            assert latest.position is not None
            self._fold(latest.position)
            self._check(latest)
        self._latest, self._loaded = latest, True

    def _start_from_zero(self) -> None:
        self._frontier = MerkleFrontier()
        self._balances = RunningCommitment()  # written again only where balances moved
        # The lean audit pass, folding into the running commitment.
        self._replay = AuditReplay(
            self.app.mapper, self._frontier, self._balances, RunningCommitment.move
        )
        self._position = 0  # the log position of the last event folded

    def _fold(self, stop: int) -> None:
        """Hash and fold the events after the last one folded, up to position `stop`."""
        pages = stored_rows(self.app.recorder, stop, PAGE_SIZE, start=self._position)
        for rows, ids in pages:
            self._replay.feed(rows, ids)
            self._position = rows[-1][0]

    def _check(self, latest: SignedCheckpoint) -> None:
        stored = latest.checkpoint
        found = {
            "log_size": self._frontier.size,
            "root": self._frontier.root().hex(),
            "balances_sha256": self._balances.digest(),
        }
        for field, value in found.items():
            if getattr(stored, field) != value:
                raise CheckpointMismatch(
                    f"the log up to position {latest.position} no longer gives the signed "
                    f"checkpoint of size {stored.log_size}: its {field} differs; no "
                    "checkpoint will be signed until this is investigated",
                    log_size=stored.log_size,
                    field=field,
                )
