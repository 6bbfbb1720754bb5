"""The response cache: bounded by entries and bytes, TTL per entry, stale-if-error."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

# Rough per-entry overhead (key tuple, entry object, dict slot): counts towards the byte bound
# so that a flood of tiny bodies cannot grow the cache past it either.
_ENTRY_OVERHEAD = 256


@dataclass(frozen=True, slots=True)
class CacheEntry:
    body: bytes
    stored_at: float
    expires_at: float

    def age(self, now: float) -> int:
        return max(0, int(now - self.stored_at))


class ResponseCache:
    """An LRU of response bodies; an entry is fresh until its TTL, then usable only as stale.

    Stale entries are kept `stale_if_error` seconds past their TTL, to answer
    when the upstream fails; after that they are gone.
    """

    def __init__(
        self,
        *,
        max_entries: int,
        max_bytes: int,
        stale_if_error: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries: OrderedDict[Hashable, CacheEntry] = OrderedDict()
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._stale_if_error = stale_if_error
        self._clock = clock
        self.size_bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def now(self) -> float:
        return self._clock()

    def get_fresh(self, key: Hashable) -> CacheEntry | None:
        entry = self._lookup(key)
        if entry is None or entry.expires_at <= self._clock():
            return None
        self._entries.move_to_end(key)
        return entry

    def get_stale(self, key: Hashable) -> CacheEntry | None:
        """An entry past its TTL but within the stale-if-error window (or still fresh)."""
        return self._lookup(key)

    def put(self, key: Hashable, body: bytes, *, ttl: float) -> None:
        if ttl <= 0:
            return
        cost = len(body) + _ENTRY_OVERHEAD
        if cost > self._max_bytes:
            return
        self._remove(key)
        now = self._clock()
        self._entries[key] = CacheEntry(body=body, stored_at=now, expires_at=now + ttl)
        self.size_bytes += cost
        while len(self._entries) > self._max_entries or self.size_bytes > self._max_bytes:
            oldest = next(iter(self._entries))
            self._remove(oldest)

    def clear(self) -> None:
        self._entries.clear()
        self.size_bytes = 0

    def _lookup(self, key: Hashable) -> CacheEntry | None:
        entry = self._entries.get(key)
        if entry is not None and entry.expires_at + self._stale_if_error <= self._clock():
            self._remove(key)
            return None
        return entry

    def _remove(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.size_bytes -= len(entry.body) + _ENTRY_OVERHEAD
