"""Public routes of the catalog (API.md, Catalog). They never read `Authorization`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from anime_catalog import service
from anime_catalog.schemas import (
    AnimeListQuery,
    AnimeOut,
    EpisodeListQuery,
    EpisodeOut,
    ReleaseListQuery,
    ReleaseOut,
    SearchQuery,
)
from anime_catalog.state import get_state
from anime_common import (
    JSONResponse,
    PageParams,
    conditional_response,
    document,
    list_response,
    parse_query,
)

TAGS = ("catalog",)


@document(
    "Anime, newest first unless `sort` says otherwise",
    query=AnimeListQuery,
    response=list[AnimeOut],
    tags=TAGS,
)
async def list_anime(request: Request) -> Response:
    query = parse_query(request, AnimeListQuery)
    rows, total = await service.list_anime(state=get_state(request), query=query)
    items = [AnimeOut.from_row(row) for row in rows]
    return conditional_response(request, list_response(request, items, total=total, page=query))


@document("One anime", response=AnimeOut, errors=[404], tags=TAGS)
async def get_anime(request: Request) -> Response:
    row = await service.get_anime(state=get_state(request), raw_id=request.path_params["id"])
    return conditional_response(request, JSONResponse(AnimeOut.from_row(row)))


@document(
    "Releases, of one anime when `anime_id` is given",
    query=ReleaseListQuery,
    response=list[ReleaseOut],
    tags=TAGS,
)
async def list_releases(request: Request) -> Response:
    query = parse_query(request, ReleaseListQuery)
    rows, total = await service.list_releases(
        state=get_state(request),
        anime_id=query.anime_id,
        limit=query.limit,
        offset=query.offset,
    )
    items = [ReleaseOut.from_row(row) for row in rows]
    return conditional_response(request, list_response(request, items, total=total, page=query))


@document("One release", response=ReleaseOut, errors=[404], tags=TAGS)
async def get_release(request: Request) -> Response:
    row = await service.get_release(state=get_state(request), raw_id=request.path_params["id"])
    return conditional_response(request, JSONResponse(ReleaseOut.from_row(row)))


@document(
    "Episodes of a release, by number: all of them unless `limit` is given",
    query=EpisodeListQuery,
    response=list[EpisodeOut],
    errors=[404],
    tags=TAGS,
)
async def list_episodes(request: Request) -> Response:
    query = parse_query(request, EpisodeListQuery)
    rows, total = await service.list_episodes(
        state=get_state(request),
        release_id=query.release_id,
        limit=query.limit,
        offset=query.offset,
    )
    # Unpaged, the page is exactly what came back: `Link` only past the cap.
    page = (
        query
        if query.limit is not None
        else PageParams.model_construct(limit=max(len(rows), 1), offset=query.offset)
    )
    items = [EpisodeOut.from_row(row) for row in rows]
    return conditional_response(request, list_response(request, items, total=total, page=page))


@document(
    "Anime matching `q` in any title or synonym, best match first; typos forgiven",
    query=SearchQuery,
    response=list[AnimeOut],
    tags=TAGS,
)
async def search_anime(request: Request) -> Response:
    query = parse_query(request, SearchQuery)
    rows, total = await service.search(state=get_state(request), query=query)
    items = [AnimeOut.from_row(row) for row in rows]
    return conditional_response(request, list_response(request, items, total=total, page=query))


routes: list[BaseRoute] = [
    Route("/anime", list_anime, methods=["GET"]),
    Route("/anime/{id}", get_anime, methods=["GET"]),
    Route("/releases", list_releases, methods=["GET"]),
    Route("/releases/{id}", get_release, methods=["GET"]),
    Route("/episodes", list_episodes, methods=["GET"]),
    Route("/search/anime", search_anime, methods=["GET"]),
]
