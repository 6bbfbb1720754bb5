"""The fakes answer like their upstreams and break on demand, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from anime_fakes import FakeState, create_anilist_app, create_aniwatch_app, serve_in_thread

API = "/api/v2/hianime"


@pytest.fixture(scope="module")
def aniwatch() -> Iterator[tuple[httpx.Client, FakeState]]:
    state = FakeState()
    with serve_in_thread(create_aniwatch_app(state)) as url, httpx.Client(base_url=url) as client:
        yield client, state


@pytest.fixture(scope="module")
def anilist() -> Iterator[tuple[httpx.Client, FakeState]]:
    state = FakeState()
    with (
        serve_in_thread(create_anilist_app(state, limit=3)) as url,
        httpx.Client(base_url=url) as client,
    ):
        yield client, state


def test_aniwatch_shapes_and_errors(aniwatch: tuple[httpx.Client, FakeState]) -> None:
    client, state = aniwatch
    state.reset()
    health = client.get("/health")
    assert (health.status_code, health.text) == (200, "daijoubu")
    home = client.get(f"{API}/home")
    assert home.headers["cache-control"] == "s-maxage=60, stale-while-revalidate=30"
    assert set(home.json()["data"]["top10Animes"]) == {"today", "week", "month"}
    assert client.get(f"{API}/schedule", params={"date": "11/27/2026"}).status_code == 400
    schedule = client.get(f"{API}/schedule", params={"date": "2026-11-27"}).json()
    assert len(schedule["data"]["scheduledAnimes"]) == 3
    assert client.get(f"{API}/search", params={"q": " "}).json() == {
        "status": 400,
        "message": "getSearchPageInfo: invalid search query",
    }
    assert client.get(f"{API}/search/suggestion").status_code == 400
    assert client.get(f"{API}/anime/one-piece-100/next-episode-schedule").status_code == 200
    assert client.get(f"{API}/anime/one-piece-100/nope").status_code == 404
    assert client.get(f"{API}/nowhere").json()["message"] == "Not Found"
    assert client.get("/elsewhere").status_code == 404
    bad_episode = client.get(f"{API}/episode/servers", params={"animeEpisodeId": "x"})
    assert bad_episode.status_code == 400
    past_end = client.get(
        f"{API}/episode/servers", params={"animeEpisodeId": "one-piece-100?ep=99"}
    )
    assert past_end.status_code == 404
    bad_category = client.get(
        f"{API}/episode/sources", params={"animeEpisodeId": "one-piece-100?ep=1", "category": "x"}
    )
    assert bad_category.status_code == 400
    assert state.count("/home") == 1


def test_aniwatch_is_steered_over_http(aniwatch: tuple[httpx.Client, FakeState]) -> None:
    client, _ = aniwatch
    assert client.post("/_fake/reset").status_code == 204
    assert client.put("/_fake/latency", json={"seconds": 0.01}).json() == {"latency": 0.01}
    fault = {"mode": "429", "path": "/home", "times": 1, "retry_after": 7}
    assert client.post("/_fake/faults", json=fault).status_code == 201
    limited = client.get(f"{API}/home")
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "7")
    assert client.get(f"{API}/home").status_code == 200
    client.post("/_fake/faults", json={"mode": "html"})
    assert client.get(f"{API}/home").headers["content-type"].startswith("text/html")
    assert client.delete("/_fake/faults").status_code == 204
    client.post("/_fake/faults", json={"mode": "timeout", "delay": 0.05, "times": 1})
    assert client.get(f"{API}/home").status_code == 200
    stats = client.get("/_fake/stats").json()
    assert stats["requests"] == {"/home": 4}
    assert stats["latency"] == 0.01
    client.put("/_fake/latency", json={"seconds": 0})


def test_anilist_lists_media_limits_and_faults(anilist: tuple[httpx.Client, FakeState]) -> None:
    client, state = anilist
    lists = client.post(
        "/", json={"query": "query { MediaListCollection }", "variables": {"userName": "Demo"}}
    )
    assert lists.status_code == 200
    assert lists.headers["x-ratelimit-limit"] == "3"
    assert lists.headers["x-ratelimit-remaining"] == "2"
    collection = lists.json()["data"]["MediaListCollection"]
    assert [item["status"] for item in collection["lists"]][:2] == ["CURRENT", "COMPLETED"]
    media = client.post("/", json={"query": "query { Media }", "variables": {"id": 21}})
    assert media.json()["data"]["Media"]["idMal"] == 21
    missing = client.post("/", json={"query": "query { Media }", "variables": {"id": 5}})
    assert missing.status_code == 404
    over = client.post("/", json={"query": "query { Media }", "variables": {"id": 21}})
    assert over.status_code == 429
    assert over.json()["errors"][0]["message"] == "Too Many Requests."
    assert int(over.headers["x-ratelimit-reset"]) > 0
    assert state.count("/graphql") == 4


def test_anilist_unknown_query_and_faults() -> None:
    state = FakeState()
    with serve_in_thread(create_anilist_app(state)) as url, httpx.Client(base_url=url) as client:
        assert client.post("/", json={"query": "{ Viewer }"}).status_code == 400
        for mode, status in (("403", 403), ("500", 500), ("errors", 200), ("html", 200)):
            client.post("/_fake/faults", json={"mode": mode, "times": 1})
            assert client.post("/", json={"query": "{ Media }"}).status_code == status
        client.post("/_fake/faults", json={"mode": "timeout", "delay": 0.01, "times": 1})
        user = client.post(
            "/", json={"query": "{ MediaListCollection }", "variables": {"userName": "x"}}
        )
        assert user.status_code == 404
