from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from anime_common import (
    Database,
    Migrations,
    StartupError,
    app_context,
    create_engine,
    create_read_pool,
    is_database_unavailable,
    migrate,
)
from anime_common._migrations import wait_for_database
from anime_devstack.asgi import serve_asgi

from .apps import build_app, make_settings

pytestmark = pytest.mark.anyio

SAMPLE = Migrations(
    script_location=str(Path(__file__).parent / "sample_migrations"), schema="sample"
)


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def dead_database_url() -> str:
    return f"postgresql+asyncpg://anime:topsecret@127.0.0.1:{unused_port()}/anime"


async def test_migrations_run_in_parallel_without_colliding(empty_database_url: str) -> None:
    engines = [create_async_engine(empty_database_url) for _ in range(3)]
    try:
        await asyncio.gather(*(migrate(engine, SAMPLE) for engine in engines))
        async with engines[0].connect() as connection:
            versions = (
                await connection.execute(text("SELECT version_num FROM sample.alembic_version"))
            ).all()
            await connection.execute(text("INSERT INTO sample.notes (body) VALUES ('ok')"))
        assert versions == [("0001",)]
    finally:
        for engine in engines:
            await engine.dispose()


async def test_migrating_again_is_a_no_op(empty_database_url: str) -> None:
    engine = create_async_engine(empty_database_url)
    try:
        await migrate(engine, SAMPLE)
        await migrate(engine, SAMPLE)
        async with engine.connect() as connection:
            count = (
                await connection.execute(text("SELECT count(*) FROM sample.alembic_version"))
            ).scalar()
        assert count == 1
    finally:
        await engine.dispose()


async def test_waiting_for_an_unreachable_database_gives_up_with_a_clear_error() -> None:
    engine = create_async_engine(dead_database_url())
    try:
        with pytest.raises(StartupError, match=r"not reachable after 1s") as caught:
            await wait_for_database(engine, within=1.0)
        assert "topsecret" not in str(caught.value)
    finally:
        await engine.dispose()


async def test_service_refuses_to_start_without_its_database() -> None:
    settings = make_settings(DATABASE_URL=dead_database_url(), DB_STARTUP_TIMEOUT=0.5)
    app = build_app(settings, migrations=SAMPLE)
    with pytest.raises(StartupError):
        async with serve_asgi(app):
            pass


async def test_health_follows_the_database(empty_database_url: str) -> None:
    app = build_app(make_settings(DATABASE_URL=empty_database_url), migrations=SAMPLE)
    async with serve_asgi(app) as client:
        healthy = await client.get("/health")
        assert healthy.status_code == 200
        assert healthy.json() == {"status": "ok", "service": "sample", "database": "ok"}

        reachable = app_context(app).database
        app_context(app).database_or_none = Database(
            create_engine(make_settings(DATABASE_URL=dead_database_url()), application_name="t")
        )
        try:
            down = await client.get("/health")
        finally:
            await app_context(app).database.dispose()
            app_context(app).database_or_none = reachable
        assert down.status_code == 503
        assert down.json()["status"] == "error"

        assert (await client.get("/health")).status_code == 200


async def _insert_then_fail(database: Database) -> None:
    async with database.transaction() as session:
        await session.execute(text("INSERT INTO sample.notes (body) VALUES ('dropped')"))
        raise RuntimeError("fail mid-way")


async def test_transaction_commits_or_rolls_back(empty_database_url: str) -> None:
    database = Database(
        create_engine(make_settings(DATABASE_URL=empty_database_url), application_name="t")
    )
    try:
        await migrate(database.engine, SAMPLE)
        async with database.transaction() as session:
            await session.execute(text("INSERT INTO sample.notes (body) VALUES ('kept')"))
        with pytest.raises(RuntimeError, match="fail mid-way"):
            await _insert_then_fail(database)
        async with database.transaction() as session:
            bodies = (await session.execute(text("SELECT body FROM sample.notes"))).scalars().all()
        assert bodies == ["kept"]
    finally:
        await database.dispose()


async def test_connection_failures_count_as_unavailable() -> None:
    engine = create_async_engine(dead_database_url())
    try:
        with pytest.raises(Exception) as caught:  # noqa: PT011 - any driver error will do
            async with engine.connect():
                pass
        assert is_database_unavailable(caught.value)
    finally:
        await engine.dispose()
    assert not is_database_unavailable(ValueError("a bug"))


def test_only_network_failures_count_as_unavailable() -> None:
    import errno

    assert is_database_unavailable(ConnectionRefusedError(errno.ECONNREFUSED, "refused"))
    assert is_database_unavailable(OSError(errno.EHOSTUNREACH, "no route"))
    assert is_database_unavailable(OSError("Multiple exceptions: [Errno 111] refused, ..."))
    assert not is_database_unavailable(OSError(errno.ENOSPC, "No space left on device"))
    assert not is_database_unavailable(FileNotFoundError(errno.ENOENT, "missing"))


async def test_the_read_pool_is_lean_plain_asyncpg(empty_database_url: str) -> None:
    settings = make_settings(DATABASE_URL=empty_database_url, DB_POOL_SIZE=2, DB_MAX_OVERFLOW=1)
    pool = await create_read_pool(settings, application_name="t-reader")
    try:
        assert pool.pool.get_max_size() == 3
        assert pool.pool.get_min_size() == 0
        async with pool.acquire() as connection:
            assert await connection.fetchval("SHOW application_name") == "t-reader"
            # Autocommit, no transaction around a read.
            assert not connection.is_in_transaction()
            await connection.execute("SET statement_timeout = '7s'")
        # No reset query on release: what a statement set stays (reads set nothing).
        async with pool.acquire() as connection:
            assert await connection.fetchval("SHOW statement_timeout") == "7s"
    finally:
        await pool.close()


async def test_a_read_pools_server_settings_hold_on_every_connection(
    empty_database_url: str,
) -> None:
    settings = make_settings(DATABASE_URL=empty_database_url, DB_POOL_SIZE=2, DB_MAX_OVERFLOW=0)
    pool = await create_read_pool(
        settings, application_name="t-reader", server_settings={"enable_bitmapscan": "off"}
    )
    try:
        async with pool.acquire() as first, pool.acquire() as second:
            for connection in (first, second):
                assert await connection.fetchval("SHOW enable_bitmapscan") == "off"
                assert await connection.fetchval("SHOW application_name") == "t-reader"
    finally:
        await pool.close()


async def test_a_read_pool_checkout_waits_at_most_the_pool_timeout(empty_database_url: str) -> None:
    settings = make_settings(
        DATABASE_URL=empty_database_url, DB_POOL_SIZE=1, DB_MAX_OVERFLOW=0, DB_POOL_TIMEOUT=0.2
    )
    reader = await create_read_pool(settings, application_name="t-reader")
    try:
        async with reader.acquire():
            started = time.monotonic()
            with pytest.raises(TimeoutError) as raised:
                async with reader.acquire():
                    pass
            assert time.monotonic() - started < 5
        # The error handlers answer it with 503, as for a database that is down.
        assert is_database_unavailable(raised.value)
    finally:
        await reader.close()


async def test_a_connection_that_lost_its_protocol_state_is_never_reused(
    empty_database_url: str,
) -> None:
    """What asyncpg raised on a pooled connection after a database restart (issue 19 CI)."""
    lost = asyncpg.exceptions.InternalClientError(
        "cannot switch to state 11; another operation (2) is in progress"
    )
    assert is_database_unavailable(lost)  # a 503 and a retry, like a dropped connection
    assert not is_database_unavailable(asyncpg.exceptions.InternalClientError("no codec"))
    settings = make_settings(DATABASE_URL=empty_database_url, DB_POOL_SIZE=1, DB_MAX_OVERFLOW=0)
    reader = await create_read_pool(settings, application_name="t-reader")
    used: list[tuple[asyncpg.Connection, int]] = []  # (connection, its backend pid)

    async def fail_inside(error: Exception) -> None:
        async with reader.acquire() as connection:
            used.append((connection, await connection.fetchval("SELECT pg_backend_pid()")))
            raise error

    async def backend_pid() -> int:
        async with reader.acquire() as connection:
            return int(await connection.fetchval("SELECT pg_backend_pid()"))

    try:
        with pytest.raises(asyncpg.exceptions.InternalClientError):
            await fail_inside(lost)
        # The pool holds one connection: a new backend means the broken one went.
        assert await backend_pid() != used[-1][1]
        # Any other error leaves the connection in the pool.
        with pytest.raises(ValueError, match="a bug"):
            await fail_inside(ValueError("a bug"))
        assert await backend_pid() == used[-1][1]
    finally:
        await reader.close()
