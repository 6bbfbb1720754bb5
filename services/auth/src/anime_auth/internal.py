"""Internal routes (`/internal/...`): service token with permission `internal`.

Traefik never routes these; the media service and the revocation pollers of the
other services call auth directly.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from anime_auth import service, sessions
from anime_auth.schemas import AvatarRequest, RevocationsOut, RevocationsQuery, UserOut
from anime_auth.state import get_state
from anime_common import (
    INTERNAL_PERMISSION,
    JSONResponse,
    document,
    parse_body,
    parse_query,
    requires,
)


@document(
    "Set a user's avatar path (the media service, after an upload)",
    body=AvatarRequest,
    response=UserOut,
    errors=[404],
    tags=["internal"],
)
@requires(INTERNAL_PERMISSION)
async def set_avatar(request: Request) -> Response:
    data = await parse_body(request, AvatarRequest)
    async with get_state(request).database.transaction() as session:
        user = await service.set_avatar(
            session=session, user_id=request.path_params["user_id"], avatar=data.avatar
        )
    return JSONResponse(user)


@document(
    "Sessions revoked since a cursor, while their access tokens may still be presented",
    query=RevocationsQuery,
    response=RevocationsOut,
    tags=["internal"],
)
@requires(INTERNAL_PERMISSION)
async def revocations(request: Request) -> Response:
    query = parse_query(request, RevocationsQuery)
    async with get_state(request).database.transaction() as session:
        result = await sessions.revocations(
            session=session, state=get_state(request), since=query.since
        )
    return JSONResponse(result)


internal_routes: list[BaseRoute] = [
    Route("/internal/users/{user_id}/avatar", set_avatar, methods=["PUT"]),
    Route("/internal/revocations", revocations, methods=["GET"]),
]
