"""What the catalog's routes share for the life of the process (built in the lifespan)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from anime_catalog.proxy_client import AnimeImporter
from anime_common import Database, ReadPool, service_state


class ListingCache:
    """What the catalog derives from whole tables, for a few seconds.

    Totals of `GET /anime` per filter set (a COUNT costs more than the page
    itself), seek anchors (the sort key of every `anchor_step`-th row, so
    `offset=40000` starts from a known key instead of walking 40,000 index
    entries), and the pages of popular searches. The catalog changes
    rarely (imports): writes through this process clear it at once; writes
    by another process (the seed command) show within `ttl`.
    """

    def __init__(self, *, ttl: float = 10.0, max_entries: int = 4096) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, Any]] = {}

    def get(self, key: Hashable) -> Any:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: Hashable, value: Any) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl, value)

    def clear(self) -> None:
        self._entries.clear()


class KeyedLocks:
    """One asyncio lock per key, dropped once nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


@dataclass
class CatalogState:
    """What the catalog keeps for its lifetime (built in the app's lifespan)."""

    database: Database
    reader: ReadPool
    importer: AnimeImporter | None
    listing: ListingCache = field(default_factory=ListingCache)
    # Offsets below this walk the index; deeper ones seek from an anchor.
    anchor_step: int = 1000
    import_locks: KeyedLocks = field(default_factory=KeyedLocks)


def get_state(request: Request) -> CatalogState:
    return service_state(request, CatalogState)
