"""The gateway's merged OpenAPI document and its Swagger UI page, served by the edge."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from anime_common import JSONResponse, document, openapi_document
from anime_devstack.asgi import serve_asgi
from anime_edge import create_app
from anime_edge.docs import merge_documents, services_from_env

pytestmark = pytest.mark.anyio


class User(BaseModel):
    id: str


class MediaUserShape(BaseModel):
    id: str
    avatar: str | None


@document("Who am I", response=User)
async def me(_: Request) -> Response:
    return JSONResponse({})


@document("Internal lookup", response=User)
async def internal(_: Request) -> Response:
    return JSONResponse({})


def _service(title: str, routes: list[Route]) -> Starlette:
    doc = openapi_document(title=title, version="1", routes=routes)

    async def openapi(_: Request) -> Response:
        return JSONResponse(doc)

    return Starlette(routes=[Route("/openapi.json", openapi)])


class _ByHost:
    def __init__(self, apps: dict[str, Starlette]) -> None:
        self.apps = apps
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        host = dict(scope["headers"])[b"host"].decode()
        await self.apps[host](scope, receive, send)


def _edge(apps: dict[str, Starlette]) -> tuple[Starlette, _ByHost]:
    peers = _ByHost(apps)
    edge = create_app(
        {name: f"http://{name}" for name in apps}, transport=httpx.ASGITransport(app=peers)
    )
    return edge, peers


async def test_public_paths_are_merged_and_internal_ones_left_out() -> None:
    auth = _service("auth", [Route("/users/me", me, methods=["GET"]),
                             Route("/internal/users/{id}", internal, methods=["GET"])])  # fmt: skip
    edge, _ = _edge({"auth": auth})
    async with serve_asgi(edge) as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200
    merged = response.json()
    assert set(merged["paths"]) == {"/users/me", "/health", "/health/{service}"}
    assert merged["paths"]["/users/me"]["get"]["tags"] == ["auth"]
    # The four others did not answer (no URL here): the document says so.
    assert "catalog, library, media, proxy" in merged["info"]["description"]


def test_a_schema_two_services_define_differently_is_renamed_with_its_references() -> None:
    auth = openapi_document(title="a", version="1", routes=[Route("/users/me", me)])
    media_doc = openapi_document(title="m", version="1", routes=[Route("/users/me", me)])
    media_doc["components"]["schemas"]["User"] = MediaUserShape.model_json_schema()
    media_doc["paths"]["/users/me"]["patch"] = media_doc["paths"]["/users/me"].pop("get")
    merged = merge_documents({"auth": auth, "media": media_doc})
    schemas = merged["components"]["schemas"]
    assert set(schemas) >= {"User", "MediaUser", "Error"}
    patch = merged["paths"]["/users/me"]["patch"]
    assert patch["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/MediaUser"
    }
    get = merged["paths"]["/users/me"]["get"]
    assert get["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/User"
    }


async def test_a_complete_merge_is_kept_briefly() -> None:
    apps = {
        name: _service(name, [Route(f"/{name}", me, methods=["GET"])])
        for name in ("auth", "catalog", "library", "media", "proxy")
    }
    edge, peers = _edge(apps)
    async with serve_asgi(edge) as client:
        first: dict[str, Any] = (await client.get("/openapi.json")).json()
        second: dict[str, Any] = (await client.get("/openapi.json")).json()
    assert first == second
    assert "description" not in first["info"]
    assert peers.calls == 5


async def test_docs_page_and_its_assets_are_served_from_the_package() -> None:
    async with serve_asgi(create_app({})) as client:
        page = await client.get("/docs")
        slash = await client.get("/docs/")
        bundle = await client.get("/docs/assets/swagger-ui-bundle.js")
        init = await client.get("/docs/assets/init.js")
        css = await client.get("/docs/assets/swagger-ui.css")
        missing = await client.get("/docs/assets/nope.js")
    assert page.status_code == slash.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/docs/assets/swagger-ui-bundle.js" in page.text
    assert "http" not in page.text  # every file from this origin: no CDN
    assert bundle.status_code == 200
    assert "SwaggerUIBundle" in bundle.text
    assert init.headers["content-type"].startswith("text/javascript")
    assert 'url: "/openapi.json"' in init.text
    assert css.headers["content-type"].startswith("text/css")
    assert missing.status_code == 404


def test_service_urls_come_from_the_routing_tables_variables() -> None:
    env = {"AUTH_SERVICE_URL": "http://auth:8001/", "PROXY_SERVICE_URL": "", "OTHER": "x"}
    assert services_from_env(env) == {"auth": "http://auth:8001"}
