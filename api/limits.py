"""Rate limits: a token bucket per caller, and a stricter one for unknown redemption codes.

Each bucket holds up to a minute's allowance and refills continuously; a request takes one
token or is refused with the seconds to wait. Buckets live in the worker's memory: with N
workers a caller may reach N times the rate, which bounds abuse without a shared store on
the hot path (a deployment that needs one global limit puts it in its reverse proxy).
Idle buckets are forgotten, oldest first, so memory stays bounded whatever the callers.
Time is the monotonic clock, passed in, so tests drive it.
"""

from __future__ import annotations

import math
from collections import OrderedDict

from ledger.errors import RateLimited

MAX_BUCKETS = 100_000


class RateLimiter:
    def __init__(self, per_minute: int, max_buckets: int = MAX_BUCKETS) -> None:
        assert per_minute >= 1
        self.capacity = float(per_minute)
        self.per_second = per_minute / 60.0
        self.max_buckets = max_buckets
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at

    def take(self, who: str, now: float) -> None:
        """Spend one token of `who`'s bucket, or refuse with RateLimited."""
        tokens, at = self._buckets.pop(who, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.per_second)
        if tokens < 1.0:
            self._buckets[who] = (tokens, now)
            wait = math.ceil((1.0 - tokens) / self.per_second)
            raise RateLimited(f"too many requests: retry in {wait} s", retry_after_s=max(1, wait))
        self._buckets[who] = (tokens - 1.0, now)
        while len(self._buckets) > self.max_buckets:
            self._buckets.popitem(last=False)

    def check(self, who: str, now: float) -> None:
        """Refuse if `who` has no token left, without spending one."""
        tokens, at = self._buckets.get(who, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.per_second)
        if tokens < 1.0:
            wait = math.ceil((1.0 - tokens) / self.per_second)
            raise RateLimited(
                f"too many unknown redemption codes: retry in {wait} s", retry_after_s=max(1, wait)
            )
