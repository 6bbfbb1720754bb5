"""Single flight: concurrent loads of one key make one call, and everyone shares its outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """Runs one `work` per key at a time; everyone asking meanwhile shares its outcome.

    Without it, a cold cache under load sends the peer one identical request per
    waiting client. The work runs in its own task, shielded from the callers: a
    client that goes away does not cancel the load the others are waiting for.
    """

    def __init__(self) -> None:
        self._calls: dict[Hashable, asyncio.Task[T]] = {}

    def __len__(self) -> int:
        return len(self._calls)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._calls

    def start(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> asyncio.Task[T]:
        """The load of `key` already running, else a new one; nobody has to wait for it."""
        task = self._calls.get(key)
        if task is None:
            task = asyncio.ensure_future(work())
            self._calls[key] = task
            task.add_done_callback(lambda done: self._finish(key, done))
        return task

    async def run(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> T:
        return await asyncio.shield(self.start(key, work))

    async def aclose(self) -> None:
        """Cancel the loads still running (background reloads), e.g. before the client closes."""
        pending = list(self._calls.values())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def _finish(self, key: Hashable, task: asyncio.Task[T]) -> None:
        if self._calls.get(key) is task:
            del self._calls[key]
        if not task.cancelled():
            # Retrieve it so that a failure nobody waited for is not reported as lost.
            task.exception()
