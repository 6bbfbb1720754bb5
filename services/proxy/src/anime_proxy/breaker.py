"""A circuit breaker per upstream: fail fast while it is down, probe again after a cool-down."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from enum import Enum

from anime_common import BadGatewayError
from anime_proxy.metrics import BREAKERS

logger = logging.getLogger("anime_proxy.breaker")


class BreakerState(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after `threshold` consecutive failures; after `reset_after` one probe goes through.

    While open every call is refused at once (the caller answers 502, as API.md
    says for an upstream that is down, with `Retry-After`), so a dead upstream
    costs us nothing and is not hammered.
    Half-open lets exactly one request probe; its outcome closes or re-opens.
    """

    def __init__(
        self,
        *,
        name: str,
        threshold: int,
        reset_after: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._threshold = threshold
        self._reset_after = reset_after
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        BREAKERS.track(self)

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self._reset_after:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def retry_after(self) -> int:
        """Whole seconds until a probe is allowed (at least 1)."""
        if self._opened_at is None:
            return 1
        remaining = self._reset_after - (self._clock() - self._opened_at)
        return max(1, math.ceil(remaining))

    def allow(self) -> bool:
        """Whether a call may go to the upstream now; in half-open, only the one probe."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def enter(self, what: str) -> None:
        """Let a call through (`allow`), or refuse it with the 502 and its `Retry-After`.

        The same status as the failures that opened the breaker: to a client the
        upstream is down either way, and API.md answers that with 502.
        """
        if not self.allow():
            raise BadGatewayError(
                f"{what} is unavailable, try again later",
                headers={"Retry-After": str(self.retry_after())},
            )

    def record_success(self) -> None:
        if self._opened_at is not None:
            logger.warning("%s upstream answers again: breaker closed", self.name)
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def record_failure(self) -> None:
        self._failures += 1
        if self._probing or self._failures >= self._threshold:
            # A failed probe re-opens for a whole new cool-down.
            if self._opened_at is None or self._probing:
                logger.warning(
                    "%s upstream failing (%d in a row): open for %.0fs",
                    self.name,
                    self._failures,
                    self._reset_after,
                )
            self._opened_at = self._clock()
        self._probing = False

    def release(self) -> None:
        """A call that ended without an outcome (cancelled): let the next one probe."""
        self._probing = False
