"""`/health`: 200 only when the service's database answers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from anime_common._openapi import document
from anime_common._responses import JSONResponse
from anime_common._state import app_context


@document("Service health: 200 when its database answers, 503 when not", errors=[503])
async def health(request: Request) -> Response:
    context = app_context(request)
    service, database = context.name, context.database_or_none
    if database is None:
        return JSONResponse({"status": "ok", "service": service, "database": None})
    if await database.ping():
        return JSONResponse({"status": "ok", "service": service, "database": "ok"})
    return JSONResponse(
        {"status": "error", "service": service, "database": "unreachable"},
        status_code=503,
        headers={"Retry-After": "5"},
    )
