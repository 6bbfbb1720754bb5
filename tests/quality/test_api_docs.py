"""docs/API.md names every public route of every service, and each is documented in OpenAPI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("auth", "catalog", "library", "media", "proxy")
# Served by anime_common for every service; described once in the Health section.
COMMON_PATHS = frozenset({"/health", "/openapi.json"})
API_DOC = (ROOT / "docs/API.md").read_text()


def public_routes(routes: list[BaseRoute], prefix: str = "") -> list[Route]:
    """Every route reachable through the gateway (`/internal/...` never is)."""
    found: list[Route] = []
    for route in routes:
        if isinstance(route, Mount):
            found += public_routes(list(route.routes), prefix + route.path)
        elif isinstance(route, Route):
            path = prefix + route.path
            if not path.startswith("/internal") and path not in COMMON_PATHS:
                found.append(route)
    return found


def routes_of(apps: dict[str, Starlette], service: str) -> list[Route]:
    """The public routes of the service's real app (every routes list it is built from)."""
    return public_routes(list(apps[service].routes))


def documented(path: str) -> bool:
    # A parameter may be named differently in prose: `{x}`, `{id}`, `<file>`.
    pattern = re.escape(path).replace(r"\{", "{").replace(r"\}", "}")
    pattern = re.sub(r"{[^}]+}", r"[{<][^}>/]+[}>]", pattern)
    return re.search(rf"{pattern}(?![\w/{{<])", API_DOC) is not None


@pytest.mark.parametrize("service", SERVICES)
def test_every_public_route_is_in_the_api_doc(
    service_apps: dict[str, Starlette], service: str
) -> None:
    routes = routes_of(service_apps, service)
    missing = sorted({route.path for route in routes if not documented(route.path)})
    assert not missing, f"docs/API.md does not mention: {missing}"


@pytest.mark.parametrize("service", SERVICES)
def test_every_public_route_has_an_openapi_operation(
    service_apps: dict[str, Starlette], service: str
) -> None:
    bare = [route.path for route in routes_of(service_apps, service)
            if "openapi_operation" not in route.endpoint.__dict__]  # fmt: skip
    assert not bare, f"routes without @document: {bare}"
