"""Settings of the proxy service: the common ones plus its upstreams, cache and breaker."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from anime_common import CommonSettings, split_list_setting

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _base_url(value: str) -> str:
    """An `http(s)://host[:port][/path]` base without query, fragment or credentials.

    The upstream hosts come only from here: no route ever takes a URL from a
    client, so this is the whole list of hosts the proxy can reach.
    """
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    if (
        parts.scheme not in {"http", "https"}
        or not parts.hostname
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
    ):
        raise ValueError(f"{value!r} is not an http(s) base URL")
    return url


class ProxySettings(CommonSettings):
    SERVICE_NAME: ClassVar[str] = "proxy"
    # The proxy keeps its cache in memory and owns no tables.
    REQUIRES_DATABASE: ClassVar[bool] = False

    PORT: int = 8005

    # An aniwatch-api server; unset = the HiAnime routes answer 503 naming this setting.
    HIANIME_API_URL: str | None = None
    ANILIST_API_URL: str = "https://graphql.anilist.co"
    # Where episode UUIDs are resolved and imported anime upserted; unset = not available.
    CATALOG_SERVICE_URL: str | None = None

    # Per-call timeouts for the upstreams (the shared client's own are the defaults for the rest).
    UPSTREAM_CONNECT_TIMEOUT: float = Field(default=3.0, gt=0)
    UPSTREAM_READ_TIMEOUT: float = Field(default=10.0, gt=0)
    # Retries of idempotent calls on connection errors and 502/503/504, with jittered backoff.
    UPSTREAM_RETRIES: int = Field(default=2, ge=0, le=5)
    UPSTREAM_RETRY_BACKOFF: float = Field(default=0.2, ge=0)
    # A 429's Retry-After up to this is waited out inside the request (AniList); a longer
    # one is our own 429 with that Retry-After.
    UPSTREAM_MAX_WAIT: float = Field(default=5.0, ge=0, le=60)

    CACHE_ENABLED: bool = True
    CACHE_MAX_ENTRIES: int = Field(default=5000, ge=1)
    CACHE_MAX_BYTES: int = Field(default=64 * 1024 * 1024, ge=1024)
    # How long past its TTL an entry may still be served when the upstream fails.
    CACHE_STALE_IF_ERROR: float = Field(default=6 * 3600.0, ge=0)
    CACHE_TTL_HOME: float = Field(default=600.0, ge=0)
    CACHE_TTL_SCHEDULE: float = Field(default=900.0, ge=0)
    CACHE_TTL_ANIME: float = Field(default=3600.0, ge=0)
    CACHE_TTL_EPISODES: float = Field(default=900.0, ge=0)
    CACHE_TTL_NEXT_EPISODE: float = Field(default=300.0, ge=0)
    CACHE_TTL_SEARCH: float = Field(default=300.0, ge=0)
    CACHE_TTL_SERVERS: float = Field(default=300.0, ge=0)
    # Stream URLs are tokenised and short-lived: keep sources briefly.
    CACHE_TTL_SOURCES: float = Field(default=30.0, ge=0)

    BREAKER_FAILURE_THRESHOLD: int = Field(default=5, ge=1)
    BREAKER_RESET_SECONDS: float = Field(default=30.0, gt=0)

    HEALTH_PROBE_TIMEOUT: float = Field(default=2.0, gt=0)
    HEALTH_PROBE_TTL: float = Field(default=5.0, ge=0)

    # Upstream calls of one AniList import in flight at once.
    IMPORT_CONCURRENCY: int = Field(default=4, ge=1, le=32)
    IMPORT_MAX_ENTRIES: int = Field(default=2000, ge=1)
    IMPORT_CANDIDATES: int = Field(default=3, ge=1, le=10)

    # The stream proxy (`/m3u8-proxy`): networks exempt from the no-internal-address rule (a
    # CDN on a private network; the tests' fake CDN on 127.0.0.1). Origins must still have
    # been learned from a sources answer or be signed.
    STREAM_ALLOWED_NETWORKS: Annotated[list[IPNetwork], NoDecode] = Field(default_factory=list)
    STREAM_CONNECT_TIMEOUT: float = Field(default=5.0, gt=0)
    # Longest wait for the next bytes of an upstream body (not the whole body).
    STREAM_READ_TIMEOUT: float = Field(default=20.0, gt=0)
    STREAM_MAX_REDIRECTS: int = Field(default=3, ge=0, le=5)
    STREAM_MAX_PER_CLIENT: int = Field(default=32, ge=1)
    STREAM_MAX_TOTAL: int = Field(default=512, ge=1)
    STREAM_MAX_PLAYLIST_BYTES: int = Field(default=4 * 1024 * 1024, ge=1024)
    STREAM_PLAYLIST_TTL: float = Field(default=5.0, ge=0)
    # How long a link in a rewritten playlist stays valid (a paused VOD resumes on it).
    STREAM_TOKEN_TTL: int = Field(default=6 * 3600, ge=60)
    # Origins learned from sources answers: how many, and for how long after last seen.
    STREAM_ORIGINS_MAX: int = Field(default=1024, ge=1)
    STREAM_ORIGIN_TTL: float = Field(default=6 * 3600.0, gt=0)

    @field_validator("STREAM_ALLOWED_NETWORKS", mode="before")
    @classmethod
    def _parse_networks(cls, value: Any) -> Any:
        return split_list_setting(value)

    @field_validator("ANILIST_API_URL")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        return _base_url(value)

    @field_validator("CATALOG_SERVICE_URL", "HIANIME_API_URL")
    @classmethod
    def _check_catalog_url(cls, value: str | None) -> str | None:
        return _base_url(value) if value else None
