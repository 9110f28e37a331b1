"""Fresh-enough reads of what changes rarely, for the redemption hot path.

Every hold reads three aggregates besides the teacher's account: the campaign (its
eligibility rule), the vendor (approved or not) and the resource (listed, its price and
labels). They change a few times a year; holds come by the thousand per second. Reading
each from the store on every hold (a query to fast-forward the cached aggregate, and a deep
copy) cost more than the rest of the hold together.

`FreshEnough` keeps the last read of each, for at most `max_age_ms` milliseconds, as read-only
values: nothing may change what it returns. So a change made elsewhere (another process
suspends the vendor, withdraws the resource) reaches new holds within `max_age_ms`; the
process that makes a change calls `forget` (or `clear`) and sees it at once. A read that
fails (an unknown id) is not kept.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")
MAX_ENTRIES = 10_000


class NotCached(Exception):
    """What `FreshEnough.get` raises when told not to load and nothing fresh is kept."""


class FreshEnough:
    def __init__(
        self,
        max_age_ms: int,
        clock_ns: Callable[[], int] = time.monotonic_ns,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        assert max_age_ms >= 0 and max_entries > 0
        self.max_age_ns = max_age_ms * 1_000_000
        self._clock_ns = clock_ns
        self._max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], T], may_load: bool = True) -> T:
        """The value kept for `key` if read less than `max_age_ms` ago, else `load()` (or
        NotCached when `may_load` is false: a caller on an event loop, which must not wait
        for the store, tries the cache first)."""
        now = self._clock_ns()
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and now - entry[1] < self.max_age_ns:
            return entry[0]
        if not may_load:
            raise NotCached(key)
        value = load()
        with self._lock:
            self._entries[key] = (value, now)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return value

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
