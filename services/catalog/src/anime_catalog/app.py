"""The catalog service's ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from anime_catalog.internal import internal_routes
from anime_catalog.proxy_client import AnimeImporter, ProxyImporter
from anime_catalog.routes import routes
from anime_catalog.settings import CatalogSettings
from anime_catalog.state import CatalogState
from anime_common import AppContext, Migrations, create_read_pool, create_service_app

MIGRATIONS = Migrations(script_location="anime_catalog:migrations", schema="catalog")


def create_app(settings: CatalogSettings, *, importer: AnimeImporter | None = None) -> Starlette:
    """The app; `importer` replaces the proxy-backed one (tests)."""

    @asynccontextmanager
    async def lifespan(context: AppContext) -> AsyncIterator[CatalogState]:
        chosen = importer
        if chosen is None and settings.PROXY_SERVICE_URL:
            chosen = ProxyImporter(
                client=context.http,
                base_url=settings.PROXY_SERVICE_URL,
                verifier=context.verifier,
            )
        # The read path's own pool, plain asyncpg (see `create_read_pool`): reads
        # are single autocommit statements that change no session state.
        reader = await create_read_pool(settings, application_name="catalog-reader")
        try:
            yield CatalogState(database=context.database, reader=reader, importer=chosen)
        finally:
            await reader.close()

    return create_service_app(
        name="catalog",
        settings=settings,
        routes=routes,
        internal_routes=internal_routes,
        migrations=MIGRATIONS,
        lifespan=lifespan,
    )
