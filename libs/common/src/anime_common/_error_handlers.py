"""Turns every failure a service can produce into the one JSON envelope."""

from __future__ import annotations

import logging

from pydantic import ValidationError as PydanticValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from anime_common._database import is_database_unavailable
from anime_common._errors import AppError, ValidationError, error_body
from anime_common._parsing import field_errors
from anime_common._responses import JSONResponse

logger = logging.getLogger("anime_common.errors")


async def app_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return JSONResponse(exc.to_body(), status_code=exc.status_code, headers=exc.headers)


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (routing 404/405, ...): our codes, its status and headers."""
    assert isinstance(exc, HTTPException)
    # Starlette's details are fixed phrases, safe to show for client errors only.
    message = exc.detail if exc.status_code < 500 and isinstance(exc.detail, str) else None
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return JSONResponse(
        error_body(exc.status_code, message), status_code=exc.status_code, headers=headers
    )


def _allowed_methods(request: Request) -> str:
    """Every method of every route on this path: Starlette's 405 names only the first route's."""
    methods: set[str] = set()
    path = request.scope["path"]
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods and route.path_regex.match(path):
            methods |= route.methods
    return ", ".join(sorted(methods))


async def pydantic_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PydanticValidationError)
    error = ValidationError("Validation failed", fields=field_errors(exc))
    return await app_error_handler(request, error)


def unexpected_error_response(exc: BaseException) -> JSONResponse:
    """A safe response for an exception nobody handled; the details go to the log only."""
    if is_database_unavailable(exc):
        logger.warning("database unavailable: %s", type(exc).__name__)
        return JSONResponse(
            error_body(503, "Database unavailable, try again shortly"),
            status_code=503,
            headers={"Retry-After": "5"},
        )
    logger.error("unhandled error", exc_info=exc)
    return JSONResponse(error_body(500), status_code=500)


EXCEPTION_HANDLERS = {
    AppError: app_error_handler,
    HTTPException: http_exception_handler,
    PydanticValidationError: pydantic_error_handler,
}
