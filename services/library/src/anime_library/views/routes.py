"""Routes of views (rules in `views.service`): recording is a job, the counts are public."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from anime_common import (
    JSONResponse,
    document,
    list_response,
    parse_body,
    parse_query,
    requires,
)
from anime_library.state import WRITE, get_state, user_of
from anime_library.views import service
from anime_library.views.schemas import (
    ViewAccepted,
    ViewIn,
    ViewOut,
    ViewsQuery,
    ViewStatsOut,
    ViewStatsQuery,
)

TAGS = ("views",)


@document(
    "Record that the caller watched an anime (episode optional); counted once per hour",
    body=ViewIn,
    response=ViewAccepted,
    status_code=202,
    errors=[404, 503, 504],
    tags=TAGS,
)
@requires(WRITE)
async def record_view(request: Request) -> Response:
    body = await parse_body(request, ViewIn)
    accepted = await service.record_view(
        state=get_state(request),
        user_id=user_of(request),
        data=body,
        window_seconds=get_state(request).settings.VIEW_DEDUPE_SECONDS,
    )
    return JSONResponse(accepted, status_code=202)


@document(
    "The anime the caller viewed, most recently viewed first",
    query=ViewsQuery,
    response=list[ViewOut],
    errors=[503, 504],
    tags=TAGS,
)
@requires()
async def recent_views(request: Request) -> Response:
    query = parse_query(request, ViewsQuery)
    items, total = await service.recent_views(
        state=get_state(request), user_id=user_of(request), limit=query.limit,
        offset=query.offset,
    )  # fmt: skip
    return list_response(request, items, total=total, page=query)


@document(
    "Public view counts of an anime: in total and over the last 7 days (UTC)",
    query=ViewStatsQuery,
    response=ViewStatsOut,
    errors=[404, 503, 504],
    tags=TAGS,
)
async def view_stats(request: Request) -> Response:
    query = parse_query(request, ViewStatsQuery)
    stats = await service.view_stats(state=get_state(request), reference=query.anime_id)
    return JSONResponse(stats)


routes: list[BaseRoute] = [
    Route("/views", recent_views, methods=["GET"]),
    Route("/views", record_view, methods=["POST"]),
    Route("/views/stats", view_stats, methods=["GET"]),
]
