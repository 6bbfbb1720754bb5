"""Wait for an external PostgreSQL (DATABASE_URL / DB_HOST) before starting anything,
saying so every few seconds, and fail with one line when it does not come."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from urllib.parse import quote, urlsplit

import asyncpg

from anime_devstack.errors import DevstackError

log = logging.getLogger("anime_devstack")

REPORT_EVERY = 5.0

# Asking again will not help with these: a wrong password, user or database name.
_FINAL = (
    asyncpg.exceptions.InvalidPasswordError,
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,
    asyncpg.exceptions.InvalidCatalogNameError,
)


def external_dsn(env: Mapping[str, str]) -> str:
    """asyncpg's DSN of the database the services will use (the same rules as their settings)."""
    url = env.get("DATABASE_URL", "").strip()
    if url:
        return url.replace("postgresql+asyncpg://", "postgresql://", 1)
    user = quote(env.get("DB_USER") or "anime", safe="")
    password = quote(env.get("DB_PASSWORD", ""), safe="")
    credentials = f"{user}:{password}" if password else user
    host, port = env.get("DB_HOST", ""), env.get("DB_PORT") or "5432"
    return f"postgresql://{credentials}@{host}:{port}/{quote(env.get('DB_NAME') or 'anime')}"


def where(dsn: str) -> str:
    parts = urlsplit(dsn)
    return f"{parts.hostname}:{parts.port or 5432}{parts.path}"


async def _ping(dsn: str, connect_within: float) -> None:
    connection = await asyncpg.connect(dsn, timeout=connect_within)
    try:
        await connection.execute("SELECT 1")
    finally:
        await connection.close()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def wait_for_database(
    dsn: str,
    *,
    within: float,
    every: float = REPORT_EVERY,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    # One event loop for the whole wait, not one per attempt: Ctrl-C raises from
    # the signal handler wherever the main thread is, and landing inside a loop's
    # construction leaves a half-built loop whose __del__ prints a traceback.
    asyncio.run(_wait(dsn, within=within, every=every, clock=clock))


async def _wait(dsn: str, *, within: float, every: float, clock: Callable[[], float]) -> None:
    started = clock()
    reported = started
    while True:
        try:
            await _ping(dsn, connect_within=min(3.0, max(within, 0.5)))
            return
        except _FINAL as exc:
            raise DevstackError(
                f"the database at {where(dsn)} refused us ({_reason(exc)}); "
                "check DATABASE_URL or DB_USER / DB_PASSWORD / DB_NAME"
            ) from None
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            now = clock()
            if now - started >= within:
                raise DevstackError(
                    f"the database at {where(dsn)} cannot be reached after {within:.0f}s "
                    f"({_reason(exc)}); check DATABASE_URL / DB_HOST, or unset both to "
                    "use a local cluster"
                ) from None
            if now - reported >= every:
                reported = now
                log.info(
                    "waiting for the database at %s (%.0fs of %.0fs; %s)",
                    where(dsn),
                    now - started,
                    within,
                    _reason(exc),
                )
        await asyncio.sleep(0.5)
