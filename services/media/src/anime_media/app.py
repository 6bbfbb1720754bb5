"""The media service's ASGI app."""

from __future__ import annotations

from starlette.applications import Starlette

from anime_common import Migrations, create_service_app
from anime_media.routes import routes
from anime_media.settings import MediaSettings

MIGRATIONS = Migrations(script_location="anime_media:migrations", schema="media")


def create_app(settings: MediaSettings) -> Starlette:
    return create_service_app(name="media", settings=settings, routes=routes, migrations=MIGRATIONS)
