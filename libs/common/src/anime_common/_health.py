"""`/health`: 200 only when the service's database answers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from anime_common._database import Database
from anime_common._openapi import document
from anime_common._responses import JSONResponse


@document("Service health: 200 when its database answers, 503 when not", errors=[503])
async def health(request: Request) -> Response:
    service: str = request.app.state.service_name
    database: Database | None = request.app.state.database
    if database is None:
        return JSONResponse({"status": "ok", "service": service, "database": None})
    if await database.ping():
        return JSONResponse({"status": "ok", "service": service, "database": "ok"})
    return JSONResponse(
        {"status": "error", "service": service, "database": "unreachable"},
        status_code=503,
        headers={"Retry-After": "5"},
    )
