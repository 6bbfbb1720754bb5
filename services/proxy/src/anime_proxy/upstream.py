"""The aniwatch-api upstream: URLs built from the configured base only, retries, the breaker,
its 429s honoured, and every failure translated into our error family at this boundary."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from anime_common import (
    AppError,
    BadGatewayError,
    BadRequestError,
    GatewayTimeoutError,
    NotFoundError,
    RateLimitedError,
    ServiceUnavailableError,
)
from anime_proxy.breaker import CircuitBreaker

logger = logging.getLogger("anime_proxy.upstream")

API_PREFIX = "/api/v2/hianime"
_RETRYABLE_STATUSES = frozenset({502, 503, 504})
# Upstream messages are shown to clients only when they look like aniwatch-api's own
# "scraperName: reason" phrases: short, one line, no markup.
_SAFE_MESSAGE = re.compile(r"^[\w .,:;'()!?-]{1,160}$")
_DEFAULT_RETRY_AFTER = 60


class UpstreamFailure(BadGatewayError):
    """The upstream failed (5xx, refused, garbage body, or a status we cannot pass on)."""

    def __init__(self, message: str, *, upstream_status: int | None = None) -> None:
        super().__init__(message, details=None)
        self.upstream_status = upstream_status


class UpstreamClientError(AppError):
    """An upstream 4xx passed on with its status (400, 404, 410, ...)."""

    def __init__(self, status: int, message: str | None) -> None:
        super().__init__(message)
        self.status_code = status  # type: ignore[misc]
        self.upstream_status = status


@dataclass(frozen=True, slots=True)
class UpstreamBody:
    """A successful answer: the bytes to pass on unchanged, and the parsed document."""

    raw: bytes
    document: dict[str, Any]

    @property
    def data(self) -> Any:
        return self.document.get("data")


def parse_retry_after(value: str | None, *, now: float | None = None) -> int:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date), at least 1."""
    if not value:
        return _DEFAULT_RETRY_AFTER
    value = value.strip()
    if value.isdigit():
        return max(1, int(value))
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return _DEFAULT_RETRY_AFTER
    return max(1, int(when - (time.time() if now is None else now)))


def safe_message(document: Any, fallback: str) -> str:
    message = document.get("message") if isinstance(document, dict) else None
    if isinstance(message, str) and _SAFE_MESSAGE.fullmatch(message):
        return message
    return fallback


def transport_error(exc: httpx.HTTPError, *, what: str) -> AppError:
    """Translate an httpx failure: a timeout is 504, anything else on the wire 502."""
    if isinstance(exc, httpx.TimeoutException):
        return GatewayTimeoutError(f"{what} did not answer in time")
    return BadGatewayError(f"{what} cannot be reached")


def is_success_envelope(document: Any) -> bool:
    """`{"status": 200, "data": {...}}`, or the `{"success": true, "data"}` of v2.0-2.14."""
    if not isinstance(document, dict) or not isinstance(document.get("data"), dict):
        return False
    return document.get("status") == 200 or document.get("success") is True


UPSTREAM_NOT_CONFIGURED = (
    "The HiAnime routes are off: HIANIME_API_URL is not set; point it at an aniwatch-api server"
)


class HianimeUpstream:
    """GETs on aniwatch-api's `/api/v2/hianime/...`; only ever the configured base URL."""

    name = "The anime source"

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        base_url: str | None,
        timeout: httpx.Timeout,
        breaker: CircuitBreaker,
        retries: int,
        backoff: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/") if base_url else None
        self._timeout = timeout
        self.breaker = breaker
        self._retries = retries
        self._backoff = backoff
        self._sleep = sleep
        self._clock = clock
        self._blocked_until = 0.0
        self.requests_sent = 0

    @property
    def base_url(self) -> str | None:
        return self._base_url

    def url(self, segments: Sequence[str]) -> str:
        """Base + API prefix + each segment percent-encoded whole: no `/`, `?`, `..` escapes."""
        for segment in segments:
            if not segment or segment in {".", ".."}:
                raise ValueError(f"invalid path segment {segment!r}")
        path = "/".join(quote(segment, safe="") for segment in segments)
        return f"{self._base_url}{API_PREFIX}/{path}"

    async def get(
        self, segments: Sequence[str], params: Mapping[str, str] | None = None
    ) -> UpstreamBody:
        if self._base_url is None:
            # Not an outage: nothing to retry and no breaker to trip.
            raise ServiceUnavailableError(UPSTREAM_NOT_CONFIGURED)
        blocked_for = self._blocked_until - self._clock()
        if blocked_for > 0:
            raise RateLimitedError(
                f"{self.name} is rate limiting us, try again later",
                retry_after=max(1, int(blocked_for + 0.999)),
            )
        self.breaker.enter(self.name)
        outcome: bool | None = None
        try:
            response = await self._send(self.url(segments), params or {})
            outcome, result = self._interpret(response)
        except (UpstreamFailure, GatewayTimeoutError):
            outcome = False
            raise
        finally:
            if outcome is True:
                self.breaker.record_success()
            elif outcome is False:
                self.breaker.record_failure()
            else:
                self.breaker.release()
        if isinstance(result, AppError):
            raise result
        return result

    async def _send(self, url: str, params: Mapping[str, str]) -> httpx.Response:
        attempt = 0
        while True:
            try:
                self.requests_sent += 1
                response = await self._http.get(url, params=params, timeout=self._timeout)
            except httpx.TimeoutException as exc:
                # Not retried: a slow upstream would only make the caller wait several times.
                raise GatewayTimeoutError(f"{self.name} did not answer in time") from exc
            except httpx.TransportError as exc:
                if attempt >= self._retries:
                    raise UpstreamFailure(f"{self.name} cannot be reached") from exc
                logger.info("upstream unreachable (%s), retrying", type(exc).__name__)
            except httpx.RequestError as exc:
                raise UpstreamFailure(f"{self.name} sent an unreadable answer") from exc
            else:
                if response.status_code not in _RETRYABLE_STATUSES or attempt >= self._retries:
                    return response
                logger.info("upstream answered %s, retrying", response.status_code)
            attempt += 1
            # Full jitter: retries of many waiting callers do not arrive in lockstep.
            await self._sleep(random.uniform(0.5, 1.5) * self._backoff * 2 ** (attempt - 1))  # noqa: S311

    def _interpret(self, response: httpx.Response) -> tuple[bool | None, UpstreamBody | AppError]:
        """(breaker outcome, body or error) of an answer; the error is raised by the caller."""
        status = response.status_code
        if status >= 500 or status in {401, 403}:
            logger.warning("upstream %s answered %s", response.request.url.path, status)
        try:
            document: Any = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            document = None
        if status == 200:
            if is_success_envelope(document):
                return True, UpstreamBody(raw=response.content, document=document)
            # An HTML page (the site changed) or some other body: the upstream is broken.
            logger.warning("upstream %s sent no JSON envelope", response.request.url.path)
            return False, UpstreamFailure(
                f"{self.name} sent an invalid answer", upstream_status=200
            )
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            self._blocked_until = self._clock() + retry_after
            return True, RateLimitedError(
                f"{self.name} is rate limiting us, try again later", retry_after=retry_after
            )
        if status >= 500 or status < 400:
            return False, UpstreamFailure(
                f"{self.name} failed ({status})" if status >= 500 else f"{self.name} misbehaved",
                upstream_status=status,
            )
        if status in {401, 403}:
            # Never our own 403: the frontend logs the user out on any 403. Extraction often
            # answers 403 for one server while another works, so it is no breaker failure.
            return True, UpstreamFailure(f"{self.name} refused the request", upstream_status=status)
        if status == 404:
            return True, NotFoundError(safe_message(document, "Not found at the anime source"))
        if status == 400:
            return True, BadRequestError(
                safe_message(document, "The anime source rejected the request")
            )
        return True, UpstreamClientError(status, safe_message(document, f"Upstream error {status}"))
