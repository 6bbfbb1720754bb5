"""The multipart body of PATCH /users/me: streamed, bounded, and refused early when too large."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest

from anime_devstack.asgi import serve_asgi
from anime_devstack.assertions import assert_envelope
from anime_fakes import serve_in_thread
from anime_media.app import create_app
from anime_media.uploads import MULTIPART_FRAMING_BYTES, describe_size

from .conftest import Account, MakeMediaSettings, avatar_files
from .images import image_bytes

pytestmark = pytest.mark.anyio

KIB = 1024
MIB = 1024 * KIB
BOUNDARY = "media-test-boundary"
MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def multipart(*parts: tuple[str, bytes], closed: bool = True) -> bytes:
    body = b""
    for name, content in parts:
        body += (
            (
                f"--{BOUNDARY}\r\n"
                f'Content-Disposition: form-data; name="{name}"; filename="f.png"\r\n'
                "Content-Type: image/png\r\n\r\n"
            ).encode()
            + content
            + b"\r\n"
        )
    return body + (f"--{BOUNDARY}--\r\n".encode() if closed else b"")


class CountingBody:
    """A request body handed over in chunks, remembering how many the app asked for."""

    def __init__(self, *, total: int, chunk: int = 64 * KIB) -> None:
        self.total = total
        self.chunk = chunk
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        head = (
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="avatar"; filename="big.png"\r\n\r\n'
        ).encode()
        yield head
        self.sent += len(head)
        while self.sent < self.total:
            piece = b"\x00" * min(self.chunk, self.total - self.sent)
            self.sent += len(piece)
            yield piece


async def patch(
    client: httpx.AsyncClient, account: Account, content: object, **headers: str
) -> httpx.Response:
    return await client.patch(
        "/users/me",
        content=content,  # type: ignore[arg-type]
        headers={**account.headers, **MULTIPART, **headers},
    )


async def test_declared_oversize_is_413_before_reading_the_body(
    client: httpx.AsyncClient, account: Account
) -> None:
    body = CountingBody(total=50 * MIB)
    response = await patch(client, account, body, **{"Content-Length": str(50 * MIB)})
    assert response.status_code == 413
    assert response.json() == {
        "code": "PAYLOAD_TOO_LARGE",
        "message": "The file may be at most 5 MiB",
        "details": None,
    }
    assert body.sent == 0


async def test_streamed_oversize_stops_reading_at_the_limit(
    client: httpx.AsyncClient, account: Account, media_root: Path
) -> None:
    # No Content-Length (chunked): counted while it arrives, refused past the limit.
    body = CountingBody(total=50 * MIB)
    response = await patch(client, account, body)
    assert response.status_code == 413
    assert body.sent <= 5 * MIB + MULTIPART_FRAMING_BYTES + 2 * body.chunk
    assert avatar_files(media_root) == set()


async def test_file_of_exactly_the_limit_passes_and_one_byte_more_does_not(
    make_settings: MakeMediaSettings, account: Account
) -> None:
    limit = 64 * KIB
    image = image_bytes("PNG", 40, 40)
    exactly = image + b"\x00" * (limit - len(image))  # trailing bytes: dropped by re-encoding
    async with serve_asgi(create_app(make_settings(AVATAR_MAX_BYTES=limit))) as client:
        accepted = await patch(client, account, multipart(("avatar", exactly)))
        refused = await patch(client, account, multipart(("avatar", exactly + b"\x00")))
    assert accepted.status_code == 200, accepted.text
    assert refused.status_code == 413
    assert refused.json()["message"] == f"The file may be at most {describe_size(limit)}"


def test_sizes_are_described_for_people() -> None:
    assert describe_size(5 * MIB) == "5 MiB"
    assert describe_size(64 * KIB) == "64 KiB"
    assert describe_size(1500) == "1500 bytes"


async def test_missing_field_is_422(client: httpx.AsyncClient, account: Account) -> None:
    response = await patch(client, account, multipart(("photo", image_bytes("PNG", 8, 8))))
    assert response.status_code == 422
    assert response.json()["details"] == [{"field": "avatar", "message": "A file is required"}]


async def test_empty_file_is_422(client: httpx.AsyncClient, account: Account) -> None:
    response = await patch(client, account, multipart(("avatar", b"")))
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "avatar"


async def test_two_files_are_422(client: httpx.AsyncClient, account: Account) -> None:
    image = image_bytes("PNG", 8, 8)
    response = await patch(client, account, multipart(("avatar", image), ("avatar", image)))
    assert response.status_code == 422


async def test_other_fields_are_ignored(client: httpx.AsyncClient, account: Account) -> None:
    body = multipart(("note", b"hello"), ("avatar", image_bytes("PNG", 8, 8)))
    response = await patch(client, account, body)
    assert response.status_code == 200, response.text


async def test_not_multipart_is_415(client: httpx.AsyncClient, account: Account) -> None:
    response = await client.patch(
        "/users/me",
        content=image_bytes("PNG", 8, 8),
        headers={**account.headers, "Content-Type": "image/png"},
    )
    assert_envelope(response, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_missing_boundary_is_400(client: httpx.AsyncClient, account: Account) -> None:
    response = await patch(client, account, b"whatever", **{"Content-Type": "multipart/form-data"})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        b"no boundary anywhere in here",
        multipart(("avatar", b"\x89PNG...")).replace(b"\r\n\r\n", b"\r\nX\r\n", 1),
        multipart(("avatar", b"\x89PNG..."), closed=False),
    ],
    ids=["garbage", "broken-headers", "unterminated"],
)
async def test_malformed_multipart_is_400(
    client: httpx.AsyncClient, account: Account, body: bytes
) -> None:
    response = await patch(client, account, body)
    assert_envelope(response, 400, "VALIDATION_ERROR")


async def test_too_many_uploads_at_once_is_503(
    make_settings: MakeMediaSettings, account: Account
) -> None:
    release = anyio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield multipart(("avatar", image_bytes("PNG", 8, 8)))[:10]
        await release.wait()
        yield multipart(("avatar", image_bytes("PNG", 8, 8)))[10:]

    async with serve_asgi(create_app(make_settings(UPLOAD_CONCURRENCY=1))) as client:
        results: list[httpx.Response] = []

        async def first() -> None:
            results.append(await patch(client, account, slow_body()))

        async with anyio.create_task_group() as group:
            group.start_soon(first)
            await anyio.sleep(0.2)
            crowded = await patch(client, account, multipart(("avatar", b"x")))
            release.set()
    assert crowded.status_code == 503
    assert crowded.headers["retry-after"] == "2"
    assert results[0].status_code == 200, results[0].text


def _send_partially(url: str, headers: str, body: bytes) -> bytes:
    """Send headers and part of a body over a socket, then read whatever the server answers."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(headers.encode() + body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            piece = connection.recv(65536)
            if not piece:
                break
            answer += piece
        return answer


def _chunked(*pieces: bytes) -> bytes:
    return b"".join(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" for piece in pieces)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_real_server_answers_413_while_the_client_is_still_sending(
    make_settings: MakeMediaSettings, account: Account, framing: str
) -> None:
    # uvicorn and a real socket: the 413 comes back although the body was never finished.
    if framing == "content-length":
        length_header = f"Content-Length: {50 * MIB}\r\n"
        body = b"x" * (64 * KIB)
    else:
        length_header = "Transfer-Encoding: chunked\r\n"
        head = (
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="avatar"; filename="a.png"\r\n\r\n'
        ).encode()
        # 6 MiB of file, and never the last chunk: only counting can stop this one.
        body = _chunked(head, *[b"\x00" * MIB] * 6)
    headers = (
        "PATCH /users/me HTTP/1.1\r\nHost: media\r\n"
        f"Authorization: Bearer {account.token}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n{length_header}\r\n"
    )
    with serve_in_thread(create_app(make_settings()), lifespan="on") as url:
        answer = await anyio.to_thread.run_sync(_send_partially, url, headers, body)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
