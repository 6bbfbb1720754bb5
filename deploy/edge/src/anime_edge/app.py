"""`/{status}` renders that status in the error envelope; `/health` says the app is up;
`/openapi.json` and `/docs` document the API at the gateway (anime_edge.docs)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from anime_common import JSONResponse, error_body
from anime_edge.docs import MergedDocument, docs_routes, services_from_env

# An error page must never be cached: the same URL answers for every backend
# outage, and a cached 502 would outlive the outage.
_NO_STORE = {"Cache-Control": "no-store"}


# The edge's rate limit refills at least one request per second (its period is
# 1 s), so a client may try again after one second. Traefik's errors middleware
# drops the limiter's own Retry-After along with its body, hence this one.
_RETRY_AFTER = {"Retry-After": "1"}


def _envelope(status: int) -> JSONResponse:
    headers = {**_NO_STORE, **_RETRY_AFTER} if status == 429 else _NO_STORE
    return JSONResponse(error_body(status), status_code=status, headers=headers)


class _ErrorPage:
    """ASGI endpoint for `/{status}` and anything below it, whatever the method.

    A plain ASGI class (not a function) so that Starlette's Route accepts every
    method: the catch-all router forwards the client's own method (POST, DELETE,
    OPTIONS...), and each must get the same 404 envelope, not a 405.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status: int = scope["path_params"]["status"]
        # Only error statuses are pages; `/200` is not an error to render.
        response = _envelope(status if 400 <= status <= 599 else 404)
        await response(scope, receive, send)


async def _health(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _http_error(_: Request, exc: Exception) -> Response:
    # Unknown paths and wrong methods on /health also answer in the envelope.
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return _envelope(status)


def create_app(
    services: Mapping[str, str] | None = None, *, transport: httpx.AsyncBaseTransport | None = None
) -> Starlette:
    """Build the edge app; `services` (name -> URL, default from the environment) are
    the documents `/openapi.json` merges, fetched through `transport` when given."""
    page = _ErrorPage()
    docs = MergedDocument(
        services_from_env() if services is None else services, transport=transport
    )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await docs.aclose()

    return Starlette(
        routes=[
            Route("/health", _health, methods=["GET"]),
            Route("/{status:int}", page),
            Route("/{status:int}/{rest:path}", page),
            *docs_routes(docs),
        ],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )


app = create_app()
