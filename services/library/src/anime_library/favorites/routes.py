"""Routes of favorites: reads need a valid token, writes `write:content` and answer 202
with the job that will do them (API.md, Library)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from anime_common import JSONResponse, document, list_response, parse_body, parse_query, requires
from anime_library.favorites import service
from anime_library.favorites.schemas import (
    FavoriteAccepted,
    FavoriteIn,
    FavoriteOut,
    FavoritesQuery,
)
from anime_library.jobs.schemas import JobAccepted
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
    accepted = await service.add_favorite(
        state=get_state(request), user_id=user_of(request), reference=body.anime_id
    )
    return JSONResponse(accepted, status_code=202)


@document(
    "Remove a favorite by its id or its anime's id (written by a job)",
    response=JobAccepted,
    status_code=202,
    errors=[503, 504],
    tags=TAGS,
)
@requires(WRITE)
async def remove_favorite(request: Request) -> Response:
    accepted = await service.remove_favorite(
        state=get_state(request), user_id=user_of(request), reference=request.path_params["x"]
    )
    return JSONResponse(accepted, status_code=202)


routes: list[BaseRoute] = [
    Route("/favorites", list_favorites, methods=["GET"]),
    Route("/favorites", add_favorite, methods=["POST"]),
    Route("/favorites/{x}", remove_favorite, methods=["DELETE"]),
]
