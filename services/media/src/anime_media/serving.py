"""Streaming a stored avatar: headers that make it cacheable forever and inert in a browser."""

from __future__ import annotations

import os
from collections.abc import Mapping

import anyio.to_thread
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from anime_common import NotFoundError, etag_matches
from anime_media.storage import AvatarStore, OpenedFile

CHUNK_SIZE = 64 * 1024
# A name is never reused for other bytes (new upload, new random name), so a copy may
# be kept for a year without asking again.
CACHE_CONTROL = "public, max-age=31536000, immutable"
# Opened directly, the image gets no power of a page: no scripts, plugins, forms or
# frames, even if a browser were tricked into reading it as HTML.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
}

# The formats media writes, by their first bytes: the Content-Type comes from the
# content actually on disk, not from the name.
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"WEBP", 8, "image/webp"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF8", 0, "image/gif"),
)


def sniff_content_type(head: bytes) -> str | None:
    for signature, offset, content_type in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            if content_type == "image/webp" and not head.startswith(b"RIFF"):
                continue
            return content_type
    return None


def etag_of(opened: OpenedFile) -> str:
    """Strong: a stored file never changes, so size and mtime name its bytes."""
    return f'"{opened.stat.st_size:x}-{opened.stat.st_mtime_ns:x}"'


class FileStreamResponse(Response):
    """Sends an already open file in chunks read off the event loop; closes it in any case.

    The file was opened (and checked) before the response began, so it is served
    whole even if it is deleted meanwhile: the open descriptor keeps the bytes.
    """

    def __init__(
        self,
        *,
        opened: OpenedFile,
        head: bytes,
        content_type: str,
        headers: Mapping[str, str],
        send_body: bool,
    ) -> None:
        self.status_code = 200
        self.background = None
        self._fd = opened.fd
        self._length = opened.stat.st_size
        self._head = head
        self._send_body = send_body
        self.init_headers({**headers, "Content-Length": str(self._length)})
        self.headers["Content-Type"] = content_type

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            if not self._send_body:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            remaining = self._length - len(self._head)
            await send({"type": "http.response.body", "body": self._head, "more_body": True})
            while remaining > 0:
                chunk = await anyio.to_thread.run_sync(
                    os.read, self._fd, min(CHUNK_SIZE, remaining)
                )
                if not chunk:  # pragma: no cover - a stored file never shrinks
                    break
                remaining -= len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            os.close(self._fd)


def _open_with_head(store: AvatarStore, name: str) -> tuple[OpenedFile, bytes] | None:
    """Open `name` and read its first chunk: one trip to a worker thread per request."""
    opened = store.open(name)
    if opened is None:
        return None
    try:
        return opened, os.read(opened.fd, CHUNK_SIZE)
    except BaseException:
        os.close(opened.fd)
        raise


async def avatar_response(
    store: AvatarStore, name: str, *, method: str, if_none_match: str | None
) -> Response:
    """The stored file `name` (200, or 304 for a current copy); NotFoundError for anything else."""
    found = await anyio.to_thread.run_sync(_open_with_head, store, name)
    if found is None:
        raise NotFoundError("Avatar not found")
    opened, head = found
    etag = etag_of(opened)
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, **SECURITY_HEADERS}
    content_type = sniff_content_type(head)
    if content_type is None or etag_matches(if_none_match, etag):
        os.close(opened.fd)
        if content_type is None:
            # Not something media wrote: refuse rather than guess a type for it.
            raise NotFoundError("Avatar not found")
        return Response(status_code=304, headers=headers)
    # From here the response owns the descriptor and closes it once sent.
    return FileStreamResponse(
        opened=opened,
        head=head,
        content_type=content_type,
        headers=headers,
        send_body=method != "HEAD",
    )
