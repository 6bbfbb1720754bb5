"""Revocation across services: anime_common's poller against the real auth app."""

from __future__ import annotations

import logging

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
    create_service_app,
    current_principal,
    requires,
)
from anime_devstack.asgi import serve_asgi

from .conftest import bearer, register

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


async def test_another_service_refuses_a_logged_out_session(
    app: Starlette, settings: AuthSettings, client: httpx.AsyncClient
) -> None:
    body = await register(client)
    library = _library(settings)
    poller: RevocationPoller = library.state.revocation_poller
    auth_transport = httpx.ASGITransport(app=app)
    async with (
        serve_asgi(library) as library_client,
        httpx.AsyncClient(transport=auth_transport, base_url="http://auth.internal") as to_auth,
    ):
        # The library's own client reaches auth in-process instead of over the network.
        await poller.stop()
        poller.start(to_auth)
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
        verifier=app.state.token_verifier,
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
