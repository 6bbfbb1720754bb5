"""Internal routes (`/internal/...`): service token with permission `internal`.

Traefik never routes these; other services call the catalog directly.
"""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from anime_catalog import service
from anime_catalog.schemas import (
    AnimeIn,
    AnimeOut,
    EpisodeLookupOut,
    ExternalIdsIn,
    HianimeEpisodeOut,
    IdsIn,
)
from anime_catalog.state import get_state
from anime_common import (
    HIANIME_ID,
    INTERNAL_PERMISSION,
    JSONResponse,
    NotFoundError,
    document,
    parse_body,
    requires,
)

TAGS = ("internal",)


@document(
    "Create or update an anime (with releases and episodes) by anilist_id or hianime_id",
    body=AnimeIn,
    response=AnimeOut,
    status_code=201,
    also=[200],
    errors=[409],
    tags=TAGS,
)
@requires(INTERNAL_PERMISSION)
async def upsert_anime(request: Request) -> Response:
    data = await parse_body(request, AnimeIn)
    row, created = await service.upsert_and_read(state=get_state(request), data=data)
    return JSONResponse(row, status_code=201 if created else 200)


@document(
    "Many anime by id at once; unknown ids are left out",
    body=IdsIn,
    response=list[AnimeOut],
    tags=TAGS,
)
@requires(INTERNAL_PERMISSION)
async def anime_batch(request: Request) -> Response:
    body = await parse_body(request, IdsIn)
    return JSONResponse(await service.anime_by_ids(state=get_state(request), ids=body.ids))


@document(
    "Anime by AniList or MyAnimeList id; ids the catalog lacks are left out",
    body=ExternalIdsIn,
    response=list[AnimeOut],
    tags=TAGS,
)
@requires(INTERNAL_PERMISSION)
async def anime_by_external_ids(request: Request) -> Response:
    body = await parse_body(request, ExternalIdsIn)
    return JSONResponse(
        await service.anime_by_external_ids(
            state=get_state(request),
            anilist_ids=body.anilist_ids,
            mal_ids=body.mal_ids,
        )
    )


@document(
    "Many episodes by id at once, with their anime_id; unknown ids are left out",
    body=IdsIn,
    response=list[EpisodeLookupOut],
    tags=TAGS,
)
@requires(INTERNAL_PERMISSION)
async def episode_batch(request: Request) -> Response:
    body = await parse_body(request, IdsIn)
    return JSONResponse(await service.episodes_by_ids(state=get_state(request), ids=body.ids))


@document(
    "The HiAnime episode id of a catalog episode",
    response=HianimeEpisodeOut,
    errors=[404],
    tags=TAGS,
)
@requires(INTERNAL_PERMISSION)
async def hianime_episode(request: Request) -> Response:
    raw_id = request.path_params["id"]
    value = await service.hianime_episode_id(state=get_state(request), raw_id=raw_id)
    return JSONResponse({"episode_id": uuid.UUID(raw_id), "hianime_episode_id": value})


@document(
    "The anime of a HiAnime id, imported through the proxy when unknown",
    response=AnimeOut,
    errors=[404, 502, 503, 504],
    tags=TAGS,
)
@requires(INTERNAL_PERMISSION)
async def resolve_hianime(request: Request) -> Response:
    hianime_id = request.path_params["hianime_id"]
    if not HIANIME_ID.fullmatch(hianime_id):
        raise NotFoundError("Anime not found")
    return JSONResponse(
        await service.resolve_hianime(state=get_state(request), hianime_id=hianime_id)
    )


internal_routes: list[BaseRoute] = [
    Route("/internal/anime", upsert_anime, methods=["POST"]),
    Route("/internal/anime/batch", anime_batch, methods=["POST"]),
    Route("/internal/anime/by-external-ids", anime_by_external_ids, methods=["POST"]),
    Route("/internal/episodes/batch", episode_batch, methods=["POST"]),
    Route("/internal/episodes/{id}/hianime", hianime_episode, methods=["GET"]),
    Route("/internal/hianime/{hianime_id}", resolve_hianime, methods=["GET"]),
]
