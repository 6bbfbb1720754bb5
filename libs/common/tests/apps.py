"""A small service built with the common factory, for exercising the shared wiring."""

from __future__ import annotations

from pydantic import BaseModel, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from anime_common import (
    INTERNAL_PERMISSION,
    CommonSettings,
    JSONResponse,
    Migrations,
    PageParams,
    create_service_app,
    current_principal,
    document,
    list_response,
    parse_body,
    parse_query,
    requires,
)

SECRET = "k" * 64


def make_settings(**overrides: object) -> CommonSettings:
    values: dict[str, object] = {"SECRET_KEY": SECRET, "DB_HOST": "127.0.0.1"}
    values.update(overrides)
    return CommonSettings(**values)  # type: ignore[arg-type]


class Payload(BaseModel):
    name: str = Field(min_length=2)
    nested: dict[str, int] = Field(default_factory=dict)


@document("Echo a validated body", body=Payload, response=Payload)
async def echo(request: Request) -> Response:
    payload = await parse_body(request, Payload)
    return JSONResponse(payload)


@document("A page of numbers", query=PageParams, response=list[int])
async def numbers(request: Request) -> Response:
    page = parse_query(request, PageParams)
    items = list(range(55))[page.offset : page.offset + page.limit]
    return list_response(request, items, total=55, page=page)


async def crash(request: Request) -> Response:
    raise RuntimeError("SELECT secret FROM users -- boom")


async def database_down(request: Request) -> Response:
    raise ConnectionRefusedError(111, "Connection refused")


@document("Who am I")
@requires()
async def whoami(request: Request) -> Response:
    return JSONResponse({"sub": current_principal(request).subject})


@requires("write:catalog")
async def write_catalog(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def public(request: Request) -> Response:
    return JSONResponse({"public": True})


@requires(INTERNAL_PERMISSION)
async def ping(request: Request) -> Response:
    return JSONResponse({"service": current_principal(request).subject})


async def clear_numbers(request: Request) -> Response:
    return Response(status_code=204)


ROUTES = [
    Route("/echo", echo, methods=["POST"]),
    Route("/numbers", numbers, methods=["GET"]),
    Route("/crash", crash, methods=["GET"]),
    Route("/database-down", database_down, methods=["GET"]),
    Route("/me", whoami, methods=["GET"]),
    Route("/catalog", write_catalog, methods=["POST"]),
    Route("/public", public, methods=["GET"]),
    Route("/internal/ping", ping, methods=["GET"]),
    # A second route on a path: a 405 there must name the methods of both.
    Route("/numbers", clear_numbers, methods=["DELETE"]),
]


def build_app(
    settings: CommonSettings | None = None, migrations: Migrations | None = None
) -> Starlette:
    return create_service_app(
        name="sample", settings=settings or make_settings(), routes=ROUTES, migrations=migrations
    )
