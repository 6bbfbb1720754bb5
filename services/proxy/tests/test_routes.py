"""Every HiAnime route against the aniwatch-api fake: bodies pass through unchanged."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest

from anime_devstack.assertions import assert_envelope
from anime_fakes import Fault, RunningFake

ProxyFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]

pytestmark = pytest.mark.anyio


async def upstream_body(
    fake: RunningFake, path: str, params: dict[str, str] | None = None
) -> bytes:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{fake.url}/api/v2/hianime{path}", params=params)
    return response.content


@pytest.mark.parametrize(
    ("path", "upstream_path", "params"),
    [
        ("/api/home", "/home", {}),
        ("/api/schedule?date=2026-11-27", "/schedule", {"date": "2026-11-27"}),
        ("/api/search?q=titan", "/search", {"q": "titan"}),
        ("/api/search/suggestion?q=one", "/search/suggestion", {"q": "one"}),
        ("/api/anime/attack-on-titan-112", "/anime/attack-on-titan-112", {}),
        ("/api/anime/one-piece-100/episodes", "/anime/one-piece-100/episodes", {}),
        (
            "/api/anime/one-piece-100/next-episode-schedule",
            "/anime/one-piece-100/next-episode-schedule",
            {},
        ),
        (
            "/api/episode/servers?animeEpisodeId=one-piece-100%3Fep%3D3",
            "/episode/servers",
            {"animeEpisodeId": "one-piece-100?ep=3"},
        ),
        (
            "/api/episode/sources?animeEpisodeId=one-piece-100%3Fep%3D3",
            "/episode/sources",
            {"animeEpisodeId": "one-piece-100?ep=3", "server": "hd-1", "category": "sub"},
        ),
    ],
)
async def test_success_bodies_pass_through_unchanged(
    proxy: httpx.AsyncClient,
    aniwatch: RunningFake,
    path: str,
    upstream_path: str,
    params: dict[str, str],
) -> None:
    response = await proxy.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.content == await upstream_body(aniwatch, upstream_path, params)
    assert response.json()["status"] == 200
    assert response.headers["x-cache"] == "MISS"
    assert response.headers["cache-control"].startswith(("public, max-age=", "private, max-age="))


async def test_trailing_slash_and_a_stale_token_are_fine(proxy: httpx.AsyncClient) -> None:
    response = await proxy.get("/api/home/", headers={"Authorization": "Bearer expired.junk"})
    assert response.status_code == 200


@pytest.mark.parametrize("date", ["11/27/2026", "2026-11-27", "11/7/2026", "1/2/2026"])
async def test_schedule_dates_are_normalized(
    proxy: httpx.AsyncClient, aniwatch: RunningFake, date: str
) -> None:
    response = await proxy.get("/api/schedule", params={"date": date, "tzOffset": "-60"})
    assert response.status_code == 200, response.text
    sent = aniwatch.state.log[-1]["params"]
    month, day, year = (int(part) for part in date.split("/")) if "/" in date else (11, 27, 2026)
    assert sent == {"date": datetime.date(year, month, day).isoformat(), "tzOffset": "-60"}


async def test_schedule_without_a_date_asks_for_today(
    proxy: httpx.AsyncClient, aniwatch: RunningFake
) -> None:
    assert (await proxy.get("/api/schedule")).status_code == 200
    today = datetime.datetime.now(datetime.UTC).date()
    sent = aniwatch.state.log[-1]["params"]["date"]
    assert abs((datetime.date.fromisoformat(sent) - today).days) <= 1


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/schedule?date=2026-13-01", "date"),
        ("/api/schedule?date=27.11.2026", "date"),
        ("/api/schedule?date=2/30/2026", "date"),
        ("/api/schedule?date=2026-11-27&tzOffset=abc", "tzOffset"),
        ("/api/search?q=%20%20", "q"),
        ("/api/search", "q"),
        ("/api/search?q=x&type=../../etc", "type"),
        ("/api/search?q=x&start_date=yesterday", "start_date"),
        ("/api/search/suggestion?q=", "q"),
        ("/api/episode/sources?animeEpisodeId=one-piece-100%3Fep%3D1&category=fandub", "category"),
        ("/api/episode/sources?animeEpisodeId=one-piece-100%3Fep%3D1&server=hd%2F1", "server"),
        ("/api/episode/sources?animeEpisodeId=..%2F..%2Fhome", "animeEpisodeId"),
        ("/api/episode/servers?animeEpisodeId=http://evil.test/x", "animeEpisodeId"),
        ("/api/episode/servers", "animeEpisodeId"),
    ],
)
async def test_bad_queries_are_422_before_any_upstream_call(
    proxy: httpx.AsyncClient, aniwatch: RunningFake, path: str, field: str
) -> None:
    response = await proxy.get(path)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert [error["field"] for error in body["details"]] == [field]
    assert sum(aniwatch.state.requests.values()) == 0


@pytest.mark.parametrize(
    "anime_id", ["..", "%2E%2E", "one-piece-100%2F..%2Fhome", "UPPER-1", "a%3Fb", "x" * 300]
)
async def test_bad_anime_ids_never_reach_the_upstream(
    proxy: httpx.AsyncClient, aniwatch: RunningFake, anime_id: str
) -> None:
    response = await proxy.get(f"/api/anime/{anime_id}")
    assert_envelope(response, 404, "NOT_FOUND")
    assert sum(aniwatch.state.requests.values()) == 0


async def test_search_filters_are_passed_on(
    proxy: httpx.AsyncClient, aniwatch: RunningFake
) -> None:
    params = {
        "q": "titan",
        "page": "2",
        "type": "tv",
        "status": "finished-airing",
        "rated": "pg-13",
        "score": "good",
        "season": "spring",
        "language": "sub-&-dub",
        "sort": "recently-added",
        "genres": "action,drama",
        "start_date": "2013-04-01",
        "end_date": "4/30/2013",
        "ignored": "not forwarded",
    }
    response = await proxy.get("/api/search", params=params)
    assert response.status_code == 200
    sent = aniwatch.state.log[-1]["params"]
    expected = {key: value for key, value in params.items() if key != "ignored"}
    assert sent == expected | {"end_date": "2013-04-30"}
    assert response.json()["data"]["searchFilters"]["language"] == "sub-&-dub"


async def test_upstream_404_and_400_keep_their_status(proxy: httpx.AsyncClient) -> None:
    missing = await proxy.get("/api/anime/no-such-anime-1")
    assert missing.status_code == 404
    assert missing.json() == {
        "code": "NOT_FOUND",
        "message": "getAnimeAboutInfo: fetchError: Not Found",
        "details": None,
    }
    # aniwatch-api says 400 for an id not ending in a number; such an id names no anime,
    # so the proxy answers the 404 itself without asking (anime_common.HIANIME_ID).
    invalid = await proxy.get("/api/anime/no-number")
    assert_envelope(invalid, 404, "NOT_FOUND")
    assert "x-cache" not in invalid.headers


async def test_legacy_envelope_and_tracks_pass_through(
    proxy: httpx.AsyncClient, aniwatch: RunningFake
) -> None:
    aniwatch.state.add_fault(Fault(mode="legacy", path="/episode/sources"))
    response = await proxy.get(
        "/api/episode/sources", params={"animeEpisodeId": "attack-on-titan-112?ep=2"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert {track["lang"] for track in body["data"]["tracks"]} == {"English", "thumbnails"}


async def test_health_says_whether_the_upstream_answers(make_proxy: ProxyFactory) -> None:
    async with make_proxy() as client:
        up = await client.get("/api/health")
    assert up.status_code == 200
    assert up.json() == {"status": "ok", "upstream": "ok"}
    async with make_proxy(HIANIME_API_URL="http://127.0.0.1:9") as client:
        down = await client.get("/api/health")
    assert down.status_code == 200
    assert down.json() == {"status": "ok", "upstream": "down"}


async def test_openapi_documents_the_routes(proxy: httpx.AsyncClient) -> None:
    paths = (await proxy.get("/openapi.json")).json()["paths"]
    assert {"/api/home", "/api/episode/sources", "/api/anime/{id}/episodes"} <= set(paths)
    parameters = {p["name"] for p in paths["/api/episode/sources"]["get"]["parameters"]}
    assert parameters == {"animeEpisodeId", "server", "category"}


async def test_without_an_upstream_the_hianime_routes_say_which_setting_is_missing(
    make_proxy: ProxyFactory,
) -> None:
    async with make_proxy(HIANIME_API_URL=None) as client:
        home = await client.get("/api/home")
        anime = await client.get("/api/anime/steinsgate-3")
        health = await client.get("/api/health")
    for response in (home, anime):
        assert response.status_code == 503
        body = response.json()
        assert body["code"] == "SERVICE_UNAVAILABLE"
        assert "HIANIME_API_URL is not set" in body["message"]
    assert health.json() == {"status": "ok", "upstream": "down"}
