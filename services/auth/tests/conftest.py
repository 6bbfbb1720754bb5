"""Fixtures of the auth tests: the app on a fresh database, and small account helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from anime_auth.app import MIGRATIONS, create_app
from anime_auth.settings import ARGON2_MIN_MEMORY_KIB, ARGON2_MIN_TIME_COST, AuthSettings
from anime_common import Migrations, app_context, load_settings
from anime_devstack.asgi import serve_asgi

PASSWORD = "correct horse battery"

# OWASP's floor (the lowest the settings accept) keeps the suite fast; production defaults
# are higher (see AuthSettings).
FAST_HASHING: dict[str, Any] = {
    "ARGON2_MEMORY_KIB": ARGON2_MIN_MEMORY_KIB,
    "ARGON2_TIME_COST": ARGON2_MIN_TIME_COST,
}

MakeSettings = Callable[..., AuthSettings]


@pytest.fixture(scope="session")
def service_migrations() -> Migrations:
    """What the root conftest's `database_url` migrates each test's database to."""
    return MIGRATIONS


@pytest.fixture
def make_settings(database_url: str, service_env: Callable[[str], None]) -> MakeSettings:
    service_env(database_url)

    def make(**overrides: Any) -> AuthSettings:
        return load_settings(AuthSettings, **{**FAST_HASHING, **overrides})

    return make


@pytest.fixture
def settings(make_settings: MakeSettings) -> AuthSettings:
    return make_settings()


@pytest.fixture
def app(settings: AuthSettings) -> Starlette:
    return create_app(settings)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_asgi(app) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(
    client: httpx.AsyncClient, email: str = "viewer@example.com", **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        "/auth/register", json={"email": email, "password": PASSWORD, **extra}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def login(
    client: httpx.AsyncClient, email: str = "viewer@example.com", password: str = PASSWORD
) -> httpx.Response:
    return await client.post("/auth/login", json={"email": email, "password": password})


async def execute(app: Starlette, statement: str, **params: Any) -> list[Any]:
    """Run SQL against the app's database (to age a session, change a role, ...)."""
    from sqlalchemy import text

    async with app_context(app).database.transaction() as session:
        result = await session.execute(text(statement), params)
        return list(result.all()) if result.returns_rows else []
