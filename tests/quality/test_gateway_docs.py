"""The gateway's /openapi.json (merged by the edge) holds every route docs/API.md names,
and none of the services' /internal ones."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from anime_devstack.asgi import serve_asgi
from anime_edge import create_app as create_edge

ROOT = Path(__file__).resolve().parents[2]
API_DOC = (ROOT / "docs/API.md").read_text()
# The documentation's own pages: API.md names them, they are not API operations.
DOCUMENTATION_PATHS = frozenset({"/openapi.json", "/docs"})

_METHOD = re.compile(r"^(GET|HEAD|POST|PUT|PATCH|DELETE)\b\s*(\S*)")
_SPAN = re.compile(r"`([^`]+)`")


def _normalized(path: str) -> str:
    path = path.split("?", 1)[0].rstrip("/") or "/"
    return re.sub(r"[{<][^}>/]+[}>]", "{}", path)


def _alternatives(path: str) -> set[str]:
    """`/auth/login|register|refresh` is three paths."""
    head, _, last = path.rpartition("/")
    return {_normalized(f"{head}/{option}") for option in last.split("|")}


def api_doc_routes() -> set[tuple[str, str]]:
    """(method, path) of every route API.md lists: each bullet's `METHOD /path` spans, and
    the bare `/path` spans after one (`GET /api/home`, `/api/schedule?date`, ...)."""
    routes: set[tuple[str, str]] = set()
    bullets = re.split(r"\n(?=- )", API_DOC)
    for bullet in bullets:
        if not bullet.startswith("- "):
            continue
        method: str | None = None
        # A bullet ends at the first blank line; prose may follow it.
        for span in _SPAN.findall(bullet.split("\n\n", 1)[0]):
            found = _METHOD.match(span)
            if found:
                method = "GET" if found.group(1) == "HEAD" else found.group(1)
                if found.group(2).startswith("/"):
                    routes |= {(method, path) for path in _alternatives(found.group(2))}
            # A span ending in `/` names a folder in prose, not a route.
            elif method is not None and re.fullmatch(r"/\S*[^/]", span):
                routes.add((method, _normalized(span)))
    return routes


class _ByHost:
    """One ASGI app per host name: `http://<service>` reaches that service's real app."""

    def __init__(self, apps: dict[str, Starlette]) -> None:
        self._apps = apps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        host = dict(scope["headers"])[b"host"].decode().split(":")[0]
        await self._apps[host](scope, receive, send)


@pytest.fixture(scope="module")
async def merged(service_apps: dict[str, Starlette]) -> AsyncIterator[dict[str, Any]]:
    apps = service_apps
    # The edge fetches from the services' own ASGI apps instead of over sockets.
    edge = create_edge(
        {name: f"http://{name}" for name in apps},
        transport=httpx.ASGITransport(app=_ByHost(apps)),
    )
    async with serve_asgi(edge) as client:
        response = await client.get("/openapi.json")
        assert response.status_code == 200
        yield response.json()


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


def test_api_doc_lists_routes_at_all() -> None:
    routes = api_doc_routes()
    assert ("GET", "/api/schedule") in routes  # a bare span after `GET /api/home`
    assert ("GET", "/media/avatars/{}") in routes  # `GET`/`HEAD /media/avatars/<file>`
    assert len(routes) > 40


@pytest.mark.anyio
async def test_every_route_of_the_api_doc_is_in_the_merged_document(
    merged: dict[str, Any],
) -> None:
    operations = {
        (method.upper(), _normalized(path))
        for path, methods in merged["paths"].items()
        for method in methods
    }
    wanted = {
        route
        for route in api_doc_routes()
        if route[1] not in DOCUMENTATION_PATHS and not route[1].startswith("/internal")
    }
    assert not wanted - operations, f"not in /openapi.json: {sorted(wanted - operations)}"
    assert "description" not in merged["info"]  # every service answered


@pytest.mark.anyio
async def test_internal_routes_are_left_out(merged: dict[str, Any]) -> None:
    assert [path for path in merged["paths"] if path.startswith("/internal")] == []
    # Every $ref points at a schema the document holds.
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', str(merged).replace("'", '"')))
    assert refs <= set(merged["components"]["schemas"])
