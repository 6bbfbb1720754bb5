"""Every route of the library service, domain by domain (`/health` and `/openapi.json`
come from anime_common)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from anime_library.collections import routes as collections
from anime_library.favorites import routes as favorites
from anime_library.jobs import routes as jobs
from anime_library.views import routes as views
from anime_library.watch import routes as watch

routes: list[BaseRoute] = [
    *favorites.routes,
    *watch.routes,
    *jobs.routes,
    *collections.routes,
    *views.routes,
]
