"""The proxy service's ASGI app."""

from __future__ import annotations

from starlette.applications import Starlette

from anime_common import create_service_app
from anime_proxy.routes import routes
from anime_proxy.settings import ProxySettings


def create_app(settings: ProxySettings) -> Starlette:
    return create_service_app(name="proxy", settings=settings, routes=routes, migrations=None)
