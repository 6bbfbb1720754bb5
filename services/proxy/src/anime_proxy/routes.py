"""Routes of the proxy service (`/health` and `/openapi.json` come from anime_common)."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
