"""Avatars through the gateway: upload (PATCH /users/me, media → auth), then fetch and decode.

Runs against the whole stack (`stack` and `gateway` fixtures of conftest.py).
"""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from PIL import Image

from anime_devstack.assertions import assert_envelope
from anime_e2e.fixtures import bearer, register_account

pytestmark = pytest.mark.e2e


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.linear_gradient("L").resize((width, height)).convert("RGB").save(buffer, "PNG")
    return buffer.getvalue()


def _upload(gateway: httpx.Client, registered: dict[str, Any], data: bytes) -> httpx.Response:
    return gateway.patch(
        "/users/me",
        files={"avatar": ("me.png", data, "image/png")},
        headers=bearer(registered["access_token"]),
    )


def test_upload_then_fetch_the_avatar_through_the_gateway(gateway: httpx.Client) -> None:
    registered = register_account(gateway)
    response = _upload(gateway, registered, _png(900, 700))
    assert response.status_code == 200, response.text
    user = response.json()
    assert set(user) == set(registered["user"])
    assert user["id"] == registered["user"]["id"]
    assert user["avatar"].startswith("/media/avatars/")
    # auth answers the same avatar from now on.
    assert gateway.get("/users/me", headers=bearer(registered["access_token"])).json() == user

    image = gateway.get(user["avatar"])
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/webp"
    assert image.headers["x-content-type-options"] == "nosniff"
    assert "immutable" in image.headers["cache-control"]
    decoded = Image.open(io.BytesIO(image.content))
    assert (decoded.format, decoded.size) == ("WEBP", (512, 512))

    thumbnail = gateway.get(user["avatar"].removesuffix(".webp") + ".thumb.webp")
    assert thumbnail.status_code == 200
    assert Image.open(io.BytesIO(thumbnail.content)).size == (128, 128)

    cached = gateway.get(user["avatar"], headers={"If-None-Match": image.headers["etag"]})
    assert cached.status_code == 304


def test_replacing_the_avatar_retires_the_old_file(gateway: httpx.Client) -> None:
    registered = register_account(gateway)
    first = _upload(gateway, registered, _png(64, 64)).json()["avatar"]
    second = _upload(gateway, registered, _png(80, 80)).json()["avatar"]
    assert first != second
    assert gateway.get(first).status_code == 404
    replaced = gateway.get(second)
    assert replaced.status_code == 200
    assert Image.open(io.BytesIO(replaced.content)).size == (80, 80)


def test_refusals_through_the_gateway(gateway: httpx.Client) -> None:
    registered = register_account(gateway)
    not_an_image = _upload(gateway, registered, b"plain text, named .png")
    assert_envelope(not_an_image, 415, "UNSUPPORTED_MEDIA_TYPE")
    # Over media's 5 MiB, under the edge's 6 MiB: media's own 413, as an envelope.
    too_large = _upload(gateway, registered, b"\x00" * (5 * 1024 * 1024 + 1))
    assert_envelope(too_large, 413, "PAYLOAD_TOO_LARGE")
    no_token = gateway.patch("/users/me", files={"avatar": ("a.png", _png(8, 8), "image/png")})
    assert no_token.status_code == 401
    assert gateway.get(f"/media/avatars/{'A' * 32}.webp").status_code == 404
