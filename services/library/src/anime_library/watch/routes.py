"""Routes of watch progress: reads need a valid token; a write needs `write:content` and
answers 202 with the job that will do it (API.md, Library)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from anime_common import JSONResponse, document, list_response, parse_body, parse_query, requires
from anime_library.state import WRITE, get_state, user_of
from anime_library.watch import service
from anime_library.watch.schemas import (
    ContinueOut,
    ContinueQuery,
    ProgressAccepted,
    ProgressIn,
    ProgressOut,
    ProgressQuery,
)

TAGS = ("library",)


@document(
    "Record where the user is in an episode (written by a job; the newest wins)",
    body=ProgressIn,
    response=ProgressAccepted,
    status_code=202,
    errors=[404, 503, 504],
    tags=TAGS,
)
@requires(WRITE)
async def record_progress(request: Request) -> Response:
    body = await parse_body(request, ProgressIn)
    accepted = await service.record_progress(
        state=get_state(request), user_id=user_of(request), data=body
    )
    return JSONResponse(accepted, status_code=202)


@document(
    "Per-episode progress in one anime",
    query=ProgressQuery,
    response=list[ProgressOut],
    errors=[503, 504],
    tags=TAGS,
)
@requires()
async def list_progress(request: Request) -> Response:
    query = parse_query(request, ProgressQuery)
    items, total = await service.progress_of(
        state=get_state(request),
        user_id=user_of(request),
        reference=query.anime_id,
        limit=query.limit,
        offset=query.offset,
    )
    return list_response(request, items, total=total, page=query)


@document(
    "Continue watching: the latest episode of each anime, most recent first",
    query=ContinueQuery,
    response=list[ContinueOut],
    errors=[503, 504],
    tags=TAGS,
)
@requires()
async def continue_watching(request: Request) -> Response:
    query = parse_query(request, ContinueQuery)
    items, total = await service.continue_watching(
        state=get_state(request),
        user_id=user_of(request),
        limit=query.limit,
        offset=query.offset,
    )
    return list_response(request, items, total=total, page=query)


routes: list[BaseRoute] = [
    Route("/watch/progress", list_progress, methods=["GET"]),
    Route("/watch/progress", record_progress, methods=["POST"]),
    Route("/watch/continue", continue_watching, methods=["GET"]),
]
