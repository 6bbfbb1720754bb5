"""What the proxy's routes share, built once in the lifespan."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx
from starlette.requests import Request

from anime_common import service_state
from anime_proxy.anilist import AniListClient
from anime_proxy.catalog_client import CatalogClient
from anime_proxy.hianime import HianimeService, Policy
from anime_proxy.importer import AniListImporter
from anime_proxy.settings import ProxySettings
from anime_proxy.stream.service import StreamService


@dataclass(frozen=True, slots=True)
class Policies:
    home: Policy
    schedule: Policy
    anime: Policy
    episodes: Policy
    next_episode: Policy
    search: Policy
    suggestion: Policy
    servers: Policy
    sources: Policy

    @classmethod
    def from_settings(cls, settings: ProxySettings) -> Policies:
        # Browsers keep answers at most a few minutes: they cannot be told when we learn more.
        return cls(
            home=Policy("home", settings.CACHE_TTL_HOME, 300),
            schedule=Policy("schedule", settings.CACHE_TTL_SCHEDULE, 300),
            anime=Policy("anime", settings.CACHE_TTL_ANIME, 600),
            episodes=Policy("episodes", settings.CACHE_TTL_EPISODES, 300),
            next_episode=Policy("next-episode", settings.CACHE_TTL_NEXT_EPISODE, 60),
            search=Policy("search", settings.CACHE_TTL_SEARCH, 120),
            suggestion=Policy("suggestion", settings.CACHE_TTL_SEARCH, 120),
            servers=Policy("servers", settings.CACHE_TTL_SERVERS, 120),
            sources=Policy("sources", settings.CACHE_TTL_SOURCES, 15, shared=False),
        )


@dataclass
class HealthProbe:
    """Asks the upstream's `/health` at most once per `ttl`, so `/api/health` is cheap."""

    http: httpx.AsyncClient
    url: str | None  # None: no upstream configured, never ok
    timeout: float
    ttl: float
    _checked_at: float = field(default=-1e18)
    _last: bool = False

    async def upstream_ok(self) -> bool:
        if self.url is None:
            return False
        now = time.monotonic()
        if now - self._checked_at < self.ttl:
            return self._last
        try:
            response = await self.http.get(self.url, timeout=self.timeout)
            self._last = response.status_code == 200
        except httpx.HTTPError:
            self._last = False
        self._checked_at = now
        return self._last


@dataclass(frozen=True, slots=True)
class ProxyState:
    settings: ProxySettings
    policies: Policies
    hianime: HianimeService
    catalog: CatalogClient
    health: HealthProbe
    anilist: AniListClient
    importer: AniListImporter
    stream: StreamService


def get_state(request: Request) -> ProxyState:
    return service_state(request, ProxyState)
