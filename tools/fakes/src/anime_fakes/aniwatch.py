"""A fake aniwatch-api v2 server (see shared/upstreams/aniwatch-api.md), failures on demand.

Faults (`FakeState.add_fault` or `POST /_fake/faults`), by `mode`:
`timeout` (answer after `delay` s), a status (`403`, `404`, `500`, `503`, ...), `429` (with
`Retry-After`),
`html` (a 200 HTML page), `legacy` (the `{"success": true}` envelope of v2.0-2.14, with
`tracks` instead of `subtitles` in sources), `empty-sources` (200, `sources: []`).
"""

from __future__ import annotations

import asyncio
import datetime
import re
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from anime_fakes import data
from anime_fakes.control import control_routes
from anime_fakes.faults import FakeState, Fault
from anime_fakes.hls import REFERER

CDN_URL = "https://cdn.example.test"

PREFIX = "/api/v2/hianime"
_HEADERS = {"Cache-Control": "s-maxage=60, stale-while-revalidate=30"}
_EPISODE_ID = re.compile(r"^(?P<anime>[a-z0-9-]+)\?ep=(?P<ep>\d+)$")
_ANIME_ID = re.compile(r"^[a-z0-9-]+-\d+$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_REASONS = {403: "Forbidden", 404: "Not Found", 500: "Something went wrong"}


class UpstreamError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _ok(payload: dict[str, Any], *, legacy: bool = False) -> Response:
    envelope: dict[str, Any] = {"success": True} if legacy else {"status": 200}
    return JSONResponse({**envelope, "data": payload}, headers=_HEADERS)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(
        {"status": status, "message": message},
        status_code=status,
        headers=_HEADERS | (headers or {}),
    )


def _anime(anime_id: str, scraper: str) -> data.FakeAnime:
    if not _ANIME_ID.fullmatch(anime_id):
        raise UpstreamError(400, f"{scraper}: invalid anime id")
    anime = data.find(anime_id)
    if anime is None:
        raise UpstreamError(404, f"{scraper}: fetchError: Not Found")
    return anime


def _episode(params: dict[str, str], scraper: str) -> tuple[data.FakeAnime, int]:
    match = _EPISODE_ID.fullmatch(params.get("animeEpisodeId", ""))
    if match is None:
        raise UpstreamError(400, f"{scraper}: invalid anime episode id")
    anime = _anime(match["anime"], scraper)
    number = int(match["ep"])
    if not 1 <= number <= anime.episodes:
        raise UpstreamError(404, f"{scraper}: fetchError: Not Found")
    return anime, number


def _popular(anime: data.FakeAnime) -> dict[str, Any]:
    row = anime.row()
    return {key: row[key] for key in ("id", "name", "jname", "poster", "type", "episodes")}


def home(params: dict[str, str]) -> dict[str, Any]:
    rows = [_popular(anime) for anime in data.ANIME]
    ranked = [{**anime.row(), "rank": rank} for rank, anime in enumerate(data.ANIME, 1)]
    return {
        "genres": list(data.GENRES),
        "spotlightAnimes": [
            {**row, "rank": rank, "description": anime.description, "otherInfo": ["TV"]}
            for rank, (row, anime) in enumerate(zip(rows, data.ANIME, strict=True), 1)
        ],
        "trendingAnimes": [
            {key: row[key] for key in ("id", "name", "jname", "poster", "rank")} for row in ranked
        ],
        "latestEpisodeAnimes": [anime.row() for anime in data.ANIME],
        "topUpcomingAnimes": [anime.row() for anime in data.ANIME[:2]],
        "top10Animes": {"today": ranked, "week": ranked, "month": ranked},
        "topAiringAnimes": rows,
        "mostPopularAnimes": rows,
        "mostFavoriteAnimes": rows,
        "latestCompletedAnimes": rows,
    }


def schedule(params: dict[str, str]) -> dict[str, Any]:
    date = params.get("date", "")
    if not _ISO_DATE.fullmatch(date):
        raise UpstreamError(400, "getEstimatedSchedule: invalid date")
    offset = int(params.get("tzOffset", "-330"))
    day = datetime.datetime.fromisoformat(date).replace(tzinfo=datetime.UTC)
    scheduled = []
    for hour, anime in enumerate(data.ANIME[:3], 10):
        airing = day + datetime.timedelta(hours=hour, minutes=offset)
        scheduled.append(
            {
                "id": anime.id,
                "time": airing.strftime("%H:%M"),
                "name": anime.name,
                "jname": anime.jname,
                "airingTimestamp": int(airing.timestamp() * 1000),
                "secondsUntilAiring": 3600 * hour,
                "episode": anime.episodes,
            }
        )
    return {"scheduledAnimes": scheduled}


def search(params: dict[str, str]) -> dict[str, Any]:
    query = params.get("q", "").strip()
    if not query:
        raise UpstreamError(400, "getSearchPageInfo: invalid search query")
    filters = {key: value for key, value in params.items() if key not in {"q", "page"}}
    return {
        "animes": [anime.row() for anime in data.search(query)],
        "mostPopularAnimes": [_popular(anime) for anime in data.ANIME[:2]],
        "currentPage": int(params.get("page", "1")),
        "totalPages": 1,
        "hasNextPage": False,
        "searchQuery": query,
        "searchFilters": filters,
    }


def suggestion(params: dict[str, str]) -> dict[str, Any]:
    query = params.get("q", "").strip()
    if not query:
        raise UpstreamError(400, "getAnimeSearchSuggestion: invalid search query")
    return {
        "suggestions": [
            {
                "id": anime.id,
                "name": anime.name,
                "jname": anime.jname,
                "poster": anime.poster,
                "moreInfo": [f"{anime.year}", anime.type, "24m"],
            }
            for anime in data.search(query)
        ]
    }


def anime_info(anime_id: str) -> dict[str, Any]:
    anime = _anime(anime_id, "getAnimeAboutInfo")
    return {
        "anime": {
            "info": {
                "id": anime.id,
                "anilistId": anime.anilist_id,
                "malId": anime.mal_id,
                "name": anime.name,
                "poster": anime.poster,
                "description": anime.description,
                "stats": {
                    "rating": "PG-13",
                    "quality": "HD",
                    "episodes": {"sub": anime.episodes, "dub": None},
                    "type": anime.type,
                    "duration": "24m",
                },
                "promotionalVideos": [],
                "charactersVoiceActors": [],
            },
            "moreInfo": {
                "japanese": anime.jname,
                "aired": f"{anime.year}",
                "genres": list(anime.genres),
                "status": "Finished Airing",
                "studios": "Fake Studio",
                "duration": "24m",
            },
        },
        "seasons": [],
        "mostPopularAnimes": [_popular(other) for other in data.ANIME[:2]],
        "relatedAnimes": [],
        "recommendedAnimes": [],
    }


def episodes(anime_id: str) -> dict[str, Any]:
    anime = _anime(anime_id, "getAnimeEpisodes")
    return {
        "totalEpisodes": anime.episodes,
        "episodes": [
            {
                "number": number,
                "title": f"Episode {number}",
                "episodeId": f"{anime.id}?ep={number}",
                "isFiller": False,
            }
            for number in range(1, anime.episodes + 1)
        ],
    }


def next_episode(anime_id: str) -> dict[str, Any]:
    _anime(anime_id, "getNextEpisodeSchedule")
    return {"airingISOTimestamp": None, "airingTimestamp": None, "secondsUntilAiring": None}


def servers(params: dict[str, str]) -> dict[str, Any]:
    anime, number = _episode(params, "getEpisodeServers")
    listed = [{"serverName": "hd-1", "serverId": 4}, {"serverName": "hd-2", "serverId": 1}]
    return {
        "episodeId": f"{anime.id}?ep={number}",
        "episodeNo": number,
        "sub": listed,
        "dub": listed,
        "raw": [],
    }


def sources(
    params: dict[str, str], *, legacy: bool = False, empty: bool = False, cdn_url: str = CDN_URL
) -> dict[str, Any]:
    anime, number = _episode(params, "getAnimeEpisodeSources")
    server = params.get("server", "hd-1")
    category = params.get("category", "sub")
    if category not in {"sub", "dub", "raw"}:
        raise UpstreamError(400, "getAnimeEpisodeSources: invalid category")
    url = f"{cdn_url}/{server}/{anime.id}/{number}/{category}/master.m3u8"
    payload: dict[str, Any] = {
        "headers": {"Referer": REFERER},
        "sources": [] if empty else [{"url": url, "isM3U8": True, "type": "hls"}],
        "intro": {"start": 0, "end": 90},
        "outro": {"start": 1300, "end": 1390},
        "anilistID": anime.anilist_id,
        "malID": anime.mal_id,
    }
    subtitle = f"{cdn_url}/subs/{anime.id}/{number}/en.vtt"
    if legacy:
        payload["tracks"] = [
            {"url": subtitle, "lang": "English"},
            {"url": subtitle.replace("en.vtt", "thumbs.vtt"), "lang": "thumbnails"},
        ]
    else:
        payload["subtitles"] = [{"url": subtitle, "lang": "English", "default": True}]
    return payload


def _dispatch(
    path: str, params: dict[str, str], fault: Fault | None, cdn_url: str
) -> dict[str, Any]:
    legacy = fault is not None and fault.mode == "legacy"
    empty = fault is not None and fault.mode == "empty-sources"
    if path == "/home":
        return home(params)
    if path == "/schedule":
        return schedule(params)
    if path == "/search":
        return search(params)
    if path == "/search/suggestion":
        return suggestion(params)
    if path == "/episode/servers":
        return servers(params)
    if path == "/episode/sources":
        return sources(params, legacy=legacy, empty=empty, cdn_url=cdn_url)
    parts = path.strip("/").split("/")
    if parts[0] == "anime" and len(parts) == 2:
        return anime_info(parts[1])
    if parts[0] == "anime" and len(parts) == 3 and parts[2] == "episodes":
        return episodes(parts[1])
    if parts[0] == "anime" and len(parts) == 3 and parts[2] == "next-episode-schedule":
        return next_episode(parts[1])
    raise UpstreamError(404, "Not Found")


def create_aniwatch_app(state: FakeState | None = None, *, cdn_url: str = CDN_URL) -> Starlette:
    """The fake; its `FakeState` is `app.state.fake` (latency, faults, request counts).
    Stream and track URLs in sources point at `cdn_url` (the HLS fake, `anime_fakes.hls`)."""
    fake = state or FakeState()
    cdn_url = cdn_url.rstrip("/")

    async def health(request: Request) -> Response:
        return PlainTextResponse("daijoubu")

    async def api(request: Request) -> Response:
        path = "/" + request.path_params["path"]
        params = dict(request.query_params)
        fake.record(path, params)
        if fake.latency:
            await asyncio.sleep(fake.latency)
        fault = fake.take_fault(path, params)
        if fault is not None:
            if fault.mode == "timeout":
                await asyncio.sleep(fault.delay)
            elif fault.mode == "html":
                return HTMLResponse("<!DOCTYPE html><html><body>Site moved</body></html>")
            elif fault.mode == "429":
                return _error(429, "Too Many Requests 😵", {"Retry-After": str(fault.retry_after)})
            elif fault.mode.isdigit():
                status = int(fault.mode)
                reason = _REASONS.get(status, "Error")
                return _error(status, f"fakeScraper: fetchError: {reason}")
        try:
            payload = _dispatch(path, params, fault, cdn_url)
        except UpstreamError as exc:
            return _error(exc.status, exc.message)
        return _ok(payload, legacy=fault is not None and fault.mode == "legacy")

    async def not_found(request: Request) -> Response:
        return _error(404, "Not Found")

    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            *control_routes(fake),
            Route(PREFIX + "/{path:path}", api, methods=["GET"]),
            Route("/{path:path}", not_found),
        ]
    )
    app.state.fake = fake
    return app
