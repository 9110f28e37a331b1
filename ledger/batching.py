"""Group commit: many commands, one transaction.

Saving is dominated by what every transaction pays once: on PostgreSQL the event table's
exclusive lock, the NOTIFY and the commit's fsync; on SQLite the fsync. A `GroupCommitter`
owns one writer thread. Callers submit commands and wait on a future; the writer takes
whatever has queued up (at most `max_batch` commands), applies them in order to cached
accounts, saves them in one transaction, and then answers every caller. While one batch
commits, the next one queues, so batches grow with the load and no artificial delay is
needed.

The cache belongs to the writer thread alone. It is authoritative for this process; writes
from another process surface as a version conflict on save, which evicts the accounts
involved and applies the batch again from fresh state (see `VoucherLedger.execute_many`).
"""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass
from uuid import UUID

from ledger.commands import AccountCommand, Receipt
from ledger.credits import CreditAccount
from ledger.errors import DomainError
from ledger.vouchers import VoucherLedger

MAX_CACHED_ACCOUNTS = 200_000
MAX_QUEUED_COMMANDS = 100_000
SUBMIT_TIMEOUT_S = 30.0

_STOP = object()


@dataclass(frozen=True, slots=True)
class _Forget:
    account_id: UUID


class AccountCache(OrderedDict[UUID, CreditAccount]):
    """A bounded least-recently-used map of account id to live aggregate."""

    def __init__(self, max_size: int = MAX_CACHED_ACCOUNTS) -> None:
        super().__init__()
        self.max_size = max_size

    def get(self, key: UUID, default: CreditAccount | None = None) -> CreditAccount | None:
        account = super().get(key, default)
        if account is not None:
            self.move_to_end(key)
        return account

    def peek(self, key: UUID) -> CreditAccount | None:
        """A look from another thread: no reordering. Only what never changes on an
        account (its campaign, its teacher, a hold's vendor) may be read from it."""
        return dict.get(self, key)

    def __setitem__(self, key: UUID, value: CreditAccount) -> None:
        super().__setitem__(key, value)
        while len(self) > self.max_size:
            self.popitem(last=False)


class GroupCommitter:
    """Queue commands from any thread; one writer thread saves them in batches."""

    def __init__(self, app: VoucherLedger, max_batch: int | None = None) -> None:
        self.app = app
        self.max_batch = max_batch or app.settings.batch_max_commands
        self.cache = AccountCache()
        self.batches = 0
        self.commands = 0
        self._queue: queue.Queue[object] = queue.Queue(maxsize=MAX_QUEUED_COMMANDS)
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._thread.start()

    def submit(self, command: AccountCommand) -> Future[Receipt]:
        future: Future[Receipt] = Future()
        self._queue.put((command, future), timeout=SUBMIT_TIMEOUT_S)
        return future

    def execute(self, command: AccountCommand) -> Receipt:
        return self.submit(command).result()

    def forget(self, account_id: UUID) -> None:
        """Drop an account from the writer's cache, in queue order: for an account saved by
        another path (a refund through the claims desk), so that the next command on it
        loads it fresh instead of failing its batch on a version conflict."""
        self._queue.put(_Forget(account_id), timeout=SUBMIT_TIMEOUT_S)

    def close(self) -> None:
        """Finish what is queued, then stop the writer."""
        self._queue.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            if isinstance(first, _Forget):
                self.cache.pop(first.account_id, None)
                continue
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self._queue.put(_STOP)
                    break
                if isinstance(item, _Forget):
                    # Commands queued before it run first: commit them, then forget.
                    self._commit(batch)  # type: ignore[arg-type]
                    batch = []
                    self.cache.pop(item.account_id, None)
                    break
                batch.append(item)
            if not batch:
                continue
            self._commit(batch)  # type: ignore[arg-type]

    def _commit(self, batch: list[tuple[AccountCommand, Future[Receipt]]]) -> None:
        commands = [c for c, _ in batch]
        try:
            results = self.app.execute_many(commands, self.cache)
        except Exception as error:  # noqa: BLE001 - any failure must reach every caller
            # The cache may hold half-applied accounts: start again from the store.
            self.cache.clear()
            for _, future in batch:
                future.set_exception(error)
            return
        self.batches += 1
        self.commands += len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            if isinstance(result, DomainError):
                future.set_exception(result)
            else:
                future.set_result(result)
