"""The async engine, sessions, and telling "the database is down" apart from bugs."""

from __future__ import annotations

import asyncio
import errno
import socket
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy import MetaData, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from anime_common._causes import iter_causes
from anime_common._metrics import PoolUsage, track_pool
from anime_common._settings import CommonSettings

# Stable constraint names, so autogenerate and hand-written migrations agree.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def schema_metadata(schema: str) -> MetaData:
    """The MetaData of one service: its own schema and the shared naming convention."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def create_engine(settings: CommonSettings, *, application_name: str) -> AsyncEngine:
    return create_async_engine(
        settings.database_url,
        pool_size=settings.DB_POOL_SIZE,
        max_overflow=settings.DB_MAX_OVERFLOW,
        pool_recycle=settings.DB_POOL_RECYCLE,
        pool_pre_ping=settings.DB_POOL_PRE_PING,
        pool_timeout=settings.DB_POOL_TIMEOUT,
        connect_args={
            "timeout": settings.DB_CONNECT_TIMEOUT,
            "server_settings": {"application_name": application_name},
        },
    )


def asyncpg_dsn(url: str) -> str:
    """asyncpg's own DSN for SQLAlchemy's `postgresql+asyncpg://` URL."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def as_uuid(value: Any) -> uuid.UUID:
    """A UUID read through the read pool as a plain `uuid.UUID` (JSON encoders refuse asyncpg's)."""
    return value if type(value) is uuid.UUID else uuid.UUID(int=value.int)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """A read pool's reset on release: none (see `create_read_pool`)."""


class ReadPool:
    """A plain asyncpg pool for reads whose checkout waits at most `DB_POOL_TIMEOUT`.

    asyncpg's own `acquire()` waits for a free connection without end; past the
    timeout this one raises `TimeoutError`, which the error handlers answer
    with 503, as SQLAlchemy's pool does for writes.
    """

    def __init__(self, pool: asyncpg.Pool, *, acquire_timeout: float) -> None:
        self.pool = pool
        self._acquire_timeout = acquire_timeout

    def acquire(self) -> _Checkout:
        """`async with reader.acquire() as connection:`; a broken connection is never reused."""
        return _Checkout(self.pool.acquire(timeout=self._acquire_timeout))

    async def close(self) -> None:
        await self.pool.close()


class _Checkout:
    """asyncpg's acquire context, terminating a connection whose protocol lost its way.

    After the server went away in the middle of an operation, asyncpg may hand
    back a connection that still believes an operation is in progress: its
    next query fails with `InternalClientError` (seen during database
    restarts). Released as it is, the pool would hand it out again.
    """

    __slots__ = ("_connection", "_context")

    def __init__(self, context: Any) -> None:
        self._context = context
        self._connection: asyncpg.Connection | None = None

    async def __aenter__(self) -> asyncpg.Connection:
        self._connection = await self._context.__aenter__()
        return self._connection

    async def __aexit__(self, kind: Any, error: BaseException | None, traceback: Any) -> None:
        if error is not None and is_lost_connection_state(error) and self._connection:
            self._connection.terminate()
        await self._context.__aexit__(kind, error, traceback)


async def create_read_pool(
    settings: CommonSettings,
    *,
    application_name: str,
    server_settings: Mapping[str, str] | None = None,
) -> ReadPool:
    """A plain asyncpg pool for a service's reads, sized like the engine's pool.

    No SQLAlchemy checkout, pre-ping, transaction or reset query per request
    (PERF_NOTES.md measured these at over half the cost of a lean read). Use it
    for single autocommit statements that change no session state: then
    nothing needs resetting when a connection goes back (asyncpg's default
    reset is one more round trip per release). A connection broken by a
    database restart fails its request once (503: `is_database_unavailable`)
    and is replaced. Connections open on first use; close the pool in the lifespan.
    `server_settings` are set on each of its connections (planner settings, say).
    """
    pool: asyncpg.Pool = await asyncpg.create_pool(
        asyncpg_dsn(settings.database_url),
        min_size=0,
        max_size=settings.DB_POOL_SIZE + settings.DB_MAX_OVERFLOW,
        timeout=settings.DB_CONNECT_TIMEOUT,
        max_inactive_connection_lifetime=max(settings.DB_POOL_RECYCLE, 0),
        server_settings={**(server_settings or {}), "application_name": application_name},
        reset=_keep_session,
    )
    reader = ReadPool(pool, acquire_timeout=settings.DB_POOL_TIMEOUT)
    track_pool(application_name, reader, _read_pool_usage)
    return reader


def _read_pool_usage(owner: object) -> PoolUsage:
    assert isinstance(owner, ReadPool)
    pool = owner.pool
    idle: int = pool.get_idle_size()
    return PoolUsage(in_use=pool.get_size() - idle, idle=idle, max_size=pool.get_max_size())


class Database:
    """One engine and session factory per process, created in the lifespan."""

    def __init__(self, engine: AsyncEngine, *, name: str | None = None) -> None:
        self.engine = engine
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        if name is not None:
            track_pool(name, self, _engine_pool_usage)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work is committed once at the end, or rolled back on error."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    async def ping(self, *, within: float = 2.0) -> bool:
        """True when the database answers a trivial query in time."""
        try:
            async with asyncio.timeout(within), self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as exc:
            if is_database_unavailable(exc) or isinstance(exc, TimeoutError):
                return False
            raise
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()


def _engine_pool_usage(owner: object) -> PoolUsage:
    assert isinstance(owner, Database)
    pool: Any = owner.engine.pool
    # QueuePool's own counters; its overflow limit has no public accessor.
    return PoolUsage(
        in_use=pool.checkedout(),
        idle=pool.checkedin(),
        max_size=pool.size() + max(pool._max_overflow, 0),
    )


_UNAVAILABLE_TYPES: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    sa_exc.TimeoutError,
)


def is_lost_connection_state(exc: BaseException) -> bool:
    """asyncpg's "another operation is in progress" on a connection the server dropped.

    Seen on a pooled connection after a database restart: the statement was
    refused before it was sent, and the connection must not be used again.
    Other `InternalClientError`s (a codec that cannot handle a value) are bugs.
    """
    return isinstance(exc, asyncpg.exceptions.InternalClientError) and (
        "another operation" in str(exc)
    )


# Socket errors of a connection attempt or a dropped connection; a full disk or a
# missing file is a bug or an outage of something else, not "the database is down".
_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.ETIMEDOUT,
        errno.EPIPE,
    }
)


def _is_network_error(error: OSError) -> bool:
    if isinstance(error, socket.gaierror) or error.errno in _NETWORK_ERRNOS:
        return True
    # asyncio's create_connection folds the failures of every address into one
    # plain OSError without an errno.
    return error.errno is None and str(error).startswith("Multiple exceptions")


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether an exception (or anything it wraps) means the database cannot be reached."""
    return any(
        isinstance(current, _UNAVAILABLE_TYPES)
        or is_lost_connection_state(current)
        or (isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated)
        or (isinstance(current, OSError) and _is_network_error(current))
        for current in iter_causes(exc)
    )
