"""The auth service's ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from anime_auth import repository, service
from anime_auth.internal import internal_routes
from anime_auth.passwords import PasswordHasher
from anime_auth.routes import routes
from anime_auth.settings import AuthSettings
from anime_auth.state import AuthState
from anime_common import AppContext, Database, Migrations, Principal, create_service_app

MIGRATIONS = Migrations(script_location="anime_auth:migrations", schema="auth")

logger = logging.getLogger("anime_auth")


class SessionTableCheck:
    """Auth's own revocation check: its sessions table, so a logout applies at once here.

    The other services cannot ask the database on every request; they poll
    `/internal/revocations` instead (anime_common.RevocationPoller).
    """

    def __init__(self) -> None:
        self.database: Database | None = None

    async def __call__(self, principal: Principal) -> bool:
        if principal.session_id is None:
            return False
        try:
            session_id = uuid.UUID(principal.session_id)
        except ValueError:
            return True
        if self.database is None:
            raise RuntimeError("the auth database is not open yet")
        async with self.database.transaction() as session:
            return await repository.is_session_revoked(session=session, session_id=session_id)


async def bootstrap_first_admin(
    *, database: Database, hasher: PasswordHasher, settings: AuthSettings
) -> bool:
    """Create FIRST_ADMIN_EMAIL's account when it is configured and no admin exists yet."""
    if settings.FIRST_ADMIN_EMAIL is None or settings.FIRST_ADMIN_PASSWORD is None:
        return False
    async with database.transaction() as session:
        if await repository.admin_exists(session=session):
            return False
    password_hash = await hasher.hash(settings.FIRST_ADMIN_PASSWORD.get_secret_value())
    async with database.transaction() as session:
        created = await service.ensure_first_admin(
            session=session, email=settings.FIRST_ADMIN_EMAIL, password_hash=password_hash
        )
    if created:
        logger.info("created the first admin account (FIRST_ADMIN_EMAIL)")
    return created


PURGE_KEEP_SECONDS = 86400


async def purge_once(*, database: Database, settings: AuthSettings) -> tuple[int, int]:
    async with database.transaction() as session:
        return await repository.purge_expired(
            session=session,
            idle_seconds=settings.REFRESH_TOKEN_IDLE_DAYS * 86400,
            keep_seconds=PURGE_KEEP_SECONDS,
            window_seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS,
        )


async def _purge_forever(*, database: Database, settings: AuthSettings) -> None:
    while True:
        await asyncio.sleep(settings.PURGE_INTERVAL_SECONDS)
        try:
            sessions, counters = await purge_once(database=database, settings=settings)
        except Exception:
            # A failed purge (database away for a moment) is retried at the next interval.
            logger.exception("purging ended sessions failed")
            continue
        logger.info("purged %d ended sessions and %d failure counters", sessions, counters)


def create_app(settings: AuthSettings) -> Starlette:
    check = SessionTableCheck()
    hasher = PasswordHasher(settings)

    @asynccontextmanager
    async def lifespan(context: AppContext) -> AsyncIterator[AuthState]:
        database = check.database = context.database
        await hasher.warm_up()
        await bootstrap_first_admin(database=database, hasher=hasher, settings=settings)
        purge = (
            asyncio.get_running_loop().create_task(
                _purge_forever(database=database, settings=settings)
            )
            if settings.PURGE_INTERVAL_SECONDS
            else None
        )
        try:
            yield AuthState(
                database=database, settings=settings, hasher=hasher, verifier=context.verifier
            )
        finally:
            if purge is not None:
                purge.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await purge

    return create_service_app(
        name="auth",
        settings=settings,
        routes=routes,
        internal_routes=internal_routes,
        migrations=MIGRATIONS,
        lifespan=lifespan,
        revocation=check,
    )
