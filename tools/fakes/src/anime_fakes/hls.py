"""A fake HLS CDN like the ones aniwatch-api's sources point at, failures on demand.

Paths mirror what the aniwatch fake hands out (`/<server>/<anime>/<ep>/<category>/...`):
`master.m3u8` (an audio rendition, a relative and an absolute variant), per variant
`<v>/index.m3u8` (an AES-128 `#EXT-X-KEY` with a root-relative URI, an `#EXT-X-MAP`,
segments relative, absolute, or on `segment_base`, another CDN host, when given),
`<v>/seg-<n>.ts`, `<v>/init.mp4`, `/keys/<name>.key` (16 bytes), `/subs/.../*.vtt`
(a subtitle track; `thumbs.vtt` points at `thumbs.jpg`), `<v>/index.txt` (a variant
playlist disguised as text, as some CDNs serve them), `/big/<bytes>.ts` (a segment
of any size, generated as it is sent), `/redirect?to=<url>` (302).

Like the real CDNs it answers 403 to a request without the expected `Referer` and
sends no CORS headers. Bodies are deterministic (`body(path, size)`), support
`Range` (206, `Content-Range`, 416), and are streamed in 64 KiB chunks. Faults by
`mode`: `slow` (`delay` seconds before each chunk), `timeout` (`delay` before the
answer), or a status (`404`, `500`, ...).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from anime_fakes.control import control_routes
from anime_fakes.faults import FakeState

REFERER = "https://megacloud.example.test/"
CHUNK = 64 * 1024
SEGMENT_SIZE = 192 * 1024
SEGMENTS = 3
MAX_BIG = 1 << 30
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_BIG = re.compile(r"^/big/(\d{1,10})\.ts$")
_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".mp4": "video/mp4",
    ".key": "application/octet-stream",
    ".vtt": "text/vtt; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".jpg": "image/jpeg",
}


@dataclass
class CdnStats:
    """Bytes handed to the server, and bodies that ended early (the client went away)."""

    bytes_sent: int = 0
    bodies_finished: int = 0
    bodies_aborted: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sent: int) -> None:
        with self._lock:
            self.bytes_sent += sent

    def ended(self, *, complete: bool) -> None:
        with self._lock:
            if complete:
                self.bodies_finished += 1
            else:
                self.bodies_aborted += 1

    def reset(self) -> None:
        with self._lock:
            self.bytes_sent = self.bodies_finished = self.bodies_aborted = 0

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return {
                "bytes_sent": self.bytes_sent,
                "bodies_finished": self.bodies_finished,
                "bodies_aborted": self.bodies_aborted,
            }


@functools.lru_cache(maxsize=1024)
def _block(path: str, index: int) -> bytes:
    # Cached (at most 64 MiB): the fake must not be what limits a throughput benchmark.
    return hashlib.sha256(f"{path}#{index}".encode()).digest() * (CHUNK // 32)


def chunks(path: str, start: int, end: int) -> list[tuple[int, int, int]]:
    """(block index, from, to) pieces covering bytes `start..end-1` of `path`'s body."""
    pieces = []
    offset = start
    while offset < end:
        index, skip = divmod(offset, CHUNK)
        take = min(CHUNK - skip, end - offset)
        pieces.append((index, skip, skip + take))
        offset += take
    return pieces


def body(path: str, size: int, start: int = 0, end: int | None = None) -> bytes:
    """The bytes the fake serves at `path` (a media file of `size` bytes), or a slice."""
    stop = size if end is None else end
    return b"".join(_block(path, index)[a:b] for index, a, b in chunks(path, start, stop))


def master_playlist(base: str) -> str:
    return (
        "#EXTM3U\n#EXT-X-VERSION:6\n"
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="Japanese",DEFAULT=YES,'
        'URI="audio/index.m3u8"\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=2000000,RESOLUTION=1280x720,AUDIO="aud"\n'
        "720/index.m3u8\n"
        '#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,AUDIO="aud"\n'
        f"{base}360/index.m3u8\n"
    )


def variant_playlist(base: str, variant: str, key: str, segment_base: str) -> str:
    return (
        "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:10\n"
        "#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n"
        f'#EXT-X-KEY:METHOD=AES-128,URI="/keys/{key}.key",IV=0x000102030405060708090a0b0c0d0e0f\n'
        '#EXT-X-MAP:URI="init.mp4"\n'
        "#EXTINF:10.0,\nseg-0.ts\n"
        f"#EXTINF:10.0,\n{segment_base}seg-1.ts\n"
        f"#EXTINF:10.0,\n../{variant}/seg-2.ts\n"
        "#EXT-X-ENDLIST\n"
    )


def subtitle_track(name: str) -> str:
    if name == "thumbs":
        return "WEBVTT\n\n00:00:00.000 --> 00:00:10.000\nthumbs.jpg#xywh=0,0,160,90\n"
    return "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\nA fake line.\n"


def _content_type(path: str) -> str:
    for suffix, media_type in _TYPES.items():
        if path.endswith(suffix):
            return media_type
    return "application/octet-stream"


def _byte_range(header: str | None, size: int) -> tuple[int, int] | bool | None:
    """(start, end) of a satisfiable `Range`, None without one, False when unsatisfiable."""
    match = _RANGE.fullmatch(header.strip()) if header else None
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return False
    if not first:
        start, end = max(0, size - int(last)), size
    else:
        start = int(first)
        end = min(size, int(last) + 1) if last else size
    return (start, end) if start < end else False


class _Body(StreamingResponse):
    """A streamed body that counts what it handed over and whether it got to the end."""

    def __init__(
        self,
        stats: CdnStats,
        pieces: AsyncIterator[bytes],
        *,
        status_code: int,
        headers: dict[str, str],
        media_type: str,
    ) -> None:
        super().__init__(pieces, status_code=status_code, headers=headers, media_type=media_type)
        self._stats = stats
        self.complete = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._stats.ended(complete=self.complete)


def create_hls_app(
    state: FakeState | None = None,
    *,
    stats: CdnStats | None = None,
    referer: str = REFERER,
    segment_base: str | None = None,
    segment_size: int = SEGMENT_SIZE,
) -> Starlette:
    """The fake CDN; `segment_base` (`http://host:port`) serves one segment of each variant."""
    fake = state or FakeState()
    counted = stats or CdnStats()

    def media(request: Request, path: str, size: int, delay: float) -> Response:
        span = _byte_range(request.headers.get("range"), size)
        headers = {"Accept-Ranges": "bytes", "Cache-Control": "public, max-age=3600"}
        if span is False:
            headers["Content-Range"] = f"bytes */{size}"
            return Response(status_code=416, headers=headers)
        start, end = span if isinstance(span, tuple) else (0, size)
        headers["Content-Length"] = str(end - start)
        status = 200
        if isinstance(span, tuple):
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        if request.method == "HEAD":
            return Response(status_code=status, headers=headers, media_type=_content_type(path))

        async def pieces() -> AsyncIterator[bytes]:
            for index, a, b in chunks(path, start, end):
                if delay:
                    await asyncio.sleep(delay)
                piece = _block(path, index)[a:b]
                counted.add(len(piece))
                yield piece
            response.complete = True

        response = _Body(
            counted, pieces(), status_code=status, headers=headers, media_type=_content_type(path)
        )
        return response

    async def serve(request: Request) -> Response:
        path = request.url.path
        fake.record(path, dict(request.query_params))
        if request.headers.get("referer") != referer:
            return PlainTextResponse("Forbidden", status_code=403)
        if fake.latency:
            await asyncio.sleep(fake.latency)
        fault = fake.take_fault(path, {})
        delay = 0.0
        if fault is not None:
            if fault.mode == "timeout":
                await asyncio.sleep(fault.delay)
            elif fault.mode == "slow":
                delay = fault.delay
            elif fault.mode.isdigit():
                return PlainTextResponse("fault", status_code=int(fault.mode))
        if path == "/redirect":
            return RedirectResponse(request.query_params.get("to", "/"), status_code=302)
        base = str(request.url.replace(query="")).rsplit("/", 1)[0] + "/"
        directory, _, name = path.rpartition("/")
        if name == "master.m3u8":
            text = master_playlist(base)
        elif name in {"index.m3u8", "index.txt"}:
            variant = directory.rsplit("/", 1)[-1]
            key = directory.strip("/").replace("/", "-") or "key"
            segments = f"{segment_base.rstrip('/')}{directory}/" if segment_base else base
            text = variant_playlist(base, variant, key, segments)
        elif name.endswith(".vtt"):
            text = subtitle_track(name.removesuffix(".vtt"))
        elif name.endswith(".key"):
            return media(request, path, 16, delay)
        elif big := _BIG.fullmatch(path):
            return media(request, path, min(int(big[1]), MAX_BIG), delay)
        elif name.endswith((".ts", ".mp4", ".jpg")):
            return media(request, path, segment_size, delay)
        else:
            return PlainTextResponse("Not Found", status_code=404)
        return Response(text, media_type=_content_type(name), headers={"Cache-Control": "no-cache"})

    async def cdn_stats(request: Request) -> Response:
        return JSONResponse(counted.as_dict())

    async def reset(request: Request) -> Response:
        fake.reset()
        counted.reset()
        return Response(status_code=204)

    app = Starlette(
        routes=[
            Route("/_fake/cdn-stats", cdn_stats, methods=["GET"]),
            Route("/_fake/reset", reset, methods=["POST"]),
            *control_routes(fake),
            Route("/{path:path}", serve, methods=["GET", "HEAD"]),
        ]
    )
    app.state.fake = fake
    app.state.cdn = counted
    return app
