"""`GET|HEAD /m3u8-proxy?url&referer`: HLS through the one gateway origin.

The player's first URL is `?url=<encoded upstream URL>&referer=<Referer>` (the
frontend builds it from a sources answer); the links in a rewritten playlist add
`exp` and `sig`. Refusals never fetch anything: a malformed `url` is 422, an
address that is not public 400, an origin never seen in a sources answer or a bad
or expired link 404 (never 403: the frontend logs the user out on a 403).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from anime_common import document, parse_query
from anime_proxy.metrics import STREAM_BYTES
from anime_proxy.state import get_state
from anime_proxy.stream.playlist import is_playlist, is_vtt, looks_like_playlist_url
from anime_proxy.stream.responses import (
    UpstreamResponse,
    passed_headers,
    playlist_response,
    track_response,
)
from anime_proxy.stream.schemas import StreamQuery
from anime_proxy.stream.service import first_chunk

_RANGE_MAX = 200


def _counted(kind: str, body: bytes) -> bytes:
    STREAM_BYTES.labels(kind).inc(len(body))
    return body


def _is_key(url: str, content_type: str | None) -> bool:
    # `#EXT-X-KEY` URIs: `.key` files, or a bare key served as octet-stream of 16 bytes.
    return urlsplit(url).path.endswith(".key") or "key" in (content_type or "")


def _range(request: Request) -> str | None:
    value = request.headers.get("range")
    if value and len(value) <= _RANGE_MAX and value.strip().lower().startswith("bytes="):
        return value.strip()
    return None


@document(
    "An HLS playlist (rewritten) or a segment, key or track (streamed) from a CDN",
    query=StreamQuery,
    errors=[400, 404, 414, 416, 422, 429, 502, 503, 504],
    tags=("stream",),
)
async def m3u8_proxy(request: Request) -> Response:
    stream = get_state(request).stream
    query = parse_query(request, StreamQuery)
    target = stream.admit(
        url=query.url, referer=query.referer, expires=query.exp, signature=query.sig
    )
    head = request.method == "HEAD"
    slot = stream.limits.acquire(request.client.host if request.client else "-")
    try:
        if looks_like_playlist_url(target.url):
            body = await stream.playlist(target)
            slot.release()
            return playlist_response(_counted("playlist", body), head=head)
        opened = await stream.fetcher.open(
            target, method="HEAD" if head else "GET", range_header=_range(request)
        )
        upstream = opened.response
        if head:
            await upstream.aclose()
            slot.release()
            return Response(status_code=upstream.status_code, headers=passed_headers(upstream))
        chunks = upstream.aiter_raw()
        first = await first_chunk(chunks)
        content_type = upstream.headers.get("content-type")
        if is_playlist(content_type, first):
            # A playlist under another name (CDNs disguise them): rewritten, not cached.
            body = await stream.read_whole(opened, chunks, first)
            slot.release()
            rewritten = stream.rewrite(body, opened=opened, referer=target.referer)
            return playlist_response(_counted("playlist", rewritten), head=False)
        if is_vtt(content_type, opened.url) and upstream.status_code == 200:
            # Tracks are small: read whole, so a thumbnails track's images can be proxied.
            body = await stream.read_whole(opened, chunks, first)
            slot.release()
            track = stream.rewrite_track(body, opened=opened, referer=target.referer)
            return track_response(_counted("subtitle", track), upstream)
    except BaseException:
        slot.release()
        raise

    sent = STREAM_BYTES.labels("key" if _is_key(opened.url, content_type) else "segment")

    async def relayed() -> AsyncIterator[bytes]:
        sent.inc(len(first))
        yield first
        async for chunk in chunks:
            sent.inc(len(chunk))
            yield chunk

    return UpstreamResponse(upstream, chunks=relayed(), slot=slot)


stream_routes: list[BaseRoute] = [
    Route("/m3u8-proxy", m3u8_proxy, methods=["GET", "HEAD"]),
]
