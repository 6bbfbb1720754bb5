"""PATCH /users/me: the whole upload, with the real auth service answering over HTTP."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import text
from starlette.applications import Starlette

from anime_common import app_context
from anime_devstack.asgi import serve_asgi
from anime_devstack.assertions import assert_envelope
from anime_devstack.ports import free_port
from anime_media.app import create_app
from anime_media.settings import MediaSettings

from .conftest import (
    Account,
    AuthServer,
    MakeMediaSettings,
    auth_user,
    avatar_files,
    bearer,
    register,
    token_for,
)
from .images import (
    FORMATS,
    INFLATING,
    decoded,
    encode,
    image_bytes,
    picture,
    png_declaring,
    png_with_chunk,
)

pytestmark = pytest.mark.anyio

USER_FIELDS = {
    "id",
    "email",
    "username",
    "avatar",
    "is_active",
    "role",
    "permissions",
    "created_at",
}


async def upload(
    client: httpx.AsyncClient,
    account: Account,
    data: bytes,
    *,
    filename: str = "me.png",
    content_type: str = "image/png",
) -> httpx.Response:
    return await client.patch(
        "/users/me", files={"avatar": (filename, data, content_type)}, headers=account.headers
    )


async def avatar_rows(app: Starlette) -> list[dict[str, object]]:
    async with app_context(app).database.transaction() as session:
        result = await session.execute(text("SELECT * FROM media.avatars ORDER BY created_at"))
        return [dict(row._mapping) for row in result]


@pytest.mark.parametrize("image_format", sorted(FORMATS))
async def test_each_format_becomes_a_square_webp_avatar_and_thumbnail(
    client: httpx.AsyncClient,
    account: Account,
    auth_server: AuthServer,
    media_root: Path,
    image_format: str,
) -> None:
    data = image_bytes(image_format, 800, 600)
    # The declared name and type lie on purpose: only the content counts.
    response = await upload(client, account, data, filename="x.txt", content_type="text/plain")

    assert response.status_code == 200, response.text
    user = response.json()
    assert set(user) == USER_FIELDS
    assert user["id"] == str(account.id)
    assert user["avatar"].startswith("/media/avatars/")
    name = user["avatar"].removeprefix("/media/avatars/")
    assert await auth_user(auth_server.url, account) == user

    stored = decoded((media_root / "avatars" / name).read_bytes())
    assert (stored.format, stored.size) == ("WEBP", (512, 512))
    thumbnail_name = name.removesuffix(".webp") + ".thumb.webp"
    thumbnail = decoded((media_root / "avatars" / thumbnail_name).read_bytes())
    assert (thumbnail.format, thumbnail.size) == ("WEBP", (128, 128))
    assert avatar_files(media_root) == {name, thumbnail_name}


async def test_row_records_the_current_files(
    app: Starlette, client: httpx.AsyncClient, account: Account
) -> None:
    response = await upload(client, account, image_bytes("JPEG", 300, 200))
    assert response.status_code == 200, response.text
    name = response.json()["avatar"].removeprefix("/media/avatars/")

    [row] = await avatar_rows(app)
    assert row["user_id"] == account.id
    assert row["file_name"] == name
    assert row["thumbnail_name"] == name.removesuffix(".webp") + ".thumb.webp"
    assert row["content_type"] == "image/webp"
    # Smaller than AVATAR_SIZE: the shorter side, not upscaled.
    assert (row["side"], row["thumbnail_side"]) == (200, 128)
    assert (row["source_format"], row["source_width"], row["source_height"]) == ("JPEG", 300, 200)


async def test_names_are_random_and_unguessable(
    client: httpx.AsyncClient, account: Account
) -> None:
    data = image_bytes("PNG", 64, 64)
    first = (await upload(client, account, data)).json()["avatar"]
    second = (await upload(client, account, data)).json()["avatar"]
    assert first != second
    # 32 URL-safe characters: 192 random bits.
    assert len(first.removeprefix("/media/avatars/").removesuffix(".webp")) == 32


async def test_replacing_removes_the_old_files_only_after_success(
    app: Starlette, client: httpx.AsyncClient, account: Account, media_root: Path
) -> None:
    first = (await upload(client, account, image_bytes("PNG", 100, 100))).json()["avatar"]
    first_files = avatar_files(media_root)
    assert len(first_files) == 2

    refused = await upload(client, account, b"not an image at all")
    assert refused.status_code == 415
    assert avatar_files(media_root) == first_files

    second = (await upload(client, account, image_bytes("GIF", 100, 100))).json()["avatar"]
    assert second != first
    name = second.removeprefix("/media/avatars/")
    assert avatar_files(media_root) == {name, name.removesuffix(".webp") + ".thumb.webp"}
    assert [row["file_name"] for row in await avatar_rows(app)] == [name]


async def test_exif_orientation_is_applied_and_exif_dropped(
    client: httpx.AsyncClient, account: Account, media_root: Path
) -> None:
    # Left half white, right half black; orientation 6 = "rotate 90° clockwise to view".
    image = picture(400, 200).convert("L").point(lambda _: 0).convert("RGB")
    image.paste((255, 255, 255), (0, 0, 200, 200))
    exif = image.getexif()
    exif[0x0112] = 6
    exif[0x010F] = "SecretCam"  # Make
    data = encode(image, "JPEG", exif=exif.tobytes(), quality=95)

    response = await upload(client, account, data)
    assert response.status_code == 200, response.text
    stored_bytes = (media_root / "avatars" / response.json()["avatar"].split("/")[-1]).read_bytes()
    assert b"SecretCam" not in stored_bytes
    stored = decoded(stored_bytes).convert("L")
    assert not stored.getexif()
    # Viewed upright, the white half is on top.
    assert stored.getpixel((100, 20)) > 200
    assert stored.getpixel((100, 180)) < 50


async def test_a_polyglot_loses_its_trailing_script(
    client: httpx.AsyncClient, account: Account, media_root: Path
) -> None:
    payload = b"<html><script>alert(document.cookie)</script></html>"
    response = await upload(client, account, image_bytes("PNG", 120, 90) + payload)
    assert response.status_code == 200, response.text
    for name in avatar_files(media_root):
        content = (media_root / "avatars" / name).read_bytes()
        assert b"<script" not in content
        assert b"alert" not in content


async def test_transparency_is_kept(
    client: httpx.AsyncClient, account: Account, media_root: Path
) -> None:
    image = picture(64, 64, mode="RGBA")
    image.putalpha(0)
    response = await upload(client, account, encode(image, "PNG"))
    assert response.status_code == 200, response.text
    stored = decoded(
        (media_root / "avatars" / response.json()["avatar"].split("/")[-1]).read_bytes()
    )
    assert stored.mode == "RGBA"
    assert stored.getpixel((10, 10))[3] == 0


# --- refusals -------------------------------------------------------------------------


async def test_text_named_jpg_is_415(
    client: httpx.AsyncClient, account: Account, media_root: Path
) -> None:
    response = await upload(
        client, account, b"just some text\n" * 10, filename="me.jpg", content_type="image/jpeg"
    )
    assert_envelope(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert avatar_files(media_root) == set()


@pytest.mark.parametrize("image_format", ["BMP", "TIFF", "ICO"])
async def test_other_image_formats_are_415(
    client: httpx.AsyncClient, account: Account, image_format: str
) -> None:
    response = await upload(client, account, image_bytes(image_format, 32, 32))
    assert response.status_code == 415


async def test_truncated_image_is_415(client: httpx.AsyncClient, account: Account) -> None:
    data = image_bytes("PNG", 300, 300)
    response = await upload(client, account, data[: len(data) // 2])
    assert response.status_code == 415


@pytest.mark.parametrize(
    "data",
    [
        png_with_chunk(b"zTXt", b"Comment\x00\x00" + INFLATING),
        png_with_chunk(b"iCCP", b"icc\x00\x00" + INFLATING),
        png_with_chunk(b"iTXt", b"Comment\x00\x01\x00\x00\x00" + INFLATING),
    ],
    ids=["zTXt", "iCCP", "iTXt"],
)
async def test_a_chunk_that_inflates_like_a_bomb_is_413(
    client: httpx.AsyncClient, account: Account, media_root: Path, data: bytes
) -> None:
    response = await upload(client, account, data)
    assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")
    assert avatar_files(media_root) == set()


@pytest.mark.parametrize(
    "data",
    [
        b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00" + b"\xff" * 40,
        b"RIFF\xe8\x03\x00\x00WEBPVP8L\x00\x00\x00\x00\x2f" + b"garbage" * 50,
        b"RIFF\xe8\x03\x00\x00WEBPVP8X" + b"garbage" * 50,
    ],
    ids=["VP8", "VP8L", "VP8X"],
)
async def test_a_webp_header_with_garbage_is_refused_and_nothing_stored(
    client: httpx.AsyncClient, account: Account, media_root: Path, data: bytes
) -> None:
    response = await upload(client, account, data)
    assert response.status_code in (413, 415), response.text
    assert response.json()["code"] in ("PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE")
    assert avatar_files(media_root) == set()


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (5000, 5000),  # over AVATAR_MAX_PIXELS (24 MP), under Pillow's own limit
        (10_000, 10_000),  # over Pillow's MAX_IMAGE_PIXELS: its warning, made our refusal
        (100_000, 100_000),  # over twice Pillow's limit: its DecompressionBombError
    ],
)
async def test_decompression_bomb_is_refused(
    client: httpx.AsyncClient, account: Account, media_root: Path, width: int, height: int
) -> None:
    response = await upload(client, account, png_declaring(width, height))
    assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")
    assert "pixels" in response.json()["message"]
    assert avatar_files(media_root) == set()


async def test_no_token_is_401_and_the_body_is_not_read(client: httpx.AsyncClient) -> None:
    response = await client.patch(
        "/users/me", files={"avatar": ("a.png", image_bytes("PNG", 8, 8), "image/png")}
    )
    assert_envelope(response, 401, "AUTH_ERROR")


async def test_token_without_write_profile_is_403(
    client: httpx.AsyncClient, account: Account, settings: MediaSettings
) -> None:
    token = token_for(account.id, ["read:profile", "read:content"], settings=settings)
    response = await client.patch(
        "/users/me",
        files={"avatar": ("a.png", image_bytes("PNG", 8, 8), "image/png")},
        headers=bearer(token),
    )
    assert_envelope(response, 403, "PERMISSION_DENIED")


async def test_a_service_token_has_no_avatar(
    client: httpx.AsyncClient, settings: MediaSettings
) -> None:
    token = token_for("service:catalog", ["write:profile"], settings=settings)
    response = await client.patch(
        "/users/me",
        files={"avatar": ("a.png", image_bytes("PNG", 8, 8), "image/png")},
        headers=bearer(token),
    )
    # A service token opens /internal routes only; on a public one it is no credential.
    assert_envelope(response, 401, "AUTH_ERROR")


async def test_user_unknown_to_auth_is_404_and_leaves_nothing(
    app: Starlette, client: httpx.AsyncClient, settings: MediaSettings, media_root: Path
) -> None:
    token = token_for(uuid.uuid4(), ["write:profile"], settings=settings)
    response = await client.patch(
        "/users/me",
        files={"avatar": ("a.png", image_bytes("PNG", 8, 8), "image/png")},
        headers=bearer(token),
    )
    assert response.status_code == 404
    assert avatar_files(media_root) == set()
    assert await avatar_rows(app) == []


# --- auth unavailable ---------------------------------------------------------------


async def test_auth_unavailable_is_503_with_no_orphan_file_and_the_old_avatar_kept(
    make_settings: MakeMediaSettings, auth_server: AuthServer, media_root: Path
) -> None:
    account = await register(auth_server.url)
    healthy = create_app(make_settings())
    async with serve_asgi(healthy) as client:
        before = await upload(client, account, image_bytes("PNG", 50, 50))
    assert before.status_code == 200
    files_before = avatar_files(media_root)

    # Nothing listens on this port: auth is down as far as media can tell.
    cut_off = create_app(make_settings(AUTH_SERVICE_URL=f"http://127.0.0.1:{free_port()}"))
    async with serve_asgi(cut_off) as client:
        response = await upload(client, account, image_bytes("JPEG", 80, 60))
        rows = await avatar_rows(cut_off)
    assert_envelope(response, 503, "SERVICE_UNAVAILABLE")
    assert avatar_files(media_root) == files_before
    assert [row["file_name"] for row in rows] == [before.json()["avatar"].split("/")[-1]]
    assert (await auth_user(auth_server.url, account))["avatar"] == before.json()["avatar"]


@pytest.mark.parametrize("image_format", ["GIF", "WEBP", "MPO"])
async def test_multi_frame_files_become_a_still_of_the_first_frame(
    app: Starlette, client: httpx.AsyncClient, account: Account, image_format: str
) -> None:
    # MPO: what phones write (a JPEG with a second picture appended); Pillow reads it as JPEG.
    frames = [picture(90, 90), picture(90, 90).transpose(Image.Transpose.ROTATE_90)]
    if image_format == "GIF":
        frames = [frame.convert("P") for frame in frames]
    data = encode(frames[0], image_format, save_all=True, append_images=frames[1:])
    response = await upload(client, account, data)
    assert response.status_code == 200, response.text
    [row] = await avatar_rows(app)
    assert row["side"] == 90


async def test_a_failing_disk_is_503_and_leaves_nothing(
    app: Starlette,
    client: httpx.AsyncClient,
    account: Account,
    media_root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("anime_media.storage.os.fsync", full_disk)
    response = await upload(client, account, image_bytes("PNG", 20, 20))
    assert response.status_code == 503
    assert response.json()["message"] == "Avatar storage is unavailable"
    assert avatar_files(media_root) == set()
    assert await avatar_rows(app) == []
