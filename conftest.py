"""Fixtures every test package shares (the anyio backend, a real PostgreSQL), and the fuzz line."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import asyncpg
import pytest
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import create_async_engine

from anime_common import Migrations, asyncpg_dsn, migrate
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


CreateDatabase = Callable[..., Awaitable[str]]
CreateMigratedDatabase = Callable[[str, Migrations], Awaitable[str]]


@pytest.fixture(scope="session")
def create_database(postgres_admin_url: str) -> CreateDatabase:
    """`await create_database(prefix, template=None)`: a fresh database, its asyncpg URL.

    Without a template the database is empty (a copy of template1).
    """
    base, _, _ = postgres_admin_url.rpartition("/")

    async def create(prefix: str, *, template: str | None = None) -> str:
        name = f"{prefix}_{secrets.token_hex(4)}"
        clone = f' TEMPLATE "{template}"' if template else ""
        connection = await asyncpg.connect(asyncpg_dsn(postgres_admin_url))
        try:
            await connection.execute(f'CREATE DATABASE "{name}"{clone}')
        finally:
            await connection.close()
        return f"{base}/{name}"

    return create


@pytest.fixture(scope="session")
def create_migrated_database(
    postgres_admin_url: str, create_database: CreateDatabase
) -> CreateMigratedDatabase:
    """`await create_migrated_database(prefix, migrations)`: a fresh database at their head.

    Each schema is migrated once per session, into a template that every test's
    database is cloned from: a copy takes milliseconds, a migration run far longer.
    Tests of the migrations themselves take `empty_database_url` instead.
    """
    templates: dict[str, str] = {}

    async def build(migrations: Migrations) -> str:
        url = await create_database(f"template_{migrations.schema}")
        engine = create_async_engine(url, poolclass=pool.NullPool)
        try:
            await migrate(engine, migrations)
        finally:
            await engine.dispose()
        name = url.rpartition("/")[2]
        # PostgreSQL refuses to copy a database anyone is connected to: lock everyone out.
        connection = await asyncpg.connect(asyncpg_dsn(postgres_admin_url))
        try:
            await connection.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        finally:
            await connection.close()
        return name

    async def create(prefix: str, migrations: Migrations) -> str:
        if migrations.schema not in templates:
            templates[migrations.schema] = await build(migrations)
        return await create_database(prefix, template=templates[migrations.schema])

    return create


async def _drop_database(postgres_admin_url: str, url: str) -> None:
    """Drop a test's database at its end (FORCE: whatever is still connected is cut off).

    About 10 ms each, against ~10 MB of files per database left for the end of
    the session, when deleting a cluster of hundreds of them took 15-35 s.
    """
    name = url.rpartition("/")[2]
    connection = await asyncpg.connect(asyncpg_dsn(postgres_admin_url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture
async def database_url(
    create_migrated_database: CreateMigratedDatabase,
    service_migrations: Migrations,
    postgres_admin_url: str,
) -> AsyncIterator[str]:
    """A fresh database for one test at the head of `service_migrations`.

    Each service's conftest names its migrations in a `service_migrations` fixture.
    """
    url = await create_migrated_database("t", service_migrations)
    yield url
    await _drop_database(postgres_admin_url, url)


@pytest.fixture
async def empty_database_url(
    create_database: CreateDatabase, postgres_admin_url: str
) -> AsyncIterator[str]:
    """A fresh, empty database for one test (to run migrations or a service's first start)."""
    url = await create_database("t")
    yield url
    await _drop_database(postgres_admin_url, url)


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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fuzz suite's numbers in one line, summed over services and xdist workers."""
    totals = {"fuzz_operations": 0, "fuzz_requests": 0, "fuzz_server_errors": 0}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "call":
                continue
            for name, value in getattr(report, "user_properties", ()):
                if name in totals:
                    totals[name] += int(value)
    if totals["fuzz_requests"]:
        terminalreporter.write_line(
            f"fuzz: {totals['fuzz_operations']} operations, {totals['fuzz_requests']} requests, "
            f"{totals['fuzz_server_errors']} answered 5xx"
        )
