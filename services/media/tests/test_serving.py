"""GET/HEAD /media/avatars/<file>: the stored bytes with safe headers, and nothing else."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette

from anime_devstack.assertions import assert_envelope
from anime_media.serving import CHUNK_SIZE, sniff_content_type
from anime_media.storage import AvatarNames

from .conftest import Account, read, write
from .images import decoded, encode, image_bytes

pytestmark = pytest.mark.anyio

VALID_LOOKING = "A" * 32 + ".webp"


@pytest.fixture
async def stored(client: httpx.AsyncClient, account: Account, media_root: Path) -> Path:
    response = await client.patch(
        "/users/me",
        files={"avatar": ("a.jpg", image_bytes("JPEG", 700, 900), "image/jpeg")},
        headers=account.headers,
    )
    assert response.status_code == 200, response.text
    return media_root / "avatars" / response.json()["avatar"].split("/")[-1]


def assert_safe_headers(response: httpx.Response) -> None:
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["x-content-type-options"] == "nosniff"
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "sandbox" in csp


async def test_get_streams_the_file_with_its_headers(
    client: httpx.AsyncClient, stored: Path
) -> None:
    response = await client.get(f"/media/avatars/{stored.name}")
    assert response.status_code == 200
    assert response.content == read(stored)
    assert response.headers["content-type"] == "image/webp"
    assert response.headers["content-length"] == str(len(read(stored)))
    assert response.headers["etag"].startswith('"')
    assert_safe_headers(response)
    assert decoded(response.content).size == (512, 512)


async def test_the_thumbnail_is_served_too(client: httpx.AsyncClient, stored: Path) -> None:
    thumbnail = stored.name.removesuffix(".webp") + ".thumb.webp"
    response = await client.get(f"/media/avatars/{thumbnail}/")
    assert response.status_code == 200
    assert decoded(response.content).size == (128, 128)


async def test_head_has_the_headers_and_no_body(client: httpx.AsyncClient, stored: Path) -> None:
    get = await client.get(f"/media/avatars/{stored.name}")
    head = await client.head(f"/media/avatars/{stored.name}")
    assert head.status_code == 200
    assert head.content == b""
    for name in ("content-type", "content-length", "etag", "cache-control"):
        assert head.headers[name] == get.headers[name]
    assert_safe_headers(head)


@pytest.mark.parametrize("form", ["{etag}", "W/{etag}", '"other", {etag}', "*"])
async def test_a_current_copy_gets_304(client: httpx.AsyncClient, stored: Path, form: str) -> None:
    etag = (await client.get(f"/media/avatars/{stored.name}")).headers["etag"]
    response = await client.get(
        f"/media/avatars/{stored.name}", headers={"If-None-Match": form.format(etag=etag)}
    )
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert_safe_headers(response)


async def test_a_stale_copy_gets_200(client: httpx.AsyncClient, stored: Path) -> None:
    response = await client.get(
        f"/media/avatars/{stored.name}", headers={"If-None-Match": '"something-else"'}
    )
    assert response.status_code == 200


async def test_a_stale_authorization_header_is_ignored(
    client: httpx.AsyncClient, stored: Path
) -> None:
    response = await client.get(
        f"/media/avatars/{stored.name}", headers={"Authorization": "Bearer expired.or.junk"}
    )
    assert response.status_code == 200


async def test_unknown_file_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/media/avatars/{VALID_LOOKING}")
    assert_envelope(response, 404, "NOT_FOUND")


async def raw_request(app: Starlette, path: str, method: str = "GET") -> tuple[int, bytes]:
    """Call the app with `path` exactly as given (clients normalize `..` before sending)."""
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
        "state": {},
    }
    await app(scope, receive, send)
    status = next(m["status"] for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return status, body


@pytest.mark.parametrize(
    "path",
    [
        "/media/avatars/../../../../etc/passwd",  # dot segments as sent by a raw client
        "/media/avatars/..",
        "/media/avatars/.",
        "/media/avatars/../avatars/" + VALID_LOOKING,
        "/media/avatars//etc/passwd",  # an absolute path after the prefix
        "/media/avatars/%2Fetc%2Fpasswd",  # an encoded slash, never decoded by us
        "/media/avatars/..%2F..%2Fsecret",
        "/media/avatars/..\\..\\etc\\passwd",
        "/media/avatars/" + VALID_LOOKING + "\x00.png",
        "/media/avatars/" + VALID_LOOKING.replace(".webp", ".html"),
    ],
)
async def test_names_leaving_the_folder_are_404(
    app: Starlette, client: httpx.AsyncClient, stored: Path, path: str
) -> None:
    status, body = await raw_request(app, path)
    assert status == 404
    assert b"root:" not in body


async def test_dot_segments_are_404_through_a_real_client_too(
    client: httpx.AsyncClient, stored: Path
) -> None:
    # httpx resolves the dots itself; the result is outside /media/avatars.
    response = await client.get(f"/media/avatars/../avatars/{stored.name}/../../../etc/passwd")
    assert response.status_code == 404


async def test_a_symlink_under_a_valid_name_is_404(
    app: Starlette, client: httpx.AsyncClient, stored: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.webp"
    secret.write_bytes(read(stored))
    os.symlink(secret, stored.parent / VALID_LOOKING)
    assert (await client.get(f"/media/avatars/{VALID_LOOKING}")).status_code == 404
    # The real file, beside it, is still served.
    assert (await client.get(f"/media/avatars/{stored.name}")).status_code == 200


async def test_a_folder_under_a_valid_name_is_404(client: httpx.AsyncClient, stored: Path) -> None:
    (stored.parent / VALID_LOOKING).mkdir()
    assert (await client.get(f"/media/avatars/{VALID_LOOKING}")).status_code == 404


async def test_a_file_media_did_not_write_is_404(client: httpx.AsyncClient, stored: Path) -> None:
    (stored.parent / VALID_LOOKING).write_bytes(b"<html><script>alert(1)</script></html>")
    assert (await client.get(f"/media/avatars/{VALID_LOOKING}")).status_code == 404


async def test_temporary_files_are_never_served(client: httpx.AsyncClient, stored: Path) -> None:
    temporary = f".{VALID_LOOKING}.0123456789abcdef.tmp"
    (stored.parent / temporary).write_bytes(read(stored))
    assert (await client.get(f"/media/avatars/{temporary}")).status_code == 404


def test_new_names_match_what_is_served() -> None:
    names = AvatarNames.new()
    assert names.thumbnail_name == names.file_name.removesuffix(".webp") + ".thumb.webp"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\x89PNG\r\n\x1a\n....", "image/png"),
        (b"\xff\xd8\xff\xe0", "image/jpeg"),
        (b"GIF89a", "image/gif"),
        (b"XXXX\x00\x00\x00\x00WEBPVP8 ", None),
        (b"<html>", None),
    ],
)
def test_content_type_comes_from_the_bytes(head: bytes, expected: str | None) -> None:
    assert sniff_content_type(head) == expected


async def test_a_file_larger_than_one_chunk_is_streamed_whole(
    client: httpx.AsyncClient, stored: Path
) -> None:
    big = encode(Image.effect_noise((700, 700), 90).convert("RGB"), "WEBP", lossless=True)
    assert len(big) > 3 * CHUNK_SIZE
    write(stored.parent / VALID_LOOKING, big)
    response = await client.get(f"/media/avatars/{VALID_LOOKING}")
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(big))
    assert response.content == big
