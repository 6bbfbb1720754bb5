"""Routes of the proxy service (`/health` and `/openapi.json` come from anime_common).

Success bodies are the upstream's bytes, unchanged (the frontend reads `res.data.data`);
failures are our envelope. Every value is validated before anything goes upstream.
"""

from __future__ import annotations

import datetime
import uuid

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from anime_common import (
    HIANIME_ID,
    JSONResponse,
    NotFoundError,
    ValidationError,
    document,
    parse_body,
    parse_query,
    requires,
)
from anime_proxy.breaker import BreakerState
from anime_proxy.hianime import Answer
from anime_proxy.schemas import (
    HealthOut,
    ImportIn,
    ImportOut,
    ScheduleQuery,
    SearchQuery,
    ServersQuery,
    SourcesQuery,
    SuggestionQuery,
)
from anime_proxy.state import ProxyState, get_state

TAGS = ("hianime",)
_UPSTREAM_ERRORS = [404, 429, 502, 503, 504]


def _respond(answer: Answer) -> Response:
    headers = {"Cache-Control": answer.cache_control, "X-Cache": answer.cache}
    if answer.cache in {"HIT", "STALE"}:
        headers["Age"] = str(answer.age)
    return Response(answer.body, media_type="application/json", headers=headers)


def _anime_id(request: Request) -> str:
    value: str = request.path_params["id"]
    if not HIANIME_ID.fullmatch(value):
        raise NotFoundError("Anime not found")
    return value


async def _episode_id(state: ProxyState, value: uuid.UUID | str) -> str:
    if isinstance(value, uuid.UUID):
        return await state.catalog.hianime_episode_id(value)
    return value


@document("Own status and whether the upstream answers; never a 5xx", response=HealthOut, tags=TAGS)
async def api_health(request: Request) -> Response:
    state = get_state(request)
    # An open breaker already knows the answer: do not knock on a door we keep shut.
    is_open = state.hianime.upstream.breaker.state is BreakerState.OPEN
    ok = not is_open and await state.health.upstream_ok()
    return JSONResponse(
        HealthOut(status="ok", upstream="ok" if ok else "down"),
        headers={"Cache-Control": "no-store"},
    )


@document("The home page of HiAnime, as aniwatch-api gives it", errors=_UPSTREAM_ERRORS, tags=TAGS)
async def home(request: Request) -> Response:
    state = get_state(request)
    return _respond(await state.hianime.fetch(policy=state.policies.home, segments=("home",)))


@document("Airing schedule of a day", query=ScheduleQuery, errors=_UPSTREAM_ERRORS, tags=TAGS)
async def schedule(request: Request) -> Response:
    state = get_state(request)
    query = parse_query(request, ScheduleQuery)
    params = query.upstream_params()
    if query.date is None:
        # The day it is where the caller is (tzOffset as JavaScript's getTimezoneOffset).
        offset = datetime.timedelta(minutes=query.tzOffset or 0)
        params["date"] = (datetime.datetime.now(datetime.UTC) - offset).date().isoformat()
    return _respond(
        await state.hianime.fetch(
            policy=state.policies.schedule, segments=("schedule",), params=params
        )
    )


@document(
    "Search with every aniwatch-api filter", query=SearchQuery, errors=_UPSTREAM_ERRORS, tags=TAGS
)
async def search(request: Request) -> Response:
    state = get_state(request)
    query = parse_query(request, SearchQuery)
    return _respond(
        await state.hianime.fetch(
            policy=state.policies.search, segments=("search",), params=query.upstream_params()
        )
    )


@document("Search suggestions", query=SuggestionQuery, errors=_UPSTREAM_ERRORS, tags=TAGS)
async def suggestion(request: Request) -> Response:
    state = get_state(request)
    query = parse_query(request, SuggestionQuery)
    return _respond(
        await state.hianime.fetch(
            policy=state.policies.suggestion,
            segments=("search", "suggestion"),
            params=query.upstream_params(),
        )
    )


@document("An anime's details", errors=_UPSTREAM_ERRORS, tags=TAGS)
async def anime(request: Request) -> Response:
    state = get_state(request)
    anime_id = _anime_id(request)
    return _respond(
        await state.hianime.fetch(policy=state.policies.anime, segments=("anime", anime_id))
    )


@document("An anime's episodes", errors=_UPSTREAM_ERRORS, tags=TAGS)
async def episodes(request: Request) -> Response:
    state = get_state(request)
    anime_id = _anime_id(request)
    return _respond(
        await state.hianime.fetch(
            policy=state.policies.episodes, segments=("anime", anime_id, "episodes")
        )
    )


@document("When an anime's next episode airs", errors=_UPSTREAM_ERRORS, tags=TAGS)
async def next_episode_schedule(request: Request) -> Response:
    state = get_state(request)
    anime_id = _anime_id(request)
    return _respond(
        await state.hianime.fetch(
            policy=state.policies.next_episode,
            segments=("anime", anime_id, "next-episode-schedule"),
        )
    )


@document(
    "The servers of an episode (HiAnime episode id or catalog episode UUID)",
    query=ServersQuery,
    errors=_UPSTREAM_ERRORS,
    tags=TAGS,
)
async def episode_servers(request: Request) -> Response:
    state = get_state(request)
    query = parse_query(request, ServersQuery)
    episode_id = await _episode_id(state, query.animeEpisodeId)
    return _respond(
        await state.hianime.fetch(
            policy=state.policies.servers,
            segments=("episode", "servers"),
            params={"animeEpisodeId": episode_id},
        )
    )


@document(
    "Stream sources of an episode; without `server`, hd-1 then hd-2",
    query=SourcesQuery,
    errors=_UPSTREAM_ERRORS,
    tags=TAGS,
)
async def episode_sources(request: Request) -> Response:
    state = get_state(request)
    query = parse_query(request, SourcesQuery)
    episode_id = await _episode_id(state, query.animeEpisodeId)
    answer = await state.hianime.sources(
        policy=state.policies.sources,
        episode_id=episode_id,
        server=query.server,
        category=query.category,
    )
    # The stream proxy may fetch from the CDNs this answer names (and only those).
    state.stream.origins.learn_from_sources(answer.body)
    return _respond(answer)


@document(
    "Import AniList lists (given, or fetched by user name) into the catalog",
    body=ImportIn,
    response=ImportOut,
    errors=[404, 429, 502, 503, 504],
    tags=("import",),
)
@requires()
async def import_anilist(request: Request) -> Response:
    state = get_state(request)
    body = await parse_body(request, ImportIn)
    lists = body.animes if body.animes is not None else []
    if body.username is not None:
        lists = await state.anilist.user_lists(body.username)
    total = sum(len(media_list.entries) for media_list in lists)
    if total > state.settings.IMPORT_MAX_ENTRIES:
        raise ValidationError.for_field(
            "animes", f"at most {state.settings.IMPORT_MAX_ENTRIES} entries per import"
        )
    # Lists sent by the client may carry only ids and titles: complete them from AniList.
    result = await state.importer.run(lists, complete=body.username is None)
    return JSONResponse(result)


routes: list[BaseRoute] = [
    Route("/api/health", api_health, methods=["GET"]),
    Route("/api/home", home, methods=["GET"]),
    Route("/api/schedule", schedule, methods=["GET"]),
    Route("/api/search", search, methods=["GET"]),
    Route("/api/search/suggestion", suggestion, methods=["GET"]),
    Route("/api/anime/{id}", anime, methods=["GET"]),
    Route("/api/anime/{id}/episodes", episodes, methods=["GET"]),
    Route("/api/anime/{id}/next-episode-schedule", next_episode_schedule, methods=["GET"]),
    Route("/api/episode/servers", episode_servers, methods=["GET"]),
    Route("/api/episode/sources", episode_sources, methods=["GET"]),
    Route("/api/import/anilist", import_anilist, methods=["POST"]),
]
