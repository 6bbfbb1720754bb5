"""The API's documentation at the gateway: one OpenAPI document and Swagger UI.

`GET /openapi.json` asks each service for its own document (`/openapi.json` on
its port) and merges their public paths; `/internal/...` paths are left out,
since the gateway never routes them. `GET /docs` is Swagger UI, whose files come
from the `swagger-ui-bundle-v2` wheel and are served from here: no CDN, so the
page works offline.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping, Sequence
from copy import deepcopy
from typing import Any

import httpx
import swagger_ui_bundle  # type: ignore[import-untyped]
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from anime_common import JSONResponse

logger = logging.getLogger("anime_edge.docs")

# service -> the variable holding its URL (the same ones Traefik's routing table reads).
SERVICE_URL_ENV = {
    "auth": "AUTH_SERVICE_URL",
    "catalog": "CATALOG_SERVICE_URL",
    "library": "LIBRARY_SERVICE_URL",
    "media": "MEDIA_SERVICE_URL",
    "proxy": "PROXY_SERVICE_URL",
}
TITLE = "anime API (at the gateway)"
VERSION = "0.1.0"
# A merged document is kept this long: it changes only when a service is deployed.
CACHE_SECONDS = 30.0
FETCH_TIMEOUT = httpx.Timeout(3.0)
_REF_PREFIX = "#/components/schemas/"

# Paths the gateway answers itself (routed to a service's /health), documented here
# because no service document holds them.
_GATEWAY_PATHS: dict[str, Any] = {
    "/health": {
        "get": {
            "summary": "200 while the database answers, else 503",
            "operationId": "gateway_health",
            "tags": ["health"],
            "responses": {"200": {"description": "Success"}, "503": {"description": "Down"}},
        }
    },
    "/health/{service}": {
        "get": {
            "summary": "One service's health: auth, catalog, library, media or proxy",
            "operationId": "service_health",
            "tags": ["health"],
            "parameters": [
                {
                    "name": "service",
                    "in": "path",
                    "required": True,
                    "schema": {"enum": sorted(SERVICE_URL_ENV)},
                }
            ],
            "responses": {"200": {"description": "Success"}, "503": {"description": "Down"}},
        }
    },
}


def services_from_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The services whose URL is set, by name."""
    env = os.environ if env is None else env
    return {name: env[var].rstrip("/") for name, var in SERVICE_URL_ENV.items() if env.get(var)}


def _rename_refs(node: Any, renames: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
            name = ref.removeprefix(_REF_PREFIX)
            if name in renames:
                node = {**node, "$ref": _REF_PREFIX + renames[name]}
        return {key: _rename_refs(value, renames) for key, value in node.items()}
    if isinstance(node, list):
        return [_rename_refs(item, renames) for item in node]
    return node


def merge_documents(
    documents: Mapping[str, Mapping[str, Any]], *, unavailable: Sequence[str] = ()
) -> dict[str, Any]:
    """One OpenAPI document from the services' own, public paths only.

    Operations without tags are tagged with their service's name. A schema name
    two services define differently is prefixed with the later service's name
    (`MediaUser`), and that service's references follow the new name.
    """
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    for service, document in documents.items():
        own = document.get("components", {}).get("schemas", {})
        renames = {
            name: f"{service.capitalize()}{name}"
            for name, schema in own.items()
            if name in schemas and schemas[name] != schema
        }
        own = _rename_refs(own, renames)
        for name, schema in own.items():
            schemas[renames.get(name, name)] = schema
        for path, operations in document.get("paths", {}).items():
            if path.startswith("/internal"):
                continue
            for method, operation in _rename_refs(operations, renames).items():
                operation.setdefault("tags", [service])
                paths.setdefault(path, {})[method] = operation
    # Each service's /health is reached at /health/<service>; /health is auth's.
    paths.update(deepcopy(_GATEWAY_PATHS))
    info: dict[str, Any] = {"title": TITLE, "version": VERSION}
    if unavailable:
        info["description"] = (
            f"Not included: {', '.join(unavailable)} did not answer; reload to try again."
        )
    return {
        "openapi": "3.1.0",
        "info": info,
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


class MergedDocument:
    """Fetches the services' documents concurrently and keeps a complete merge briefly."""

    def __init__(
        self, services: Mapping[str, str], *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._services = dict(services)
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._cached: tuple[float, dict[str, Any]] | None = None

    def _http(self) -> httpx.AsyncClient:
        # Made on first use: a client belongs to the event loop that runs it.
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=FETCH_TIMEOUT, transport=self._transport, trust_env=False
            )
        return self._client

    async def _fetch(self, service: str, url: str) -> dict[str, Any] | None:
        try:
            response = await self._http().get(f"{url}/openapi.json")
            response.raise_for_status()
            document: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("no OpenAPI document from %s (%s)", service, type(exc).__name__)
            return None
        return document

    async def get(self) -> dict[str, Any]:
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < CACHE_SECONDS:
            return self._cached[1]
        names = list(self._services)
        fetched = await asyncio.gather(*(self._fetch(n, self._services[n]) for n in names))
        documents = {n: d for n, d in zip(names, fetched, strict=True) if d is not None}
        missing = [name for name in SERVICE_URL_ENV if name not in documents]
        merged = merge_documents(documents, unavailable=missing)
        if not missing:
            self._cached = (now, merged)
        return merged

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>anime API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/assets/swagger-ui-standalone-preset.js"></script>
  <script src="/docs/assets/init.js"></script>
</body>
</html>
"""

# In a file of its own, not inline, so a strict Content-Security-Policy can allow it.
_INIT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "StandaloneLayout"
});
"""


async def _docs_page(_: Request) -> Response:
    return HTMLResponse(_PAGE)


async def _init_script(_: Request) -> Response:
    return Response(_INIT, media_type="text/javascript")


def docs_routes(source: MergedDocument) -> list[BaseRoute]:
    async def openapi(_: Request) -> Response:
        return JSONResponse(await source.get(), headers={"Cache-Control": "no-cache"})

    return [
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/docs", _docs_page, methods=["GET"]),
        Route("/docs/", _docs_page, methods=["GET"]),
        Route("/docs/assets/init.js", _init_script, methods=["GET"]),
        Mount("/docs/assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path)),
    ]
