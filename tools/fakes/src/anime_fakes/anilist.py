"""A fake AniList GraphQL endpoint (see shared/upstreams/anilist.md): just the queries the
import uses (`MediaListCollection`, `Page { media(id_in) }`, `Media`), the rate-limit
headers, failures on demand.

Faults, by `mode`: `429` (with `Retry-After`/`X-RateLimit-Reset`), `403` (API switched
off), `500`, `errors` (HTTP 200 with `errors`), `timeout`, `html`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from anime_fakes import data
from anime_fakes.control import control_routes
from anime_fakes.faults import FakeState

# Media AniList knows that HiAnime (the aniwatch fake) does not.
UNKNOWN_ID = 999001
UNKNOWN_TITLE = "Obscure Pilot"
UNKNOWN_YEAR = 1987

# userName → [(list status, AniList media id)]
USERS: dict[str, list[tuple[str, int]]] = {
    "demo": [
        ("CURRENT", 16498),
        ("COMPLETED", 154587),
        ("PLANNING", UNKNOWN_ID),
        ("DROPPED", 21),
        ("PAUSED", 20958),
    ],
}


def media(anilist_id: int) -> dict[str, Any] | None:
    for anime in data.ANIME:
        if anime.anilist_id == anilist_id:
            return {
                "id": anime.anilist_id,
                "idMal": anime.mal_id,
                "title": {"romaji": anime.jname, "english": anime.name, "native": None},
                "format": anime.type,
                "status": "FINISHED",
                "description": anime.description,
                "seasonYear": anime.year,
                "startDate": {"year": anime.year, "month": 4, "day": 1},
                "episodes": anime.episodes,
                "genres": list(anime.genres),
                "synonyms": [],
                "coverImage": {"large": f"https://anilist.example.test/{anilist_id}.jpg"},
            }
    if anilist_id == UNKNOWN_ID:
        return {
            "id": anilist_id,
            "idMal": None,
            "title": {"romaji": UNKNOWN_TITLE, "english": None, "native": None},
            "format": "OVA",
            "status": "FINISHED",
            "description": None,
            "seasonYear": UNKNOWN_YEAR,
            "startDate": {"year": UNKNOWN_YEAR, "month": None, "day": None},
            "episodes": 1,
            "genres": [],
            "synonyms": [],
            "coverImage": {"large": None},
        }
    return None


def list_collection(user: str) -> dict[str, Any] | None:
    entries = USERS.get(user.lower())
    if entries is None:
        return None
    lists: dict[str, list[dict[str, Any]]] = {}
    for status, anilist_id in entries:
        lists.setdefault(status, []).append(
            {"status": status, "progress": 1, "score": 0, "media": media(anilist_id)}
        )
    return {
        "lists": [
            {"name": status.title(), "status": status, "entries": entries}
            for status, entries in lists.items()
        ]
    }


def create_anilist_app(state: FakeState | None = None, *, limit: int = 30) -> Starlette:
    """The fake; `limit` requests per minute, like AniList's degraded 30."""
    fake = state or FakeState()
    window: list[float] = []

    def _headers(remaining: int) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(max(0, remaining))}

    def _errors(status: int, message: str, headers: dict[str, str]) -> Response:
        body = {"data": None, "errors": [{"message": message, "status": status}]}
        return JSONResponse(body, status_code=status, headers=headers)

    async def graphql(request: Request) -> Response:
        payload = await request.json()
        query = str(payload.get("query", ""))
        variables = payload.get("variables") or {}
        fake.record("/graphql", {"query": query[:40]})
        if fake.latency:
            await asyncio.sleep(fake.latency)
        now = time.time()
        window[:] = [at for at in window if now - at < 60]
        window.append(now)
        headers = _headers(limit - len(window))
        fault = fake.take_fault("/graphql", {})
        if len(window) > limit or (fault is not None and fault.mode == "429"):
            retry_after = fault.retry_after if fault is not None else 60
            headers |= {
                "Retry-After": str(retry_after),
                "X-RateLimit-Reset": str(int(now) + retry_after),
            }
            return _errors(429, "Too Many Requests.", headers)
        if fault is not None:
            if fault.mode == "timeout":
                await asyncio.sleep(fault.delay)
            elif fault.mode == "html":
                return HTMLResponse("<html>maintenance</html>", status_code=200)
            elif fault.mode == "403":
                return _errors(403, "The AniList API has been disabled.", headers)
            elif fault.mode == "500":
                return _errors(500, "Internal Server Error", headers)
            elif fault.mode == "errors":
                body = {"data": None, "errors": [{"message": "Validation error", "status": 400}]}
                return JSONResponse(body, headers=headers)
        if "MediaListCollection" in query:
            collection = list_collection(str(variables.get("userName", "")))
            if collection is None:
                return _errors(404, "User not found", headers)
            return JSONResponse({"data": {"MediaListCollection": collection}}, headers=headers)
        if "Page" in query:
            ids = [int(item) for item in variables.get("ids") or []]
            listed = [item for item in map(media, ids) if item is not None]
            page = {"pageInfo": {"currentPage": 1, "hasNextPage": False}, "media": listed}
            return JSONResponse({"data": {"Page": page}}, headers=headers)
        if "Media" in query:
            found = media(int(variables.get("id", 0)))
            if found is None:
                return _errors(404, "Not Found.", headers)
            return JSONResponse({"data": {"Media": found}}, headers=headers)
        return _errors(400, "Unsupported query for the fake", headers)

    app = Starlette(
        routes=[
            *control_routes(fake),
            Route("/", graphql, methods=["POST"]),
        ]
    )
    app.state.fake = fake
    return app
