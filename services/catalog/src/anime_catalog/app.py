"""The catalog service's ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from anime_catalog.proxy_client import AnimeImporter, ProxyImporter
from anime_catalog.routes import routes
from anime_catalog.service import CatalogState
from anime_catalog.settings import CatalogSettings
from anime_common import Migrations, create_read_pool, create_service_app

MIGRATIONS = Migrations(script_location="anime_catalog:migrations", schema="catalog")


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
        # The read path's own pool, plain asyncpg (see `create_read_pool`): reads
        # are single autocommit statements that change no session state.
        reader = await create_read_pool(settings, application_name="catalog-reader")
        app.state.catalog = CatalogState(database=database, reader=reader, importer=chosen)
        try:
            yield
        finally:
            await reader.close()

    return create_service_app(
        name="catalog", settings=settings, routes=routes, migrations=MIGRATIONS, lifespan=lifespan
    )
