"""The HiAnime routes' logic: cache first, one upstream request per key at a time, stale
entries when the upstream fails, and the `hd-1` → `hd-2` fallback for stream sources."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from anime_common import (
    BadGatewayError,
    GatewayTimeoutError,
    RateLimitedError,
    ServiceUnavailableError,
    SingleFlight,
)
from anime_proxy.cache import ResponseCache
from anime_proxy.metrics import CACHE_LOOKUPS
from anime_proxy.upstream import HianimeUpstream, UpstreamBody, UpstreamFailure

CacheStatus = Literal["HIT", "MISS", "STALE", "BYPASS"]

# Failures worth answering from a stale entry: the upstream is down, slow, refusing or
# rate limiting us. A 404 or 400 is a real answer and is never papered over.
_STALE_ON = (BadGatewayError, GatewayTimeoutError, ServiceUnavailableError, RateLimitedError)
# Statuses of `hd-1` that `hd-2` often does not share (aniwatch-api's users' experience).
_FALLBACK_STATUSES = frozenset({403, 500})
PRIMARY_SERVER = "hd-1"
FALLBACK_SERVER = "hd-2"


@dataclass(frozen=True, slots=True)
class Policy:
    """How one kind of answer is cached here (`ttl`) and by browsers (`browser_max_age`)."""

    name: str
    ttl: float
    browser_max_age: int
    # Sources carry short-lived, tokenised stream URLs: shared caches must not keep them.
    shared: bool = True


@dataclass(frozen=True, slots=True)
class Answer:
    body: bytes
    cache: CacheStatus
    age: int
    max_age: int
    shared: bool

    @property
    def cache_control(self) -> str:
        if self.cache == "STALE":
            return "no-cache"
        scope = "public" if self.shared else "private"
        return f"{scope}, max-age={self.max_age}"


def _has_sources(body: UpstreamBody) -> bool:
    data = body.data
    return isinstance(data, dict) and bool(data.get("sources"))


class HianimeService:
    def __init__(
        self,
        *,
        upstream: HianimeUpstream,
        cache: ResponseCache | None,
    ) -> None:
        self.upstream = upstream
        self.cache = cache
        self._flights: SingleFlight[UpstreamBody] = SingleFlight()

    async def fetch(
        self,
        *,
        policy: Policy,
        segments: Sequence[str],
        params: Mapping[str, str] | None = None,
    ) -> Answer:
        params = dict(params or {})
        return await self._cached(
            policy=policy,
            key=(policy.name, tuple(segments), tuple(sorted(params.items()))),
            load=lambda: self.upstream.get(segments, params),
        )

    async def sources(
        self, *, policy: Policy, episode_id: str, server: str | None, category: str
    ) -> Answer:
        """Sources of an episode; without an explicit server, `hd-1` then once `hd-2`."""
        if server is not None:
            params = {"animeEpisodeId": episode_id, "server": server, "category": category}
            return await self._cached(
                policy=policy,
                key=(policy.name, episode_id, server, category),
                load=lambda: self.upstream.get(("episode", "sources"), params),
                cacheable=_has_sources,
            )

        async def load() -> UpstreamBody:
            primary = {"animeEpisodeId": episode_id, "server": PRIMARY_SERVER, "category": category}
            try:
                body = await self.upstream.get(("episode", "sources"), primary)
            except UpstreamFailure as exc:
                if exc.upstream_status not in _FALLBACK_STATUSES:
                    raise
            else:
                if _has_sources(body):
                    return body
            fallback = {**primary, "server": FALLBACK_SERVER}
            return await self.upstream.get(("episode", "sources"), fallback)

        return await self._cached(
            policy=policy,
            key=(policy.name, episode_id, None, category),
            load=load,
            cacheable=_has_sources,
        )

    async def _cached(
        self,
        *,
        policy: Policy,
        key: Hashable,
        load: Callable[[], Awaitable[UpstreamBody]],
        cacheable: Callable[[UpstreamBody], bool] = lambda body: True,
    ) -> Answer:
        cache = self.cache
        max_age = int(min(policy.ttl, policy.browser_max_age))
        if cache is None:
            body = await load()
            return _counted(policy, Answer(body.raw, "BYPASS", 0, max_age, policy.shared))
        entry = cache.get_fresh(key)
        if entry is not None:
            now = cache.now()
            remaining = int(entry.expires_at - now)
            return _counted(
                policy,
                Answer(entry.body, "HIT", entry.age(now), min(max_age, remaining), policy.shared),
            )

        async def load_and_store() -> UpstreamBody:
            body = await load()
            if cacheable(body):
                cache.put(key, body.raw, ttl=policy.ttl)
            return body

        try:
            body = await self._flights.run(key, load_and_store)
        except _STALE_ON:
            stale = cache.get_stale(key)
            if stale is None:
                raise
            return _counted(
                policy, Answer(stale.body, "STALE", stale.age(cache.now()), 0, policy.shared)
            )
        return _counted(policy, Answer(body.raw, "MISS", 0, max_age, policy.shared))


def _counted(policy: Policy, answer: Answer) -> Answer:
    CACHE_LOOKUPS.labels(policy.name, answer.cache.lower()).inc()
    return answer
