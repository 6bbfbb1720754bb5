from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

import httpx
import pytest

from anime_common import Principal, RevocationPoller, TokenVerifier, app_context, create_service_app

from .apps import ROUTES, make_settings

pytestmark = pytest.mark.anyio

VERIFIER = TokenVerifier(make_settings())


def _principal(session_id: str | None) -> Principal:
    return Principal(
        subject="u",
        token_id="t",
        session_id=session_id,
        permissions=frozenset(),
        expires_at=0,
        claims={},
    )


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


async def test_poll_merges_answers_follows_the_cursor_and_expires_entries() -> None:
    seen: list[httpx.Request] = []
    answers = [
        {
            "revocations": [
                {"session_id": "s-1", "expires_at": _iso(time.time() + 600)},
                {"session_id": "s-old", "expires_at": _iso(time.time() - 1)},
            ],
            "cursor": "2026-01-01T00:00:00Z",
        },
        {"revocations": [], "cursor": "2026-01-01T00:00:02Z"},
        "not the expected shape",
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answers[len(seen) - 1])

    poller = RevocationPoller(auth_url="http://auth", verifier=VERIFIER, service="catalog")
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        assert await poller.poll(client)
        assert await poller(_principal("s-1"))
        assert not await poller(_principal("s-old"))
        assert not await poller(_principal(None))
        assert await poller.poll(client)
        assert not await poller.poll(client)
    assert await poller(_principal("s-1"))
    assert "since" not in seen[0].url.params
    assert seen[1].url.params["since"] == "2026-01-01T00:00:00Z"
    token = seen[0].headers["authorization"].removeprefix("Bearer ")
    principal = VERIFIER.decode(token)
    assert principal.subject == "service:catalog"
    assert principal.permissions == frozenset({"internal"})


async def test_server_errors_keep_the_last_set_and_warn_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    poller = RevocationPoller(auth_url="http://auth", verifier=VERIFIER, service="catalog")
    statuses = [200, 503, 503, 200]
    body = {
        "revocations": [{"session_id": "s-1", "expires_at": _iso(time.time() + 60)}],
        "cursor": "c",
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(statuses.pop(0), json=body)

    with caplog.at_level(logging.DEBUG, logger="anime_common.revocation"):
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            assert await poller.poll(client)
            assert not await poller.poll(client)
            assert not await poller.poll(client)
            assert poller.revoked_sessions == frozenset({"s-1"})
            assert await poller.poll(client)
    levels = [record.levelname for record in caplog.records]
    assert levels == ["WARNING", "DEBUG", "INFO"]


async def test_service_app_polls_auth_in_the_background() -> None:
    polled = asyncio.Event()
    settings = make_settings(AUTH_SERVICE_URL="http://auth", REVOCATION_POLL_SECONDS=0.01)
    app = create_service_app(name="catalog", settings=settings, routes=ROUTES, migrations=None)
    poller: RevocationPoller = app_context(app).poller
    assert app_context(app).verifier.revocation is poller

    def handler(request: httpx.Request) -> httpx.Response:
        polled.set()
        return httpx.Response(200, json={"revocations": [], "cursor": "c"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        poller.start(client)
        poller.start(client)  # a second start is a no-op
        await asyncio.wait_for(polled.wait(), 5)
        await poller.stop()
        await poller.stop()


def test_auth_and_unconfigured_services_do_not_poll() -> None:
    with_url = make_settings(AUTH_SERVICE_URL="http://auth")
    auth = create_service_app(name="auth", settings=with_url, routes=ROUTES, migrations=None)
    plain = create_service_app(
        name="media", settings=make_settings(), routes=ROUTES, migrations=None
    )
    assert app_context(auth).poller is None
    assert app_context(plain).poller is None
