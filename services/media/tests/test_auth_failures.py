"""Every way auth can fail an upload, and that nothing is left half-done by any of them.

A stand-in auth (a small Starlette app under uvicorn, on a real port) misbehaves
on purpose: errors, a wrong shape, silence past the read timeout, and, the
hardest case, a valid answer while media's own database connection is killed
before its commit. The real auth covers the happy paths (test_avatars.py).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from anime_common import app_context, asyncpg_dsn
from anime_devstack.asgi import serve_asgi
from anime_devstack.assertions import assert_envelope
from anime_fakes import serve_in_thread
from anime_media.app import create_app
from anime_media.settings import MediaSettings

from .conftest import MakeMediaSettings, avatar_files, bearer, token_for
from .images import image_bytes

pytestmark = pytest.mark.anyio


class FaultyAuth:
    """Answers PUT /internal/users/{id}/avatar as told by `modes`, one per call (then "ok")."""

    def __init__(self) -> None:
        self.modes: list[str] = []
        self.calls: list[dict[str, Any]] = []
        self.database_url = ""
        self.url = ""
        self.app = Starlette(
            routes=[
                Route("/internal/users/{user_id}/avatar", self.set_avatar, methods=["PUT"]),
                Route("/internal/revocations", self.revocations, methods=["GET"]),
            ]
        )

    async def revocations(self, request: Request) -> Response:
        return JSONResponse({"revocations": [], "cursor": "0"})

    async def set_avatar(self, request: Request) -> Response:
        body = await request.json()
        self.calls.append({"authorization": request.headers.get("authorization"), **body})
        mode = self.modes.pop(0) if self.modes else "ok"
        if mode == "500":
            return JSONResponse({"code": "INTERNAL_ERROR"}, status_code=500)
        if mode == "401":
            return JSONResponse({"code": "AUTH_ERROR"}, status_code=401)
        if mode == "shape":
            return JSONResponse({"id": request.path_params["user_id"]})
        if mode == "hang":
            await asyncio.sleep(2)
        if mode == "kill-media":
            await self._kill_media_transactions()
        return JSONResponse(
            {
                "id": request.path_params["user_id"],
                "email": "someone@example.com",
                "username": "someone",
                "avatar": body["avatar"],
                "is_active": True,
                "role": "user",
                "permissions": ["write:profile"],
                "created_at": "2026-11-27T09:00:00Z",
            }
        )

    async def _kill_media_transactions(self) -> None:
        # Media waits on this answer inside its open transaction: end that connection.
        connection = await asyncpg.connect(asyncpg_dsn(self.database_url))
        try:
            await connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'media' AND state = 'idle in transaction'"
            )
        finally:
            await connection.close()


@pytest.fixture
def faulty_auth() -> Iterator[FaultyAuth]:
    auth = FaultyAuth()
    with serve_in_thread(auth.app, lifespan="on") as url:
        auth.url = url
        yield auth


@pytest.fixture
def faulty_settings(
    make_settings: MakeMediaSettings, faulty_auth: FaultyAuth, database_url: str
) -> MediaSettings:
    faulty_auth.database_url = database_url
    return make_settings(
        AUTH_SERVICE_URL=faulty_auth.url,
        HTTP_READ_TIMEOUT=0.5,
    )


async def _rows(client_app: Starlette) -> list[str]:
    async with app_context(client_app).database.transaction() as session:
        result = await session.execute(text("SELECT file_name FROM media.avatars"))
        return [row[0] for row in result]


async def _upload(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.patch(
        "/users/me",
        files={"avatar": ("a.png", image_bytes("PNG", 40, 40), "image/png")},
        headers=bearer(token),
    )


@pytest.mark.parametrize(
    ("mode", "status", "code"),
    [
        ("500", 503, "SERVICE_UNAVAILABLE"),
        ("401", 500, "INTERNAL_ERROR"),
        ("shape", 502, "BAD_GATEWAY"),
    ],
)
async def test_a_refusal_leaves_nothing_behind(
    faulty_settings: MediaSettings,
    faulty_auth: FaultyAuth,
    media_root: Path,
    mode: str,
    status: int,
    code: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = token_for(uuid.uuid4(), ["write:profile"], settings=faulty_settings)
    app = create_app(faulty_settings)
    async with serve_asgi(app) as client:
        faulty_auth.modes = [mode]
        with caplog.at_level(logging.ERROR, logger="anime_media"):
            response = await _upload(client, token)
        rows = await _rows(app)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert avatar_files(media_root) == set()
    assert rows == []
    # One call, with a service token, never repeated: the refusal was definite.
    assert len(faulty_auth.calls) == 1
    assert faulty_auth.calls[0]["authorization"].startswith("Bearer ")


async def test_silence_past_the_timeout_is_504_and_the_old_avatar_is_put_back(
    faulty_settings: MediaSettings, faulty_auth: FaultyAuth, media_root: Path
) -> None:
    token = token_for(uuid.uuid4(), ["write:profile"], settings=faulty_settings)
    app = create_app(faulty_settings)
    async with serve_asgi(app) as client:
        first = await _upload(client, token)
        assert first.status_code == 200, first.text
        files_before = avatar_files(media_root)

        faulty_auth.modes = ["hang"]
        response = await _upload(client, token)
        rows = await _rows(app)
    assert_envelope(response, 504, "GATEWAY_TIMEOUT")
    assert avatar_files(media_root) == files_before
    assert rows == [first.json()["avatar"].split("/")[-1]]
    # The hung call may have landed: media set the previous avatar again.
    first_call, hung, restore = (call["avatar"] for call in faulty_auth.calls)
    assert first_call == first.json()["avatar"]
    assert hung != first_call
    assert restore == first_call


async def test_a_failed_restore_is_logged(
    faulty_settings: MediaSettings,
    faulty_auth: FaultyAuth,
    media_root: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = token_for(uuid.uuid4(), ["write:profile"], settings=faulty_settings)
    async with serve_asgi(create_app(faulty_settings)) as client:
        faulty_auth.modes = ["hang", "500"]
        with caplog.at_level(logging.ERROR, logger="anime_media"):
            response = await _upload(client, token)
    assert response.status_code == 504
    assert avatar_files(media_root) == set()
    assert [call["avatar"] for call in faulty_auth.calls][1] is None
    assert any("could not restore the avatar" in record.message for record in caplog.records)


async def test_a_failed_commit_after_auth_agreed_is_undone_at_auth(
    faulty_settings: MediaSettings, faulty_auth: FaultyAuth, media_root: Path
) -> None:
    token = token_for(uuid.uuid4(), ["write:profile"], settings=faulty_settings)
    app = create_app(faulty_settings)
    async with serve_asgi(app) as client:
        faulty_auth.modes = ["kill-media"]
        response = await _upload(client, token)
        rows = await _rows(app)
    assert response.status_code == 503, response.text
    assert avatar_files(media_root) == set()
    assert rows == []
    # Auth accepted the new path, then was told to go back to none.
    assert [call["avatar"] is None for call in faulty_auth.calls] == [False, True]
