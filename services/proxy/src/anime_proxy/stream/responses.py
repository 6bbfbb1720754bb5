"""Answers of the stream proxy: a rewritten playlist, or an upstream body streamed through.

A streamed body is read from the upstream only as fast as the client takes it (the
server's send waits while its buffer is full), so memory per stream is a few chunks
whatever the file's size. When the answer ends, fails, or the client goes away, the
upstream response is closed at once and the stream's slot given back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from anime_proxy.stream.limits import StreamSlot
from anime_proxy.stream.playlist import HLS_CONTENT_TYPE

PLAYLIST_CACHE_CONTROL = "public, max-age=5"
# Upstream headers a player needs; hop-by-hop and cookie headers never pass.
_PASSED = ("content-type", "content-length", "content-range", "accept-ranges", "last-modified",
           "etag", "cache-control", "expires")  # fmt: skip


def passed_headers(upstream: httpx.Response) -> dict[str, str]:
    headers = {name: upstream.headers[name] for name in _PASSED if name in upstream.headers}
    headers.setdefault("content-type", "application/octet-stream")
    return headers


def playlist_response(body: bytes, *, head: bool) -> Response:
    headers = {
        "Cache-Control": PLAYLIST_CACHE_CONTROL,
        "Content-Length": str(len(body)),
    }
    return Response(b"" if head else body, media_type=HLS_CONTENT_TYPE, headers=headers)


def track_response(body: bytes, upstream: httpx.Response) -> Response:
    headers = passed_headers(upstream)
    headers["content-length"] = str(len(body))
    for name in ("content-range", "etag"):
        headers.pop(name, None)
    return Response(body, status_code=200, headers=headers)


class UpstreamResponse(StreamingResponse):
    """The upstream's status, headers and body, streamed; it owns the upstream and the slot."""

    def __init__(
        self,
        upstream: httpx.Response,
        *,
        chunks: AsyncIterator[bytes],
        slot: StreamSlot,
    ) -> None:
        super().__init__(
            chunks,
            status_code=upstream.status_code,
            headers=passed_headers(upstream),
        )
        self._upstream = upstream
        self._slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._upstream.aclose()
            self._slot.release()
