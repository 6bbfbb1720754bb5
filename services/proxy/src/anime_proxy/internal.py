"""Internal routes (`/internal/...`, service token with permission `internal`), never routed
by Traefik: the catalog imports an anime it does not know yet through here.

`GET /internal/hianime/anime/{hianime_id}` → the catalog's `AnimeIn` (titles, ids,
genres, year, one release with its episodes), from aniwatch-api's `/anime/{id}` and
`/anime/{id}/episodes` (both cached like the public routes); 404 when the upstream does
not know the id.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from anime_common import (
    HIANIME_ID,
    INTERNAL_PERMISSION,
    JSONResponse,
    NotFoundError,
    document,
    requires,
)
from anime_proxy.catalog_client import catalog_episodes, text_or_none
from anime_proxy.state import ProxyState, get_state

_KINDS = {"tv": "tv", "movie": "movie", "ova": "ova", "ona": "ona", "special": "special",
          "music": "music"}  # fmt: skip
_STATUSES = {"finished airing": "released", "currently airing": "ongoing",
             "not yet aired": "announced"}  # fmt: skip
_YEAR = re.compile(r"\b(19\d\d|20\d\d)\b")


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def anime_document(
    hianime_id: str, about: dict[str, Any], listing: dict[str, Any]
) -> dict[str, Any]:
    """The catalog's `AnimeIn` from the upstream's details and episode list."""
    anime = about.get("anime") or {}
    info = anime.get("info") or {}
    more = anime.get("moreInfo") or {}
    stats = info.get("stats") or {}
    kind = _KINDS.get(str(stats.get("type") or "").lower())
    status = _STATUSES.get(str(more.get("status") or "").lower())
    year_match = _YEAR.search(str(more.get("premiered") or more.get("aired") or ""))
    year = int(year_match.group(1)) if year_match else None
    title = text_or_none(info.get("name")) or hianime_id
    genres = [genre for genre in more.get("genres") or [] if isinstance(genre, str)]
    synonyms = text_or_none(more.get("synonyms"))
    total = _positive((stats.get("episodes") or {}).get("sub")) or _positive(
        listing.get("totalEpisodes")
    )
    return {
        "slug": hianime_id,
        "title": title[:500],
        "title_original": text_or_none(more.get("japanese")),
        "title_en": title[:500],
        "synonyms": [part.strip() for part in synonyms.split(",")][:50] if synonyms else [],
        "description": text_or_none(info.get("description")),
        "kind": kind,
        "status": status,
        "year": year,
        "genres": genres[:30],
        "episodes_total": total,
        "poster": text_or_none(info.get("poster")),
        "anilist_id": _positive(info.get("anilistId")),
        "mal_id": _positive(info.get("malId")),
        "hianime_id": hianime_id,
        "releases": [
            {
                "title": title[:500],
                "kind": kind,
                "season_number": 1,
                "year": year,
                "status": status,
                "episodes_total": total,
                "episodes": catalog_episodes(listing),
            }
        ],
    }


async def _data(state: ProxyState, segments: tuple[str, ...], policy_name: str) -> dict[str, Any]:
    policy = getattr(state.policies, policy_name)
    answer = await state.hianime.fetch(policy=policy, segments=segments)
    data = orjson.loads(answer.body).get("data")
    return data if isinstance(data, dict) else {}


@document(
    "An anime as the catalog imports it, from the upstream",
    errors=[404, 502, 504],
    tags=("internal",),
)
@requires(INTERNAL_PERMISSION)
async def hianime_anime(request: Request) -> Response:
    state = get_state(request)
    hianime_id: str = request.path_params["hianime_id"]
    if not HIANIME_ID.fullmatch(hianime_id):
        raise NotFoundError("Anime not found")
    about = await _data(state, ("anime", hianime_id), "anime")
    listing = await _data(state, ("anime", hianime_id, "episodes"), "episodes")
    return JSONResponse(anime_document(hianime_id, about, listing))


internal_routes: list[BaseRoute] = [
    Route("/internal/hianime/anime/{hianime_id}", hianime_anime, methods=["GET"]),
]
