"""The catalog service's ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from starlette.applications import Starlette

from anime_catalog.importer import AnimeImporter, ProxyImporter
from anime_catalog.routes import routes
from anime_catalog.service import CatalogState
from anime_catalog.settings import CatalogSettings
from anime_common import Migrations, create_service_app

MIGRATIONS = Migrations(script_location="anime_catalog:migrations", schema="catalog")


def plain_dsn(url: str) -> str:
    """asyncpg's own DSN for SQLAlchemy's `postgresql+asyncpg://` URL."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """The reader's reset: none needed (see the lifespan)."""


def create_app(settings: CatalogSettings, *, importer: AnimeImporter | None = None) -> Starlette:
    """The app; `importer` replaces the proxy-backed one (tests)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        database = app.state.database
        chosen = importer
        if chosen is None and settings.PROXY_SERVICE_URL:
            chosen = ProxyImporter(
                client=app.state.http,
                base_url=settings.PROXY_SERVICE_URL,
                verifier=app.state.token_verifier,
            )
        # The read path's own pool, plain asyncpg: no SQLAlchemy checkout, no
        # pre-ping, no transaction, no reset query per request (PERF_NOTES measured
        # these at over half the cost of a lean read). Reads are single
        # autocommit statements that change no session state, so nothing needs
        # resetting; a connection broken by a database restart fails its request
        # once (503) and is replaced.
        reader = await asyncpg.create_pool(
            plain_dsn(settings.database_url),
            min_size=0,
            max_size=settings.DB_POOL_SIZE + settings.DB_MAX_OVERFLOW,
            timeout=settings.DB_CONNECT_TIMEOUT,
            max_inactive_connection_lifetime=max(settings.DB_POOL_RECYCLE, 0),
            server_settings={"application_name": "catalog-reader"},
            reset=_keep_session,
        )
        app.state.catalog = CatalogState(database=database, reader=reader, importer=chosen)
        try:
            yield
        finally:
            await reader.close()

    return create_service_app(
        name="catalog", settings=settings, routes=routes, migrations=MIGRATIONS, lifespan=lifespan
    )
