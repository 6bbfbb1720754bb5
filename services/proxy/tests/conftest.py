"""Proxy fixtures: the fakes on real loopback ports, the proxy served in-process."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from anime_common import TokenVerifier, load_settings
from anime_devstack.asgi import serve_asgi
from anime_fakes import (
    FakeState,
    RunningFake,
    create_anilist_app,
    create_aniwatch_app,
    serve_in_thread,
)
from anime_proxy.app import create_app
from anime_proxy.settings import ProxySettings

SECRET_KEY = secrets.token_urlsafe(48)


@pytest.fixture(scope="session")
def _aniwatch_server() -> Iterator[RunningFake]:
    state = FakeState()
    with serve_in_thread(create_aniwatch_app(state)) as url:
        yield RunningFake(url, state)


@pytest.fixture
def aniwatch(_aniwatch_server: RunningFake) -> Iterator[RunningFake]:
    """The aniwatch-api fake, reset for each test."""
    _aniwatch_server.state.reset()
    _aniwatch_server.state.latency = 0.0
    yield _aniwatch_server
    _aniwatch_server.state.reset()


@pytest.fixture(scope="session")
def _anilist_server() -> Iterator[RunningFake]:
    state = FakeState()
    with serve_in_thread(create_anilist_app(state)) as url:
        yield RunningFake(url, state)


@pytest.fixture
def anilist(_anilist_server: RunningFake) -> Iterator[RunningFake]:
    _anilist_server.state.reset()
    yield _anilist_server
    _anilist_server.state.reset()


def proxy_settings(**overrides: Any) -> ProxySettings:
    # Fast failure paths for tests: tiny backoff, short timeouts.
    values: dict[str, Any] = {
        "SECRET_KEY": SECRET_KEY,
        "AUTH_SERVICE_URL": None,
        "UPSTREAM_READ_TIMEOUT": 1.0,
        "UPSTREAM_RETRY_BACKOFF": 0.001,
        "HEALTH_PROBE_TTL": 0.0,
        "HEALTH_PROBE_TIMEOUT": 1.0,
    }
    values.update(overrides)
    return load_settings(ProxySettings, **values)


ProxyFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def make_proxy(aniwatch: RunningFake, monkeypatch: pytest.MonkeyPatch) -> ProxyFactory:
    """`async with make_proxy(**settings) as client`: a proxy on the aniwatch fake."""
    for name in ("DATABASE_URL", "DB_HOST", "CATALOG_SERVICE_URL", "HIANIME_API_URL"):
        monkeypatch.delenv(name, raising=False)

    @asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        settings = proxy_settings(**{"HIANIME_API_URL": aniwatch.url, **overrides})
        async with serve_asgi(create_app(settings)) as client:
            yield client

    return make


@pytest.fixture
async def proxy(make_proxy: ProxyFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with make_proxy() as client:
        yield client


@pytest.fixture
def verifier() -> TokenVerifier:
    """Signs and checks tokens with the proxy's key (for user tokens and fake services)."""
    return TokenVerifier(proxy_settings())
