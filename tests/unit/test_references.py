"""Fresh-enough reads: kept for at most their age, forgotten on demand, failures not kept."""

from __future__ import annotations

import pytest

from ledger.errors import VendorNotFound
from ledger.references import FreshEnough


class Clock:
    def __init__(self) -> None:
        self.now = 100_000_000_000  # nanoseconds

    def __call__(self) -> int:
        return self.now


def test_a_read_is_kept_for_its_age_then_read_again():
    clock, loads = Clock(), []
    cache = FreshEnough(max_age_ms=1000, clock_ns=clock)

    def load() -> str:
        loads.append(clock.now)
        return f"v{len(loads)}"

    assert cache.get("k", load) == "v1"
    clock.now += 900_000_000
    assert cache.get("k", load) == "v1"
    clock.now += 200_000_000
    assert cache.get("k", load) == "v2"
    cache.forget("k")
    assert cache.get("k", load) == "v3"
    cache.clear()
    assert cache.get("k", load) == "v4" and len(loads) == 4


def test_a_failed_read_is_not_kept_and_entries_stay_bounded():
    cache = FreshEnough(max_age_ms=60_000, clock_ns=Clock(), max_entries=2)

    def missing() -> str:
        raise VendorNotFound("no vendor")

    with pytest.raises(VendorNotFound):
        cache.get("gone", missing)
    assert cache.get("gone", lambda: "found") == "found"
    cache.get("a", lambda: "a")
    cache.get("b", lambda: "b")  # "gone", the oldest, is dropped
    assert cache.get("gone", lambda: "again") == "again"


def test_zero_age_reads_every_time():
    cache, loads = FreshEnough(max_age_ms=0, clock_ns=Clock()), []
    for _ in range(3):
        cache.get("k", lambda: loads.append(1))
    assert len(loads) == 3
