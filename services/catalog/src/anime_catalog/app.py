"""The catalog service's ASGI app."""

from __future__ import annotations

from starlette.applications import Starlette

from anime_catalog.routes import routes
from anime_catalog.settings import CatalogSettings
from anime_common import Migrations, create_service_app

MIGRATIONS = Migrations(script_location="anime_catalog:migrations", schema="catalog")


def create_app(settings: CatalogSettings) -> Starlette:
    return create_service_app(
        name="catalog", settings=settings, routes=routes, migrations=MIGRATIONS
    )
