"""Internal routes (`/internal/...`): service token with permission `internal`.

Traefik never routes these; other services call the catalog directly.
"""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
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
from anime_catalog.state import CatalogState, get_state
from anime_common import (
    HIANIME_ID,
    INTERNAL_PERMISSION,
    ConflictError,
    JSONResponse,
    NotFoundError,
    document,
    parse_body,
    requires,
)

TAGS = ("internal",)


async def _save(state: CatalogState, data: AnimeIn) -> tuple[AnimeOut, bool]:
    """Upsert `data` in a transaction of its own; the anime as it is once committed."""
    try:
        async with state.database.transaction() as session:
            anime_id, created = await service.upsert_anime(session=session, data=data)
    except IntegrityError as exc:
        # Its AniList and HiAnime ids (or its slug) belong to two different anime.
        raise ConflictError("The anime's ids or slug belong to another anime") from exc
    return AnimeOut.from_row(await service.saved_anime(state=state, anime_id=anime_id)), created


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
    anime, created = await _save(get_state(request), data)
    return JSONResponse(anime, status_code=201 if created else 200)


@document(
    "Many anime by id at once; unknown ids are left out",
    body=IdsIn,
    response=list[AnimeOut],
    tags=TAGS,
)
@requires(INTERNAL_PERMISSION)
async def anime_batch(request: Request) -> Response:
    body = await parse_body(request, IdsIn)
    rows = await service.anime_by_ids(state=get_state(request), ids=body.ids)
    return JSONResponse([AnimeOut.from_row(row) for row in rows])


@document(
    "Anime by AniList or MyAnimeList id; ids the catalog lacks are left out",
    body=ExternalIdsIn,
    response=list[AnimeOut],
    tags=TAGS,
)
@requires(INTERNAL_PERMISSION)
async def anime_by_external_ids(request: Request) -> Response:
    body = await parse_body(request, ExternalIdsIn)
    rows = await service.anime_by_external_ids(
        state=get_state(request), anilist_ids=body.anilist_ids, mal_ids=body.mal_ids
    )
    return JSONResponse([AnimeOut.from_row(row) for row in rows])


@document(
    "Many episodes by id at once, with their anime_id; unknown ids are left out",
    body=IdsIn,
    response=list[EpisodeLookupOut],
    tags=TAGS,
)
@requires(INTERNAL_PERMISSION)
async def episode_batch(request: Request) -> Response:
    body = await parse_body(request, IdsIn)
    rows = await service.episodes_by_ids(state=get_state(request), ids=body.ids)
    return JSONResponse([EpisodeLookupOut.from_row(row) for row in rows])


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
    return JSONResponse(HianimeEpisodeOut(episode_id=uuid.UUID(raw_id), hianime_episode_id=value))


@document(
    "The anime of a HiAnime id, imported through the proxy when unknown",
    response=AnimeOut,
    errors=[404, 502, 503, 504],
    tags=TAGS,
)
@requires(INTERNAL_PERMISSION)
async def resolve_hianime(request: Request) -> Response:
    """Imported when still unknown: an in-process lock per id makes concurrent requests
    wait for the first import instead of each fetching; the upsert's advisory lock and
    `ON CONFLICT` cover other processes."""
    state = get_state(request)
    hianime_id = request.path_params["hianime_id"]
    if not HIANIME_ID.fullmatch(hianime_id):
        raise NotFoundError("Anime not found")
    row = await service.known_hianime(state=state, hianime_id=hianime_id)
    if row is not None:
        return JSONResponse(AnimeOut.from_row(row))
    async with state.import_locks.hold(hianime_id):
        # The request this one waited for may have imported it.
        row = await service.known_hianime(state=state, hianime_id=hianime_id)
        if row is not None:
            return JSONResponse(AnimeOut.from_row(row))
        anime, _ = await _save(
            state, await service.fetch_hianime(state=state, hianime_id=hianime_id)
        )
    return JSONResponse(anime)


internal_routes: list[BaseRoute] = [
    Route("/internal/anime", upsert_anime, methods=["POST"]),
    Route("/internal/anime/batch", anime_batch, methods=["POST"]),
    Route("/internal/anime/by-external-ids", anime_by_external_ids, methods=["POST"]),
    Route("/internal/episodes/batch", episode_batch, methods=["POST"]),
    Route("/internal/episodes/{id}/hianime", hianime_episode, methods=["GET"]),
    Route("/internal/hianime/{hianime_id}", resolve_hianime, methods=["GET"]),
]
