"""AniList's GraphQL API: a user's anime lists, its rate limit respected.

AniList answers errors with HTTP 200 too (`errors` beside `data`), counts every
request against a small per-minute budget (`X-RateLimit-Remaining`), and answers
429 with `Retry-After` once it is spent: we wait short waits out and turn long
ones into our own 429, never hammering it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson

from anime_common import (
    BadGatewayError,
    GatewayTimeoutError,
    NotFoundError,
    RateLimitedError,
    ValidationError,
    validate,
)
from anime_proxy.breaker import CircuitBreaker
from anime_proxy.schemas import AniListList, AniListMedia
from anime_proxy.upstream import parse_retry_after, transport_error

_WHAT = "AniList"
_MEDIA_FIELDS = """
          id idMal format episodes seasonYear genres synonyms
          title { romaji english native }
          description(asHtml: false)
          startDate { year }
          coverImage { extraLarge large medium }
"""
LIST_QUERY = (
    """
query ($userName: String) {
  MediaListCollection(userName: $userName, type: ANIME) {
    lists { name status entries { status progress media { """
    + _MEDIA_FIELDS
    + """ } } }
  }
}
"""
)
MEDIA_QUERY = (
    """
query ($ids: [Int]) {
  Page(page: 1, perPage: 50) { media(id_in: $ids, type: ANIME) { """
    + _MEDIA_FIELDS
    + """ } }
}
"""
)
# AniList's page size cap: one request per 50 ids.
_PAGE_SIZE = 50


class AniListClient:
    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        url: str,
        timeout: httpx.Timeout,
        breaker: CircuitBreaker,
        max_wait: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._url = url
        self._timeout = timeout
        self.breaker = breaker
        self._max_wait = max_wait
        self._sleep = sleep
        self._clock = clock
        self._blocked_until = 0.0

    async def user_lists(self, username: str) -> list[AniListList]:
        data = await self.query(LIST_QUERY, {"userName": username})
        collection = data.get("MediaListCollection")
        if not isinstance(collection, dict) or not isinstance(collection.get("lists"), list):
            raise BadGatewayError(f"{_WHAT} sent an invalid answer")
        try:
            return [validate(AniListList, item) for item in collection["lists"]]
        except ValidationError as exc:
            raise BadGatewayError(f"{_WHAT} sent an invalid answer") from exc

    async def media_by_ids(self, ids: list[int]) -> dict[int, AniListMedia]:
        """AniList's details of these anime, 50 per request; unknown ids are left out."""
        found: dict[int, AniListMedia] = {}
        for start in range(0, len(ids), _PAGE_SIZE):
            data = await self.query(MEDIA_QUERY, {"ids": ids[start : start + _PAGE_SIZE]})
            page = data.get("Page")
            items = page.get("media") if isinstance(page, dict) else None
            for item in items if isinstance(items, list) else []:
                try:
                    media = validate(AniListMedia, item)
                except ValidationError:
                    continue
                found[media.id] = media
        return found

    async def query(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """`data` of one GraphQL request; at most one retry, after a short `Retry-After`."""
        for attempt in range(2):
            await self._wait_for_budget()
            self.breaker.enter(_WHAT)
            response = await self._post(query, variables)
            self._note_budget(response)
            if response.status_code == 429 and attempt == 0:
                continue
            return self._data(response)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _wait_for_budget(self) -> None:
        wait = self._blocked_until - self._clock()
        if wait <= 0:
            return
        if wait > self._max_wait:
            raise RateLimitedError(
                f"{_WHAT} is rate limiting us, try again later", retry_after=int(wait + 0.999)
            )
        await self._sleep(wait)

    def _note_budget(self, response: httpx.Response) -> None:
        if response.status_code == 429:
            wait = parse_retry_after(response.headers.get("retry-after"))
        elif response.headers.get("x-ratelimit-remaining") == "0":
            # The budget is spent: the next request would be a 429, so wait for the reset.
            reset = response.headers.get("x-ratelimit-reset", "")
            wait = max(1, int(reset) - int(time.time())) if reset.isdigit() else 60
        else:
            return
        self._blocked_until = self._clock() + wait

    async def _post(self, query: str, variables: dict[str, Any]) -> httpx.Response:
        try:
            response = await self._http.post(
                self._url,
                json={"query": query, "variables": variables},
                headers={"Accept": "application/json"},
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            self.breaker.record_failure()
            raise transport_error(exc, what=_WHAT) from exc
        if response.status_code >= 500:
            self.breaker.record_failure()
        else:
            self.breaker.record_success()
        return response

    def _data(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code == 429:
            raise RateLimitedError(
                f"{_WHAT} is rate limiting us, try again later",
                retry_after=max(1, int(self._blocked_until - self._clock() + 0.999)),
            )
        try:
            document = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise BadGatewayError(f"{_WHAT} sent an invalid answer") from None
        errors = document.get("errors") if isinstance(document, dict) else None
        if errors:
            statuses = {error.get("status") for error in errors if isinstance(error, dict)}
            if 404 in statuses:
                raise NotFoundError("AniList user not found")
            if response.status_code == 504:
                raise GatewayTimeoutError(f"{_WHAT} did not answer in time")
            # 403 is AniList switched off: never our 403 (the frontend would log out).
            raise BadGatewayError(f"{_WHAT} refused the request")
        data = document.get("data") if isinstance(document, dict) else None
        if response.status_code != 200 or not isinstance(data, dict):
            raise BadGatewayError(f"{_WHAT} sent an invalid answer")
        return data
