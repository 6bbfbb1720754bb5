"""The catalog as the library sees it: anime by id in batches, HiAnime ids, episode durations.

Everything the library asks the catalog goes through `CatalogClient`, so a
change of the catalog's endpoints touches this file only. Used endpoints:

- `POST /internal/anime/batch` `{"ids": [...]}` (service token): anime by id,
  unknown ids left out; one call for a whole page of favorites;
- `GET /internal/hianime/{id}` (service token): the anime of a HiAnime id,
  imported by the catalog when it does not know it yet; 404 when nobody does;
- `GET /releases?anime_id=` and `GET /episodes?release_id=` (public): the
  durations of an anime's episodes, needed only to validate a watch position;
  loaded and cached per anime (one map of number to duration), not per episode.

Answers are cached for `ttl` seconds (titles, posters and durations change
rarely; a favorite needs the anime to exist, not to be fresh to the second).
A cached answer that would refuse a request (an episode past the cached count,
a position past the cached duration) is asked again with `fresh=True` before
the refusal: a new episode is never refused because the cache predates it.
An entry used in the last part of its life is reloaded in the background while
it is still served, once, so a busy entry never expires under its callers: without
that, every entry warmed at the same moment expired at the same moment, and
requests queued behind a burst of catalog calls (p99 in the hundreds of ms).
The reload moments are spread at random; an entry is never served past `ttl`.
Failures are `ServiceClient`'s: a catalog that cannot be reached or answers
5xx is our 503 (naming the anime source when the catalog says that is what it
could not reach), one that does not answer in time our 504; nothing is
enqueued on a guess.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from anime_common import (
    HIANIME_ID,
    NotFoundError,
    PeerUnavailableError,
    ServiceClient,
    SingleFlight,
    TokenVerifier,
)

_BATCH_LIMIT = 500  # the catalog's MAX_BATCH_IDS
_EPISODE_PAGE = 100  # the catalog's largest page
# An entry becomes due for its background reload between these shares of its life.
_REFRESH_FROM, _REFRESH_TO = 0.7, 0.9


@dataclass(frozen=True, slots=True)
class AnimeInfo:
    """What the library needs of an anime."""

    id: uuid.UUID
    title: str
    poster: str | None
    episodes_total: int | None
    hianime_id: str | None

    @classmethod
    def from_catalog(cls, row: dict[str, Any]) -> AnimeInfo:
        return cls(
            id=uuid.UUID(str(row["id"])),
            title=str(row["title"]),
            poster=row.get("poster"),
            episodes_total=row.get("episodes_total"),
            hianime_id=row.get("hianime_id"),
        )

    def summary(self) -> dict[str, Any]:
        """The `anime` object of API.md's library answers."""
        return {"id": self.id, "title": self.title, "poster": self.poster}


class TTLCache:
    """A small LRU whose entries expire `ttl` seconds after they were stored.

    Each entry also has a moment, at random between 70% and 90% of its life,
    after which `claim_refresh` hands it out for reloading, once.
    """

    def __init__(self, *, ttl: float, max_entries: int) -> None:
        self._ttl = ttl
        self._max_entries = max_entries
        # key -> [expires, due for a reload from, value] (monotonic seconds)
        self._entries: OrderedDict[Hashable, list[Any]] = OrderedDict()

    def get(self, key: Hashable) -> tuple[bool, Any]:
        """`(True, value)` for a fresh entry, `(False, None)` otherwise."""
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        if entry[0] < time.monotonic():
            del self._entries[key]
            return False, None
        self._entries.move_to_end(key)
        return True, entry[2]

    def claim_refresh(self, key: Hashable) -> bool:
        """True once per stored entry, when it is past its reload moment (and not expired)."""
        entry = self._entries.get(key)
        if entry is None or entry[1] > time.monotonic():
            return False
        entry[1] = math.inf  # claimed: a failed reload leaves the entry to expire
        return True

    def put(self, key: Hashable, value: Any) -> None:
        if self._ttl <= 0:
            return
        now = time.monotonic()
        share = random.uniform(_REFRESH_FROM, _REFRESH_TO)  # noqa: S311 - spreading, not secrets
        self._entries[key] = [now + self._ttl, now + self._ttl * share, value]
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


class CatalogClient:
    """Calls to the catalog over the service's one shared httpx client."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        base_url: str,
        verifier: TokenVerifier,
        ttl: float = 30.0,
        max_entries: int = 10_000,
    ) -> None:
        self._catalog = ServiceClient(
            http=http, base_url=base_url, service="catalog", caller="library", verifier=verifier
        )
        self.cache = TTLCache(ttl=ttl, max_entries=max_entries)
        self._flights: SingleFlight[Any] = SingleFlight()

    # --- anime -----------------------------------------------------------------------

    async def resolve(self, reference: str, *, fresh: bool = False) -> AnimeInfo:
        """The anime of a catalog UUID or a HiAnime id; 404 when the catalog knows neither.

        `fresh`: ask the catalog even when the answer is cached.
        """
        try:
            anime_id = uuid.UUID(reference)
        except ValueError:
            anime_id = None
        if anime_id is not None:
            found: AnimeInfo | None = await self._once(
                ("anime", anime_id), lambda: self._one(anime_id), fresh=fresh
            )
        elif HIANIME_ID.fullmatch(reference):
            found = await self._once(
                ("hianime", reference), lambda: self._hianime(reference), fresh=fresh
            )
        else:
            found = None
        if found is None:
            raise NotFoundError(f"Anime not found: {reference[:200]}")
        return found

    async def _one(self, anime_id: uuid.UUID) -> AnimeInfo | None:
        # Past the cache: this is a miss, or the reload of an entry still cached.
        return (await self._fetch([anime_id])).get(anime_id)

    async def _hianime(self, reference: str) -> AnimeInfo | None:
        response = await self._call("GET", f"/internal/hianime/{quote(reference, safe='')}")
        if response.status_code == 404:
            return None  # not cached: the catalog may learn it any moment
        info = AnimeInfo.from_catalog(response.json())
        self.cache.put(("hianime", reference), info)
        self.cache.put(("anime", info.id), info)
        return info

    async def lookup(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, AnimeInfo]:
        """Known anime among `ids`: cached ones, the rest in one batch call per 500."""
        found: dict[uuid.UUID, AnimeInfo] = {}
        missing: list[uuid.UUID] = []
        for anime_id in dict.fromkeys(ids):
            fresh, cached = self.cache.get(("anime", anime_id))
            if fresh:
                found[anime_id] = cached
            else:
                missing.append(anime_id)
        found.update(await self._fetch(missing))
        return found

    async def _fetch(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, AnimeInfo]:
        """Anime from the catalog, one batch call per 500; each is cached."""
        found: dict[uuid.UUID, AnimeInfo] = {}
        for start in range(0, len(ids), _BATCH_LIMIT):
            chunk = ids[start : start + _BATCH_LIMIT]
            # A lookup, safe to send twice.
            response = await self._call(
                "POST",
                "/internal/anime/batch",
                json={"ids": [str(item) for item in chunk]},
                idempotent=True,
            )
            for row in response.json():
                info = AnimeInfo.from_catalog(row)
                self.cache.put(("anime", info.id), info)
                found[info.id] = info
        return found

    # --- episodes --------------------------------------------------------------------

    async def episode_duration(
        self, *, anime_id: uuid.UUID, episode: int, fresh: bool = False
    ) -> int | None:
        """Seconds of episode `episode` of an anime, None when the catalog does not say.

        Episode numbers count through the anime; the first release (by season)
        holding that number decides. `fresh`: ask the catalog even when cached.
        """
        durations: dict[int, int | None] = await self._once(
            ("episodes", anime_id), lambda: self._durations(anime_id), fresh=fresh
        )
        return durations.get(episode)

    async def _durations(self, anime_id: uuid.UUID) -> dict[int, int | None]:
        """Every episode's duration: its releases by season, each read page by page."""
        releases = await self._call(
            "GET", "/releases", params={"anime_id": str(anime_id), "limit": 100}
        )
        ordered = sorted(
            releases.json(),
            key=lambda release: (release.get("season_number") or 0, release["created_at"]),
        )
        durations: dict[int, int | None] = {}
        for release in ordered:
            offset = 0
            while True:
                page = await self._call(
                    "GET",
                    "/episodes",
                    params={"release_id": release["id"], "limit": _EPISODE_PAGE, "offset": offset},
                )
                if page.status_code != 200:
                    break  # the release went away between the calls
                rows = page.json()
                for row in rows:
                    durations.setdefault(row["number"], row.get("duration_seconds"))
                if len(rows) < _EPISODE_PAGE:
                    break
                offset += _EPISODE_PAGE
        self.cache.put(("episodes", anime_id), durations)
        return durations

    # --- plumbing --------------------------------------------------------------------

    async def _once(
        self, key: Hashable, load: Callable[[], Awaitable[Any]], *, fresh: bool = False
    ) -> Any:
        """The cached value of `key`, else one load shared by every caller asking meanwhile.

        Without it, a cold cache under load sends the catalog one identical
        request per waiting client (a thundering herd on the first minute).
        `fresh` skips the cache, not the sharing: it joins a load already running.
        """
        cached, value = (False, None) if fresh else self.cache.get(key)
        if cached:
            if key not in self._flights and self.cache.claim_refresh(key):
                self._flights.start(key, load)  # refresh ahead: nobody waits for it
            return value
        return await self._flights.run(key, load)

    async def aclose(self) -> None:
        """Stop the loads still running (background reloads) before the HTTP client closes."""
        await self._flights.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; 200 and 404 come back, anything else is the catalog's unavailability."""
        response = await self._catalog.request(method, path, **kwargs)
        if response.status_code in (200, 404):
            return response
        # A 401/422 is a bug or keys out of sync: nothing to enqueue on, and no reason to guess.
        raise PeerUnavailableError(self._catalog.service, peer_status=response.status_code)
