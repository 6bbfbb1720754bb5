"""The auth service's ASGI app."""

from __future__ import annotations

from starlette.applications import Starlette

from anime_auth.routes import routes
from anime_auth.settings import AuthSettings
from anime_common import Migrations, create_service_app

MIGRATIONS = Migrations(script_location="anime_auth:migrations", schema="auth")


def create_app(settings: AuthSettings) -> Starlette:
    return create_service_app(name="auth", settings=settings, routes=routes, migrations=MIGRATIONS)
