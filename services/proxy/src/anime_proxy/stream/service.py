"""The stream proxy's rules: which URLs are admitted, playlists rewritten and briefly cached.

A URL is admitted when its origin was learned from a relayed sources answer, or when
it carries a valid signature minted in a rewritten playlist. Playlists are fetched
once per (URL, Referer) at a time and kept `playlist_ttl` seconds, so a crowd
watching one episode costs one upstream request; everything else is streamed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx

from anime_common import BadGatewayError, NotFoundError, SingleFlight, ValidationError
from anime_proxy.cache import ResponseCache
from anime_proxy.settings import ProxySettings
from anime_proxy.stream.addresses import AddressGuard
from anime_proxy.stream.fetcher import WHAT, Opened, StreamFetcher, Target
from anime_proxy.stream.limits import StreamLimits
from anime_proxy.stream.network import GuardedBackend, GuardedTransport
from anime_proxy.stream.origins import LearnedOrigins, origin_of
from anime_proxy.stream.playlist import Linker, is_playlist, rewrite, rewrite_thumbnails
from anime_proxy.stream.tokens import ROUTE, StreamSigner
from anime_proxy.upstream import transport_error

# The player wraps a proxy URL in another one when it switches subtitles; unwrap, never loop.
_MAX_UNWRAP = 3


def _unwrap(url: str) -> str:
    for _ in range(_MAX_UNWRAP):
        parts = urlsplit(url)
        inner = parse_qs(parts.query).get("url")
        if parts.path.rstrip("/") != ROUTE or not inner:
            break
        url = inner[0]
    return url


def _check_referer(referer: str | None) -> str | None:
    if not referer:
        return None
    parts = urlsplit(referer)
    if (
        parts.scheme not in {"http", "https"}
        or not parts.hostname
        or any(ord(char) < 0x20 or ord(char) == 0x7F for char in referer)
    ):
        raise ValidationError.for_field("referer", "must be an absolute http(s) URL")
    return referer


async def read_bounded(chunks: AsyncIterator[bytes], *, limit: int, first: bytes = b"") -> bytes:
    body = bytearray(first)
    try:
        async for chunk in chunks:
            body += chunk
            if len(body) > limit:
                raise BadGatewayError("The stream's playlist is too large")
    except httpx.HTTPError as exc:
        raise transport_error(exc, what=WHAT) from exc
    return bytes(body)


async def first_chunk(chunks: AsyncIterator[bytes]) -> bytes:
    """The first bytes of a body (to tell a disguised playlist), failures in the envelope."""
    try:
        return await anext(chunks, b"")
    except httpx.HTTPError as exc:
        raise transport_error(exc, what=WHAT) from exc


class StreamService:
    def __init__(
        self,
        *,
        fetcher: StreamFetcher,
        signer: StreamSigner,
        origins: LearnedOrigins,
        limits: StreamLimits,
        playlist_cache: ResponseCache,
        playlist_ttl: float,
        max_playlist_bytes: int,
    ) -> None:
        self.fetcher = fetcher
        self.signer = signer
        self.origins = origins
        self.limits = limits
        self._cache = playlist_cache
        self._playlist_ttl = playlist_ttl
        self.max_playlist_bytes = max_playlist_bytes
        self._flights: SingleFlight[bytes] = SingleFlight()

    def admit(
        self,
        *,
        url: str,
        referer: str | None,
        expires: int | None,
        signature: str | None,
    ) -> Target:
        """The target of a request, or the error that refuses it; nothing is fetched."""
        url = _unwrap(url.strip())
        parts = urlsplit(url)
        origin = origin_of(parts)
        if origin is None:
            raise ValidationError.for_field("url", "must be an absolute http(s) URL")
        if parts.username is not None or parts.password is not None:
            raise ValidationError.for_field("url", "must not carry credentials")
        referer = _check_referer(referer)
        if expires is not None or signature is not None:
            if (
                expires is None
                or signature is None
                or not self.signer.verify(url, referer, expires=expires, signature=signature)
            ):
                raise NotFoundError("This stream link is invalid or has expired")
            return Target(url=url, referer=referer, origin=origin)
        learned = self.origins.lookup(origin)
        if learned is None:
            raise NotFoundError("Not a stream this service knows")
        return Target(url=url, referer=referer or learned.referer, origin=origin)

    async def playlist(self, target: Target) -> bytes:
        """The rewritten playlist at `target`, from the short cache or one shared fetch."""
        key = ("playlist", target.url, target.referer)
        entry = self._cache.get_fresh(key)
        if entry is not None:
            return entry.body

        async def load() -> bytes:
            opened = await self.fetcher.open(target)
            body = await self.read_whole(opened, opened.response.aiter_raw())
            if not is_playlist(opened.response.headers.get("content-type"), body[:16]):
                raise BadGatewayError("The stream's source sent no playlist")
            rewritten = self.rewrite(body, opened=opened, referer=target.referer)
            self._cache.put(key, rewritten, ttl=self._playlist_ttl)
            return rewritten

        return await self._flights.run(key, load)

    def linker(self, referer: str | None) -> Linker:
        """Signed links for one rewritten document, all with one expiry."""
        expires = self.signer.expiry()
        return lambda url: self.signer.link(url, referer, expires=expires)

    def rewrite(self, body: bytes, *, opened: Opened, referer: str | None) -> bytes:
        text = rewrite(
            body.decode("utf-8", errors="replace"), base_url=opened.url, link=self.linker(referer)
        )
        return text.encode()

    def rewrite_track(self, body: bytes, *, opened: Opened, referer: str | None) -> bytes:
        """A WebVTT track as is, or with its thumbnail images proxied."""
        text = rewrite_thumbnails(
            body.decode("utf-8-sig", errors="replace"),
            base_url=opened.url,
            link=self.linker(referer),
        )
        return body if text is None else text.encode()

    async def read_whole(
        self, opened: Opened, chunks: AsyncIterator[bytes], first: bytes = b""
    ) -> bytes:
        """The rest of a small body (a playlist, a track), bounded; the upstream then closed."""
        try:
            return await read_bounded(chunks, limit=self.max_playlist_bytes, first=first)
        finally:
            await opened.response.aclose()


def create_stream_http_client(settings: ProxySettings) -> httpx.AsyncClient:
    """The stream proxy's own pooled client, on the guarded network backend: no environment
    proxies (they would connect for us, past the address check), no automatic redirects."""
    guard = AddressGuard(allowed_networks=settings.STREAM_ALLOWED_NETWORKS)
    transport = GuardedTransport(
        backend=GuardedBackend(guard=guard),
        limits=httpx.Limits(
            max_connections=settings.STREAM_MAX_TOTAL,
            max_keepalive_connections=min(settings.STREAM_MAX_TOTAL, 100),
        ),
    )
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(
            settings.STREAM_READ_TIMEOUT, connect=settings.STREAM_CONNECT_TIMEOUT
        ),
        follow_redirects=False,
        trust_env=False,
    )


def create_stream_service(settings: ProxySettings, http: httpx.AsyncClient) -> StreamService:
    origins = LearnedOrigins(
        max_entries=settings.STREAM_ORIGINS_MAX, ttl=settings.STREAM_ORIGIN_TTL
    )
    return StreamService(
        fetcher=StreamFetcher(
            http=http,
            origins=origins,
            max_redirects=settings.STREAM_MAX_REDIRECTS,
        ),
        signer=StreamSigner(
            secret=settings.SECRET_KEY.get_secret_value(), ttl=settings.STREAM_TOKEN_TTL
        ),
        origins=origins,
        limits=StreamLimits(
            per_client=settings.STREAM_MAX_PER_CLIENT, total=settings.STREAM_MAX_TOTAL
        ),
        # Rewritten playlists are small; a few seconds of them for every episode in play.
        playlist_cache=ResponseCache(
            max_entries=2000, max_bytes=32 * 1024 * 1024, stale_if_error=0
        ),
        playlist_ttl=settings.STREAM_PLAYLIST_TTL,
        max_playlist_bytes=settings.STREAM_MAX_PLAYLIST_BYTES,
    )
