"""Opening an upstream stream safely: allowed origins on every hop, redirects by hand.

Each hop (the first request and every redirect, at most `max_redirects`) is checked
before anything is sent: http(s) only, no credentials, never an `/internal` path, and
an origin that was learned from a sources answer (or the one already trusted for this
request, so a CDN may redirect within itself). The address is checked when the
connection is made, by the client's network backend (`network.GuardedBackend`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import SplitResult, unquote, urljoin, urlsplit

import httpx

from anime_common import AppError, BadGatewayError, NotFoundError, RateLimitedError
from anime_proxy.stream.addresses import RefusedAddress
from anime_proxy.stream.origins import LearnedOrigins, Origin, origin_of
from anime_proxy.upstream import parse_retry_after, transport_error

logger = logging.getLogger("anime_proxy.stream")

# What a desktop browser sends: some CDNs refuse clients that do not look like one.
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
WHAT = "The stream's source"


class RangeNotSatisfiableError(AppError):
    """The upstream has no such byte range (416, its `Content-Range` passed on)."""

    status_code = 416


@dataclass(frozen=True, slots=True)
class Target:
    """What to fetch: a URL already admitted by the allowlist or a signature."""

    url: str
    referer: str | None
    origin: Origin


@dataclass(frozen=True, slots=True)
class Opened:
    response: httpx.Response
    url: str


def _is_internal_path(parts: SplitResult) -> bool:
    path = unquote(parts.path).lower()
    return path == "/internal" or path.startswith("/internal/")


def referer_headers(referer: str | None) -> dict[str, str]:
    if not referer:
        return {}
    parts = urlsplit(referer)
    return {"Referer": referer, "Origin": f"{parts.scheme}://{parts.netloc}"}


class StreamFetcher:
    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        origins: LearnedOrigins,
        max_redirects: int,
    ) -> None:
        self._http = http
        self._origins = origins
        self._max_redirects = max_redirects

    async def open(
        self, target: Target, *, method: str = "GET", range_header: str | None = None
    ) -> Opened:
        """The upstream answer (200 or 206) with its body still unread; close it after use."""
        headers = {
            "User-Agent": USER_AGENT,
            "Accept": "*/*",
            # Bytes as stored: Content-Length and Content-Range stay true end to end.
            "Accept-Encoding": "identity",
            **referer_headers(target.referer),
        }
        if range_header:
            headers["Range"] = range_header
        url, trusted = target.url, target.origin
        for _ in range(self._max_redirects + 1):
            response = await self._send(method, url, headers, trusted=trusted)
            location = response.headers.get("location")
            if response.status_code not in _REDIRECTS or not location:
                break
            await response.aclose()
            parts = urlsplit(url)
            trusted = origin_of(parts) or trusted
            url = urljoin(url, location)
        else:
            raise BadGatewayError(f"{WHAT} redirected too many times")
        try:
            self._check_status(response)
        except BaseException:
            await response.aclose()
            raise
        return Opened(response=response, url=url)

    async def _send(
        self, method: str, url: str, headers: dict[str, str], *, trusted: Origin
    ) -> httpx.Response:
        parts = urlsplit(url)
        origin = origin_of(parts)
        if origin is None or parts.username is not None or parts.password is not None:
            raise RefusedAddress("The stream's source is not a plain http(s) URL")
        if _is_internal_path(parts) or (origin != trusted and self._origins.lookup(origin) is None):
            raise NotFoundError("Not a stream this service knows")
        # The client's network backend checks the address it connects to (GuardedBackend).
        request = self._http.build_request(method, url, headers=headers)
        try:
            return await self._http.send(request, stream=True, follow_redirects=False)
        except httpx.HTTPError as exc:
            logger.info("stream upstream %s failed: %s", origin[1], type(exc).__name__)
            raise transport_error(exc, what=WHAT) from exc

    @staticmethod
    def _check_status(response: httpx.Response) -> None:
        status = response.status_code
        if status in {200, 206}:
            return
        if status in {404, 410}:
            raise NotFoundError(f"{WHAT} has no such file")
        if status == 416:
            content_range = response.headers.get("content-range")
            raise RangeNotSatisfiableError(
                "The requested range is not satisfiable",
                headers={"Content-Range": content_range} if content_range else None,
            )
        if status == 429:
            raise RateLimitedError(
                f"{WHAT} is rate limiting us, try again later",
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
        # 401/403 included: never our own 403, on which the frontend logs the user out.
        logger.warning("stream upstream %s answered %s", response.url.host, status)
        raise BadGatewayError(f"{WHAT} answered {status}")
