"""Routes of the library service (`/health` and `/openapi.json` come from anime_common).

Favorites, watch progress and jobs are here; collections and views in their
own modules. Reads need a valid token, writes `write:content`. Favorite and
progress writes answer 202 with the job that will do them (API.md, Library).
"""

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
from anime_library import collection_routes, service, view_routes
from anime_library.schemas import (
    ContinueOut,
    ContinueQuery,
    FavoriteAccepted,
    FavoriteIn,
    FavoriteOut,
    FavoritesQuery,
    JobAccepted,
    JobOut,
    ProgressAccepted,
    ProgressIn,
    ProgressOut,
    ProgressQuery,
)
from anime_library.state import WRITE, get_state, user_of

TAGS = ("library",)


@document(
    "The user's favorites, newest first; with `anime_id` (a UUID or a HiAnime id),"
    " only that anime's favorite, if any",
    query=FavoritesQuery,
    response=list[FavoriteOut],
    errors=[503, 504],
    tags=TAGS,
)
@requires()
async def list_favorites(request: Request) -> Response:
    query = parse_query(request, FavoritesQuery)
    items, total = await service.list_favorites(
        state=get_state(request),
        user_id=user_of(request),
        reference=query.anime_id,
        limit=query.limit,
        offset=query.offset,
    )
    return list_response(request, items, total=total, page=query)


@document(
    "Add a favorite (written by a job); an existing one keeps its id",
    body=FavoriteIn,
    response=FavoriteAccepted,
    status_code=202,
    errors=[404, 503, 504],
    tags=TAGS,
)
@requires(WRITE)
async def add_favorite(request: Request) -> Response:
    body = await parse_body(request, FavoriteIn)
    row, job = await service.add_favorite(
        state=get_state(request), user_id=user_of(request), reference=body.anime_id
    )
    return JSONResponse(
        {"id": row.id, "anime_id": row.anime_id, "created_at": row.created_at,
         "job": job.to_dict()},
        status_code=202,
    )  # fmt: skip


@document(
    "Remove a favorite by its id or its anime's id (written by a job)",
    response=JobAccepted,
    status_code=202,
    errors=[503, 504],
    tags=TAGS,
)
@requires(WRITE)
async def remove_favorite(request: Request) -> Response:
    job = await service.remove_favorite(
        state=get_state(request), user_id=user_of(request), reference=request.path_params["x"]
    )
    return JSONResponse({"job": job.to_dict()}, status_code=202)


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
    row, job = await service.record_progress(
        state=get_state(request), user_id=user_of(request), data=body
    )
    return JSONResponse(
        {
            "anime_id": row.anime_id,
            "episode": row.episode,
            "position_seconds": row.position_seconds,
            "progress_percent": row.progress_percent,
            "last_watched_at": row.last_watched_at,
            "job": job.to_dict(),
        },
        status_code=202,
    )


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


@document("One of the user's jobs", response=JobOut, errors=[404], tags=TAGS)
@requires()
async def get_job(request: Request) -> Response:
    job = await service.job_of(
        state=get_state(request), user_id=user_of(request), raw_id=request.path_params["id"]
    )
    return JSONResponse(job.to_dict())


routes: list[BaseRoute] = [
    Route("/favorites", list_favorites, methods=["GET"]),
    Route("/favorites", add_favorite, methods=["POST"]),
    Route("/favorites/{x}", remove_favorite, methods=["DELETE"]),
    Route("/watch/progress", list_progress, methods=["GET"]),
    Route("/watch/progress", record_progress, methods=["POST"]),
    Route("/watch/continue", continue_watching, methods=["GET"]),
    Route("/jobs/{id}", get_job, methods=["GET"]),
    *collection_routes.routes,
    *view_routes.routes,
]
