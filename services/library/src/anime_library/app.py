"""The library service's ASGI app."""

from __future__ import annotations

from starlette.applications import Starlette

from anime_common import Migrations, create_service_app
from anime_library.routes import routes
from anime_library.settings import LibrarySettings

MIGRATIONS = Migrations(script_location="anime_library:migrations", schema="library")


def create_app(settings: LibrarySettings) -> Starlette:
    return create_service_app(
        name="library", settings=settings, routes=routes, migrations=MIGRATIONS
    )
