"""Revocation across services: anime_common's poller against the real auth app."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from anime_auth.settings import AuthSettings
from anime_common import (
    CommonSettings,
    JSONResponse,
    RevocationPoller,
    app_context,
    create_service_app,
    current_principal,
    requires,
)
from anime_devstack.asgi import serve_asgi
from anime_devstack.assertions import assert_envelope

from .conftest import bearer, execute, login, register

pytestmark = pytest.mark.anyio


@requires("read:content")
async def protected(request: Request) -> Response:
    return JSONResponse({"sub": current_principal(request).subject})


def _library(settings: AuthSettings) -> Starlette:
    """Another service: same key, no database, polling auth (the URL is the in-process app)."""
    library_settings = CommonSettings(
        SECRET_KEY=settings.SECRET_KEY,
        DB_HOST="unused",
        AUTH_SERVICE_URL="http://auth.internal",
        REVOCATION_POLL_SECONDS=0.05,
    )
    return create_service_app(
        name="library",
        settings=library_settings,
        routes=[Route("/favorites", protected, methods=["GET"])],
        migrations=None,
    )


@asynccontextmanager
async def _polling_library(
    app: Starlette, settings: AuthSettings
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, RevocationPoller]]:
    """The other service, its client, and auth reached in-process by its poller."""
    library = _library(settings)
    poller: RevocationPoller = app_context(library).poller
    auth_transport = httpx.ASGITransport(app=app)
    async with (
        serve_asgi(library) as library_client,
        httpx.AsyncClient(transport=auth_transport, base_url="http://auth.internal") as to_auth,
    ):
        # The library's own client reaches auth in-process instead of over the network.
        await poller.stop()
        poller.start(to_auth)
        yield library_client, to_auth, poller


async def test_another_service_refuses_a_logged_out_session(
    app: Starlette, settings: AuthSettings, client: httpx.AsyncClient
) -> None:
    body = await register(client)
    async with _polling_library(app, settings) as (library_client, to_auth, poller):
        headers = bearer(body["access_token"])
        assert (await library_client.get("/favorites", headers=headers)).status_code == 200

        await client.post("/auth/logout", json={"refresh_token": body["refresh_token"]})
        assert await poller.poll(to_auth)
        refused = await library_client.get("/favorites", headers=headers)
        assert refused.status_code == 401
        assert refused.json()["message"] == "Token has been revoked"

        other = await register(client, "other@example.com")
        assert (
            await library_client.get("/favorites", headers=bearer(other["access_token"]))
        ).status_code == 200


async def test_poller_keeps_what_it_knows_while_auth_is_down(
    app: Starlette,
    settings: AuthSettings,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = await register(client)
    await client.post("/auth/logout", json={"refresh_token": body["refresh_token"]})
    poller = RevocationPoller(
        auth_url="http://auth.internal/",
        verifier=app_context(app).verifier,
        service="media",
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://auth.internal"
    ) as to_auth:
        assert await poller.poll(to_auth)
    assert len(poller.revoked_sessions) == 1

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with caplog.at_level(logging.WARNING, logger="anime_common.revocation"):
        async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as broken:
            assert not await poller.poll(broken)
    assert len(poller.revoked_sessions) == 1
    assert "revocations not refreshed" in caplog.text


@pytest.mark.parametrize(
    ("closing", "reason"),
    [
        ("UPDATE auth.users SET is_active = false WHERE id = :id", "account_deactivated"),
        ("DELETE FROM auth.users WHERE id = :id", "account_deleted"),
    ],
)
async def test_closing_an_account_revokes_every_session_everywhere(
    app: Starlette, settings: AuthSettings, client: httpx.AsyncClient, closing: str, reason: str
) -> None:
    first = await register(client)
    second = (await login(client, first["user"]["email"])).json()
    async with _polling_library(app, settings) as (library_client, to_auth, poller):
        tokens = [bearer(first["access_token"]), bearer(second["access_token"])]
        for headers in tokens:
            assert (await library_client.get("/favorites", headers=headers)).status_code == 200

        # However the account is closed (here straight in SQL), its sessions end with it.
        await execute(app, closing, id=first["user"]["id"])
        assert await poller.poll(to_auth)
        for headers in tokens:
            assert (await library_client.get("/favorites", headers=headers)).status_code == 401
            assert (await client.get("/auth/sessions", headers=headers)).status_code == 401
    reasons = await execute(
        app, "SELECT DISTINCT revoked_reason FROM auth.sessions WHERE revoked_at IS NOT NULL"
    )
    assert [row[0] for row in reasons] == [reason]
    refused = await client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert refused.status_code == 401


async def test_auth_refuses_a_session_it_does_not_hold(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    body = await register(client)
    verifier = app_context(app).verifier
    forged = verifier.issue(
        subject=body["user"]["id"],
        permissions=["read:profile"],
        expires_in=300,
        session_id=str(uuid.uuid4()),
    )
    response = await client.get("/auth/sessions", headers=bearer(forged))
    assert_envelope(response, 401, "AUTH_ERROR")
