"""Pure ASGI middleware shared by every service (no BaseHTTPMiddleware: it breaks contextvars)."""

from __future__ import annotations

import logging
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from anime_common._error_handlers import unexpected_error_response
from anime_common._errors import error_body
from anime_common._metrics import METRICS_PATH
from anime_common._request_id import REQUEST_ID_HEADER, accept_or_generate, request_id_var
from anime_common._responses import JSONResponse
from anime_common._revocation import REVOCATIONS_PATH

access_logger = logging.getLogger("anime_common.access")

# Asked every few seconds by machines (each service polls auth's revocations
# every 2 s; Prometheus scrapes): their access lines are DEBUG, or they would
# be most of a log.
ROUTINE_PATHS = frozenset({REVOCATIONS_PATH, METRICS_PATH})


class RequestContextMiddleware:
    """Request id in and out, one JSON access-log line, and a safe envelope for any crash."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        incoming = dict(scope["headers"]).get(REQUEST_ID_HEADER.lower().encode())
        request_id = accept_or_generate(incoming.decode("latin-1") if incoming else None)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if response_started:
                # Too late for an envelope; the server closes the connection.
                raise
            response = unexpected_error_response(exc)
            status = response.status_code
            await response(scope, receive, send_with_id)
        finally:
            access_logger.log(
                logging.DEBUG if scope["path"] in ROUTINE_PATHS else logging.INFO,
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id_var.reset(token)


class TrailingSlashMiddleware:
    """Answer `/x/` exactly like `/x`, without the redirect Starlette would send."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            scope = dict(scope)
            scope["path"] = path.rstrip("/") or "/"
            raw_path: bytes | None = scope.get("raw_path")
            if raw_path:
                scope["raw_path"] = raw_path.rstrip(b"/") or b"/"
        await self.app(scope, receive, send)


# No query string or header block the API reads comes close (the longest is a search
# or a Bearer token). The edge refuses a longer query string itself and passes up to
# 1 MiB of request head (deploy/traefik), so the header limit is answered here.
MAX_QUERY_BYTES = 8192
MAX_HEADER_BYTES = 16384


class RequestLimitsMiddleware:
    """414 for an overlong query string, 431 for an overlong header block, in the envelope.

    Before any route: a request nobody will read is refused before it costs a parse.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            status = 0
            if len(scope.get("query_string", b"")) > MAX_QUERY_BYTES:
                status = 414
            elif sum(len(name) + len(value) for name, value in scope["headers"]) > (
                MAX_HEADER_BYTES
            ):
                status = 431
            if status:
                response = JSONResponse(error_body(status), status_code=status)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
