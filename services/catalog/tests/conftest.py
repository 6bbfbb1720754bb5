"""Catalog fixtures: one demo-seeded database per test module, served in-process."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import create_async_engine

from anime_catalog.app import MIGRATIONS, create_app
from anime_catalog.cli import seed_demo
from anime_catalog.proxy_client import AnimeImporter
from anime_catalog.settings import CatalogSettings
from anime_common import Migrations, TokenVerifier, load_settings
from anime_devstack.asgi import serve_asgi

SECRET_KEY = secrets.token_urlsafe(48)


def catalog_settings(database_url: str) -> CatalogSettings:
    return load_settings(CatalogSettings, DATABASE_URL=database_url, SECRET_KEY=SECRET_KEY)


# Modules mint their headers when pytest imports them; a slow run reached tests
# more than 300 s after that (CI, 2026-12-07: two 401 "Token has expired").
SERVICE_TOKEN_SECONDS = 3600


def service_token(*, permissions: tuple[str, ...] = ("internal",)) -> str:
    verifier = TokenVerifier(catalog_settings("postgresql://unused/db"))
    return verifier.issue(
        subject="service:test", permissions=permissions, expires_in=SERVICE_TOKEN_SECONDS
    )


async def seed(database_url: str) -> int:
    engine = create_async_engine(database_url, poolclass=pool.NullPool)
    try:
        return await seed_demo(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
async def demo_url(
    create_migrated_database: Callable[[str, Migrations], Awaitable[str]],
) -> str:
    """A database with the demo catalog, shared by the tests of one module (they only read)."""
    url = await create_migrated_database("catalog", MIGRATIONS)
    assert await seed(url) > 60
    return url


@pytest.fixture(scope="session")
def service_migrations() -> Migrations:
    """What the root conftest's `database_url` migrates each test's database to."""
    return MIGRATIONS


@pytest.fixture(scope="module")
async def client(demo_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_asgi(create_app(catalog_settings(demo_url))) as client:
        yield client


def make_client(
    database_url: str, *, importer: AnimeImporter | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """An app on a fresh database (for tests that write)."""
    return _serve(database_url, importer)


async def _serve(
    database_url: str, importer: AnimeImporter | None
) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_asgi(create_app(catalog_settings(database_url), importer=importer)) as client:
        yield client
