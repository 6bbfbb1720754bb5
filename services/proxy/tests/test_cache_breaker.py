"""The cache's bounds and windows, the breaker's states, and small boundary helpers."""

from __future__ import annotations

from anime_proxy.breaker import BreakerState, CircuitBreaker
from anime_proxy.cache import ResponseCache
from anime_proxy.upstream import is_success_envelope, parse_retry_after


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_cache(clock: Clock, **overrides: float) -> ResponseCache:
    values = {"max_entries": 3, "max_bytes": 10_000, "stale_if_error": 10.0} | overrides
    return ResponseCache(
        max_entries=int(values["max_entries"]),
        max_bytes=int(values["max_bytes"]),
        stale_if_error=values["stale_if_error"],
        clock=clock,
    )


def test_entries_are_fresh_then_stale_then_gone() -> None:
    clock = Clock()
    cache = make_cache(clock)
    cache.put("k", b"body", ttl=5)
    assert cache.get_fresh("k") is not None
    clock.now += 6
    assert cache.get_fresh("k") is None
    stale = cache.get_stale("k")
    assert stale is not None
    assert stale.age(clock.now) == 6
    clock.now += 10
    assert cache.get_stale("k") is None
    assert len(cache) == 0
    assert cache.size_bytes == 0


def test_the_least_recently_used_entry_goes_first() -> None:
    clock = Clock()
    cache = make_cache(clock)
    for key in ("a", "b", "c"):
        cache.put(key, b"x", ttl=60)
    assert cache.get_fresh("a") is not None
    cache.put("d", b"x", ttl=60)
    assert [key for key in "abcd" if cache.get_stale(key) is not None] == ["a", "c", "d"]


def test_bytes_are_bounded_too() -> None:
    clock = Clock()
    cache = make_cache(clock, max_entries=100, max_bytes=3000)
    cache.put("big", b"x" * 5000, ttl=60)
    assert cache.get_stale("big") is None
    for index in range(5):
        cache.put(index, b"x" * 900, ttl=60)
    assert cache.size_bytes <= 3000
    assert len(cache) == 2
    cache.put(4, b"y", ttl=60)
    assert cache.get_fresh(4) is not None
    assert cache.get_fresh(4).body == b"y"  # type: ignore[union-attr]
    cache.put("zero", b"x", ttl=0)
    assert cache.get_stale("zero") is None
    cache.clear()
    assert (len(cache), cache.size_bytes) == (0, 0)


def test_breaker_states() -> None:
    clock = Clock()
    breaker = CircuitBreaker(name="t", threshold=2, reset_after=10, clock=clock)
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    assert breaker.retry_after() == 10
    clock.now += 10
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()  # one probe at a time
    breaker.release()  # the probe was cancelled: another may try
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.retry_after() == 1


def test_retry_after_forms() -> None:
    assert parse_retry_after("7") == 7
    assert parse_retry_after("0") == 1
    assert parse_retry_after(None) == 60
    assert parse_retry_after("soon") == 60
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10


def test_both_success_envelopes() -> None:
    assert is_success_envelope({"status": 200, "data": {}})
    assert is_success_envelope({"success": True, "data": {}})
    assert not is_success_envelope({"success": False, "data": {}})
    assert not is_success_envelope({"status": 200, "data": None})
    assert not is_success_envelope(["data"])
