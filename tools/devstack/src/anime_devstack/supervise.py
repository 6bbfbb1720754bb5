"""Keeps the stack up: a crashed process is started again after a growing delay, and
the stack stops only when one keeps crashing (or PostgreSQL itself stops)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from anime_devstack.errors import ServiceError

log = logging.getLogger("anime_devstack")

RESTART_WINDOW = 60.0  # seconds over which crashes are counted
FIRST_DELAY = 1.0
MAX_DELAY = 30.0


class Supervised(Protocol):
    def crashed(self) -> list[str]: ...
    def describe_exit(self, name: str) -> str: ...
    def log_tail(self, name: str, lines: int = ...) -> str: ...
    def start_service(self, name: str) -> None: ...
    def database_problem(self) -> str | None: ...


class Supervisor:
    """`tick()` once a second; it answers a reason to stop, or None while all is well."""

    def __init__(
        self,
        stack: Supervised,
        *,
        limit: int = 5,
        window: float = RESTART_WINDOW,
        first_delay: float = FIRST_DELAY,
        max_delay: float = MAX_DELAY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stack = stack
        self._limit = max(1, limit)
        self._window = window
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._clock = clock
        self._crashes: dict[str, list[float]] = {}
        self._due: dict[str, float] = {}  # name -> when to start it again

    def tick(self) -> str | None:
        problem = self._stack.database_problem()
        if problem is not None:
            return problem
        now = self._clock()
        for name in self._stack.crashed():
            if name in self._due:
                continue
            recent = [t for t in self._crashes.get(name, []) if now - t < self._window]
            recent.append(now)
            self._crashes[name] = recent
            how = self._stack.describe_exit(name)
            if len(recent) >= self._limit:
                return (
                    f"{name} {how}: {len(recent)} crashes within {self._window:.0f}s, "
                    f"giving up. Last lines of its log:\n{self._stack.log_tail(name, 20)}"
                )
            delay = min(self._first_delay * 2 ** (len(recent) - 1), self._max_delay)
            log.warning(
                "%s %s; restarting it in %.0fs (crash %d of %d allowed within %.0fs)",
                name,
                how,
                delay,
                len(recent),
                self._limit - 1,
                self._window,
            )
            self._due[name] = now + delay
        for name, due in sorted(self._due.items(), key=lambda item: item[1]):
            if due > now:
                continue
            del self._due[name]
            try:
                self._stack.start_service(name)
            except ServiceError as exc:
                # Exited again before it was healthy: the next tick counts the crash.
                log.warning("%s did not come back: %s", name, str(exc).splitlines()[0])
            else:
                log.info("%s is back", name)
        return None
