"""Fixtures every test package shares: the anyio backend and a real PostgreSQL."""

from __future__ import annotations

import os
import secrets
from collections.abc import Awaitable, Callable, Iterator

import asyncpg
import pytest

from anime_devstack.testdb import admin_database_url

# A secret that passes the settings' checks; each run gets its own.
TEST_SECRET_KEY = secrets.token_urlsafe(48)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A URL allowed to create databases: DATABASE_URL, a container or a local cluster."""
    with admin_database_url() as url:
        yield url


def _plain_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@pytest.fixture(scope="session")
def create_database(postgres_admin_url: str) -> Callable[[str], Awaitable[str]]:
    """Make a fresh, empty database and return its asyncpg URL."""
    base, _, _ = postgres_admin_url.rpartition("/")

    async def create(prefix: str) -> str:
        name = f"{prefix}_{secrets.token_hex(4)}"
        connection = await asyncpg.connect(_plain_dsn(postgres_admin_url))
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        return f"{base}/{name}"

    return create


@pytest.fixture
async def database_url(create_database: Callable[[str], Awaitable[str]]) -> str:
    """A fresh database for one test."""
    return await create_database("t")


@pytest.fixture
def service_env(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Point the settings of a service under test at a database, with a valid secret."""

    def apply(database_url: str) -> None:
        for name in list(os.environ):
            if name.startswith("DB_") or name in {"DATABASE_URL", "ALLOWED_ORIGINS", "DEBUG"}:
                monkeypatch.delenv(name)
        monkeypatch.setenv("DATABASE_URL", database_url)
        monkeypatch.setenv("SECRET_KEY", TEST_SECRET_KEY)

    return apply


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--deep",
        action="store_true",
        default=False,
        help="tests/fuzz: many more generated requests per operation (minutes, not seconds)",
    )
    parser.addoption(
        "--fuzz-examples",
        type=int,
        default=None,
        help="tests/fuzz: generated requests per operation and mode (overrides --deep)",
    )
