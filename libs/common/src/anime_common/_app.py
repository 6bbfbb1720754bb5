"""The app factory: a service is its routes, its migrations and (maybe) a lifespan of its own."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, Router

from anime_common._error_handlers import EXCEPTION_HANDLERS
from anime_common._health import health
from anime_common._http_client import create_http_client
from anime_common._metrics import METRICS_PATH, MetricsMiddleware, metrics_endpoint
from anime_common._middleware import (
    RequestContextMiddleware,
    RequestLimitsMiddleware,
    TrailingSlashMiddleware,
)
from anime_common._migrations import Migrations, open_database
from anime_common._openapi import openapi_document
from anime_common._responses import JSONResponse
from anime_common._revocation import RevocationPoller
from anime_common._security import RevocationCheck, TokenVerifier
from anime_common._settings import CommonSettings
from anime_common._state import AppContext, app_context

logger = logging.getLogger("anime_common.app")

# Gets what the factory opened; yields the service's state (`service_state`), or None.
ServiceLifespan = Callable[[AppContext], AbstractAsyncContextManager[object]]


async def _openapi(request: Request) -> Response:
    context = app_context(request)
    if context.openapi is None:
        context.openapi = openapi_document(
            title=f"anime {context.name}", version=context.version, routes=request.app.routes
        )
    return JSONResponse(context.openapi)


def create_service_app(
    *,
    name: str,
    settings: CommonSettings,
    routes: Sequence[BaseRoute],
    migrations: Migrations | None,
    internal_routes: Sequence[BaseRoute] = (),
    lifespan: ServiceLifespan | None = None,
    revocation: RevocationCheck | None = None,
    version: str = "0.1.0",
) -> Starlette:
    """Wire the common pieces around a service's routes; `migrations=None` means no database.

    `internal_routes` are the service's `/internal` routes (its `internal.py`), which
    only other services call: the gateway never routes them.

    Without a `revocation` of its own, a service other than auth polls auth's
    revoked sessions when `AUTH_SERVICE_URL` is set.
    """
    verifier = TokenVerifier(settings, revocation)
    poller: RevocationPoller | None = None
    if revocation is None and name != "auth" and settings.AUTH_SERVICE_URL:
        poller = RevocationPoller(
            auth_url=settings.AUTH_SERVICE_URL,
            verifier=verifier,
            service=name,
            interval=settings.REVOCATION_POLL_SECONDS,
        )
        verifier.revocation = poller

    context = AppContext(
        name=name, version=version, settings=settings, verifier=verifier, poller=poller
    )

    @asynccontextmanager
    async def service_lifespan(app: Starlette) -> AsyncIterator[None]:
        if migrations is not None:
            context.database_or_none = await open_database(
                settings, name=name, migrations=migrations
            )
        http = context.http_or_none = create_http_client(settings)
        if poller is not None:
            poller.start(http)
        try:
            if lifespan is None:
                yield
            else:
                async with lifespan(context) as state:
                    context.service = state
                    yield
        finally:
            context.service = None
            if poller is not None:
                await poller.stop()
            await http.aclose()
            if context.database_or_none is not None:
                await context.database_or_none.dispose()

    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/openapi.json", _openapi, methods=["GET"], include_in_schema=False),
            # Unauthenticated, unlike the other /internal routes: Prometheus scrapes
            # it without a token, and the gateway never routes /internal.
            Route(METRICS_PATH, metrics_endpoint, methods=["GET"], include_in_schema=False),
            *routes,
            *internal_routes,
        ],
        middleware=[
            Middleware(RequestContextMiddleware),
            Middleware(RequestLimitsMiddleware),
            Middleware(TrailingSlashMiddleware),
            # Innermost: it reads the route the router matched from the scope.
            Middleware(MetricsMiddleware, service=name),
        ],
        exception_handlers=dict(EXCEPTION_HANDLERS),
        lifespan=service_lifespan,
    )
    assert isinstance(app.router, Router)
    app.router.redirect_slashes = False
    app.state.context = context
    return app
