"""Caps on streams in flight: per client address and for the whole process.

A slot is taken before anything is fetched and given back when the answer has
been sent in full, failed, or the client went away. Past a cap the request is
refused at once (429 per client, 503 in total) with `Retry-After`, so a flood
of players cannot starve the others or the process.
"""

from __future__ import annotations

from collections import Counter

from anime_common import RateLimitedError, ServiceUnavailableError
from anime_proxy.metrics import STREAMS_ACTIVE

RETRY_AFTER = 2


class StreamSlot:
    """One stream's claim on the limits; `release` is idempotent."""

    def __init__(self, limits: StreamLimits, client: str) -> None:
        self._limits = limits
        self._client = client
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._limits._release(self._client)


class StreamLimits:
    def __init__(self, *, per_client: int, total: int) -> None:
        self._per_client = per_client
        self._total = total
        self._by_client: Counter[str] = Counter()
        self.active = 0

    def acquire(self, client: str) -> StreamSlot:
        if self.active >= self._total:
            raise ServiceUnavailableError(
                "Too many streams in progress, try again shortly",
                headers={"Retry-After": str(RETRY_AFTER)},
            )
        if self._by_client[client] >= self._per_client:
            raise RateLimitedError(
                "Too many streams at once from this address", retry_after=RETRY_AFTER
            )
        self._by_client[client] += 1
        self.active += 1
        STREAMS_ACTIVE.inc()
        return StreamSlot(self, client)

    def _release(self, client: str) -> None:
        self.active -= 1
        STREAMS_ACTIVE.dec()
        self._by_client[client] -= 1
        if self._by_client[client] <= 0:
            del self._by_client[client]
