"""Batched lookups: the `get`s of one event-loop turn answered by one `load` (one round trip)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Batcher(Generic[K, V]):
    """Gathers `get(key)` calls until the end of the event loop's turn, then loads them at once.

    What group commit does for writes, for a hot read: under load, one statement
    answers the requests that arrived together instead of one round trip (and
    one pool checkout) each. `load` gets distinct keys and maps each key it
    found to its value; a key it leaves out is answered None. A failed load
    fails every `get` of its batch with its error. The load runs in a task of
    its own: a caller that goes away does not cancel it for the others.
    """

    def __init__(
        self, load: Callable[[list[K]], Awaitable[Mapping[K, V]]], *, max_size: int = 500
    ) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self._load = load
        self._max_size = max_size
        self._pending: dict[K, list[asyncio.Future[V | None]]] = {}
        self._handle: asyncio.Handle | None = None
        self._loads: set[asyncio.Task[None]] = set()

    async def get(self, key: K) -> V | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[V | None] = loop.create_future()
        self._pending.setdefault(key, []).append(future)
        if len(self._pending) >= self._max_size:
            self._flush()
        elif self._handle is None:
            self._handle = loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        task = asyncio.create_task(self._run(batch))
        self._loads.add(task)
        task.add_done_callback(self._loads.discard)

    async def _run(self, batch: dict[K, list[asyncio.Future[V | None]]]) -> None:
        try:
            found = await self._load(list(batch))
        except Exception as exc:  # noqa: BLE001 - handed to every caller of the batch
            for waiters in batch.values():
                for waiter in waiters:
                    if not waiter.done():  # its request went away
                        waiter.set_exception(exc)
            return
        for key, waiters in batch.items():
            value = found.get(key)
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(value)
