"""The proxy service's ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette

from anime_common import AppContext, create_service_app
from anime_proxy.anilist import AniListClient
from anime_proxy.breaker import CircuitBreaker
from anime_proxy.cache import ResponseCache
from anime_proxy.catalog_client import CatalogClient
from anime_proxy.hianime import HianimeService
from anime_proxy.importer import AniListImporter
from anime_proxy.internal import internal_routes
from anime_proxy.routes import routes
from anime_proxy.settings import ProxySettings
from anime_proxy.state import HealthProbe, Policies, ProxyState
from anime_proxy.stream.routes import stream_routes
from anime_proxy.stream.service import create_stream_http_client, create_stream_service
from anime_proxy.upstream import HianimeUpstream


def build_state(
    context: AppContext, settings: ProxySettings, *, stream_http: httpx.AsyncClient
) -> ProxyState:
    """Everything long-lived, on the process's one shared httpx client (`context.http`);
    the stream proxy on its own (`stream_http`: CDNs are reached only through its guarded
    network backend, and never see our request ids)."""
    http = context.http
    timeout = httpx.Timeout(
        settings.UPSTREAM_READ_TIMEOUT, connect=settings.UPSTREAM_CONNECT_TIMEOUT
    )
    upstream = HianimeUpstream(
        http=http,
        base_url=settings.HIANIME_API_URL,
        timeout=timeout,
        breaker=CircuitBreaker(
            name="hianime",
            threshold=settings.BREAKER_FAILURE_THRESHOLD,
            reset_after=settings.BREAKER_RESET_SECONDS,
        ),
        retries=settings.UPSTREAM_RETRIES,
        backoff=settings.UPSTREAM_RETRY_BACKOFF,
    )
    cache = (
        ResponseCache(
            max_entries=settings.CACHE_MAX_ENTRIES,
            max_bytes=settings.CACHE_MAX_BYTES,
            stale_if_error=settings.CACHE_STALE_IF_ERROR,
        )
        if settings.CACHE_ENABLED
        else None
    )
    policies = Policies.from_settings(settings)
    hianime = HianimeService(upstream=upstream, cache=cache)
    catalog = CatalogClient(
        http=http,
        base_url=settings.CATALOG_SERVICE_URL,
        verifier=context.verifier,
        timeout=timeout,
    )
    anilist = AniListClient(
        http=http,
        url=settings.ANILIST_API_URL,
        timeout=timeout,
        breaker=CircuitBreaker(
            name="anilist",
            threshold=settings.BREAKER_FAILURE_THRESHOLD,
            reset_after=settings.BREAKER_RESET_SECONDS,
        ),
        max_wait=settings.UPSTREAM_MAX_WAIT,
    )
    return ProxyState(
        settings=settings,
        policies=policies,
        hianime=hianime,
        catalog=catalog,
        anilist=anilist,
        importer=AniListImporter(
            anilist=anilist,
            hianime=hianime,
            suggestion_policy=policies.suggestion,
            anime_policy=policies.anime,
            episodes_policy=policies.episodes,
            catalog=catalog,
            concurrency=settings.IMPORT_CONCURRENCY,
            candidates=settings.IMPORT_CANDIDATES,
        ),
        health=HealthProbe(
            http=http,
            url=f"{settings.HIANIME_API_URL}/health" if settings.HIANIME_API_URL else None,
            timeout=settings.HEALTH_PROBE_TIMEOUT,
            ttl=settings.HEALTH_PROBE_TTL,
        ),
        stream=create_stream_service(settings, stream_http),
    )


def create_app(settings: ProxySettings) -> Starlette:
    @asynccontextmanager
    async def lifespan(context: AppContext) -> AsyncIterator[ProxyState]:
        async with create_stream_http_client(settings) as stream_http:
            yield build_state(context, settings, stream_http=stream_http)

    return create_service_app(
        name="proxy",
        settings=settings,
        routes=[*routes, *stream_routes],
        internal_routes=internal_routes,
        migrations=None,
        lifespan=lifespan,
    )
