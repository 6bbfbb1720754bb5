"""The HiAnime proxy through the gateway, against the aniwatch-api fake the devstack starts
(`ANIME_FAKE_HIANIME=1`) and an AniList fake, with the real catalog behind it.

This module runs a stack of its own: the session `stack` is already pointed at
the default upstream URL, and this one needs the fakes' URLs in its environment.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from anime_common import CommonSettings, TokenVerifier, load_settings
from anime_devstack.assertions import assert_envelope
from anime_devstack.config import StackConfig
from anime_devstack.stack import Stack
from anime_e2e.fixtures import landed, register
from anime_fakes import FakeState, create_anilist_app, serve_in_thread

pytestmark = pytest.mark.e2e

FRIEREN = "frieren-beyond-journeys-end-18542"


class ProxyStack:
    def __init__(self, stack: Stack, anilist: FakeState) -> None:
        self.stack = stack
        self.anilist = anilist
        self.fake = httpx.Client(base_url=stack.service_url("hianime_fake"), timeout=10)
        self.gateway = httpx.Client(base_url=stack.gateway_url, timeout=15)

    def service_token(self) -> str:
        settings = load_settings(
            CommonSettings,
            SECRET_KEY=self.stack.config.secret_key,
            DATABASE_URL="postgresql://unused/unused",
        )
        return TokenVerifier(settings).issue_service_token("e2e")

    def fault(self, **fault: Any) -> None:
        assert self.fake.post("/_fake/faults", json=fault).status_code == 201

    def upstream_log(self) -> list[dict[str, Any]]:
        log: list[dict[str, Any]] = self.fake.get("/_fake/stats").json()["log"]
        return log


@pytest.fixture(scope="module")
def proxy_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyStack]:
    anilist = FakeState()
    with serve_in_thread(create_anilist_app(anilist)) as anilist_url:
        environ = {
            **os.environ,
            "ANIME_FAKE_HIANIME": "1",
            "ANILIST_API_URL": anilist_url,
            "UPSTREAM_READ_TIMEOUT": "1",
        }
        config = StackConfig.for_tests(
            Path(tmp_path_factory.mktemp("proxy-stack")), environ=environ
        )
        with Stack(config) as stack:
            stack.seed_demo_catalog()
            running = ProxyStack(stack, anilist)
            yield running
            running.fake.close()
            running.gateway.close()


@pytest.fixture
def proxy(proxy_stack: ProxyStack) -> Iterator[ProxyStack]:
    proxy_stack.fake.post("/_fake/reset")
    yield proxy_stack
    proxy_stack.fake.post("/_fake/reset")


def test_health_and_pass_through(proxy: ProxyStack) -> None:
    health = proxy.gateway.get("/api/health")
    assert health.json() == {"status": "ok", "upstream": "ok"}
    home = proxy.gateway.get("/api/home")
    assert home.status_code == 200
    assert home.content == proxy.fake.get("/api/v2/hianime/home").content
    assert home.headers["cache-control"].startswith("public, max-age=")
    again = proxy.gateway.get("/api/home/")
    assert again.headers["x-cache"] == "HIT"
    assert sum(1 for entry in proxy.upstream_log() if entry["path"] == "/home") == 2


def test_dates_and_validation(proxy: ProxyStack) -> None:
    schedule = proxy.gateway.get("/api/schedule", params={"date": "11/27/2026"})
    assert schedule.status_code == 200
    assert proxy.upstream_log()[-1]["params"]["date"] == "2026-11-27"
    assert_envelope(proxy.gateway.get("/api/search", params={"q": " "}), 422, "VALIDATION_ERROR")
    assert_envelope(
        proxy.gateway.get(
            "/api/episode/sources",
            params={"animeEpisodeId": "one-piece-100?ep=1", "category": "x"},
        ),
        422,
        "VALIDATION_ERROR",
    )


def test_upstream_down_is_502_and_slow_is_504(proxy: ProxyStack) -> None:
    proxy.fault(mode="500", path="/anime/one-piece-100")
    assert_envelope(proxy.gateway.get("/api/anime/one-piece-100"), 502, "BAD_GATEWAY")
    proxy.fake.delete("/_fake/faults")
    proxy.fault(mode="timeout", path="/anime/death-note-60", delay=3)
    assert_envelope(proxy.gateway.get("/api/anime/death-note-60"), 504, "GATEWAY_TIMEOUT")


def _demo_episodes(proxy: ProxyStack, hianime_id: str) -> tuple[str, list[dict[str, Any]]]:
    """A demo anime's catalog id and the episodes of its first release, through the gateway."""
    found = proxy.gateway.get("/search/anime", params={"q": hianime_id.rsplit("-", 1)[0]})
    [anime] = [item for item in found.json() if item["hianime_id"] == hianime_id]
    releases = proxy.gateway.get("/releases", params={"anime_id": anime["id"]}).json()
    episodes = proxy.gateway.get("/episodes", params={"release_id": releases[0]["id"]}).json()
    return anime["id"], episodes


def test_sources_fall_back_and_accept_a_catalog_episode_uuid(proxy: ProxyStack) -> None:
    _, episodes = _demo_episodes(proxy, FRIEREN)
    episode_id = episodes[3]["id"]

    proxy.fault(mode="403", path="/episode/sources", server="hd-1")
    sources = proxy.gateway.get("/api/episode/sources", params={"animeEpisodeId": episode_id})
    assert sources.status_code == 200, sources.text
    assert "/hd-2/" in sources.json()["data"]["sources"][0]["url"]
    sent = [
        entry["params"] for entry in proxy.upstream_log() if entry["path"] == "/episode/sources"
    ]
    assert [params["server"] for params in sent] == ["hd-1", "hd-2"]
    assert {params["animeEpisodeId"] for params in sent} == {
        "frieren-beyond-journeys-end-18542?ep=4"
    }
    unknown = proxy.gateway.get(
        "/api/episode/sources", params={"animeEpisodeId": str(uuid.uuid4())}
    )
    assert_envelope(unknown, 404, "NOT_FOUND")


def test_the_frontend_journey_for_a_28_episode_anime(proxy: ProxyStack) -> None:
    """The Kitsu frontend's calls, in its order, for Frieren (one release of 28 episodes)."""
    api = proxy.gateway
    assert api.get("/anime", params={"limit": 24, "offset": 0}).status_code == 200
    anime_id, _ = _demo_episodes(proxy, FRIEREN)
    assert api.get(f"/anime/{anime_id}").json()["hianime_id"] == FRIEREN
    # The details page lists releases unfiltered (capped at 100) and filters in the browser.
    unfiltered = api.get("/releases", params={"limit": 100, "offset": 0}).json()
    [release] = [item for item in unfiltered if item["anime_id"] == anime_id]
    assert api.get("/releases", params={"anime_id": anime_id}).json() == [release]
    # The episode list is read whole, without a limit and without headers.
    episodes = api.get("/episodes", params={"release_id": release["id"]}).json()
    assert [episode["number"] for episode in episodes] == list(range(1, 29))
    assert all(episode["hianime_episode_id"] == f"{FRIEREN}?ep={episode['number']}"
               for episode in episodes)  # fmt: skip

    user = register(api)
    by_uuid = api.post("/favorites", json={"anime_id": anime_id}, headers=user)
    assert by_uuid.status_code == 202, by_uuid.text
    assert landed(api, by_uuid.json()["job"], user)["status"] == "succeeded"
    by_hianime = api.post("/favorites", json={"anime_id": FRIEREN}, headers=user)
    assert by_hianime.status_code == 202, by_hianime.text
    assert by_hianime.json()["id"] == by_uuid.json()["id"]
    for reference in (anime_id, FRIEREN):
        favorite = api.get("/favorites", params={"anime_id": reference}, headers=user).json()
        assert [item["id"] for item in favorite] == [by_uuid.json()["id"]]
    assert [item["anime_id"] for item in api.get("/favorites", headers=user).json()] == [anime_id]

    # The watch page, for episode 21, by the catalog's UUID and by the HiAnime episode id.
    episode = episodes[20]
    for form in (episode["id"], episode["hianime_episode_id"]):
        servers = api.get("/api/episode/servers", params={"animeEpisodeId": form})
        assert servers.status_code == 200, servers.text
        assert servers.json()["data"]["episodeId"] == f"{FRIEREN}?ep=21"
        params = {"animeEpisodeId": form, "server": "hd-1", "category": "sub"}
        sources = api.get("/api/episode/sources", params=params)
        assert sources.status_code == 200, sources.text
        assert sources.json()["data"]["sources"][0]["url"].endswith(".m3u8")

    # The player loads the stream through the gateway (the devstack's CDN fake behind it).
    data = sources.json()["data"]
    master = api.get("/m3u8-proxy", params={"url": data["sources"][0]["url"],
                                            "referer": data["headers"]["Referer"]})  # fmt: skip
    assert master.status_code == 200, master.text
    assert master.headers["content-type"] == "application/vnd.apple.mpegurl"
    variant = api.get(next(line for line in master.text.splitlines() if line.startswith("/")))
    segment = next(line for line in variant.text.splitlines() if line.startswith("/m3u8"))
    played = api.get(segment)
    assert played.status_code == 200, played.text
    assert played.content


def test_anilist_import_of_what_the_frontend_sends(proxy: ProxyStack) -> None:
    """The frontend's AniList query selects only ids and `title.english` (often null)."""
    user = register(proxy.gateway)
    lists = [{"name": "Watching", "status": "CURRENT", "entries": [
        {"media": {"id": 154587, "idMal": None, "bannerImage": None, "title": {"english": None}}},
        # Not an AniList id the catalog knows, but One Piece's MAL id.
        {"media": {"id": 999999, "idMal": 21, "bannerImage": None, "title": {"english": None}}},
    ]}]  # fmt: skip
    response = proxy.gateway.post("/api/import/anilist", json={"animes": lists}, headers=user)
    assert response.status_code == 200, response.text
    body = response.json()
    frieren_id, _ = _demo_episodes(proxy, FRIEREN)
    one_piece_id, _ = _demo_episodes(proxy, "one-piece-100")
    assert sorted((item["id"], item["anime_id"]) for item in body["animes"]) == sorted(
        [(FRIEREN, frieren_id), ("one-piece-100", one_piece_id)]
    )
    assert body["unmatched"] == []


def test_anilist_import_lands_in_the_catalog(proxy: ProxyStack) -> None:
    email = f"e2e-{uuid.uuid4().hex[:12]}@example.com"
    registered = proxy.gateway.post(
        "/auth/register", json={"email": email, "password": "e2e password, long enough"}
    )
    assert registered.status_code == 201, registered.text
    auth = {"Authorization": f"Bearer {registered.json()['access_token']}"}
    assert_envelope(
        proxy.gateway.post("/api/import/anilist", json={"username": "demo"}), 401, "AUTH_ERROR"
    )
    response = proxy.gateway.post("/api/import/anilist", json={"username": "demo"}, headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert {item["status"] for item in body["animes"]} == {
        "watching",
        "completed",
        "dropped",
        "on hold",
    }
    assert [item["anilist_id"] for item in body["unmatched"]] == [999001]
    for item in body["animes"]:
        anime = proxy.gateway.get(f"/anime/{item['anime_id']}")
        assert anime.status_code == 200, anime.text
        assert anime.json()["hianime_id"] == item["id"]
        # Demo or imported, every episode carries the id the player asks the upstream with.
        releases = proxy.gateway.get("/releases", params={"anime_id": item["anime_id"]}).json()
        episodes = proxy.gateway.get("/episodes", params={"release_id": releases[0]["id"]})
        assert episodes.json(), item
        assert all(episode["hianime_episode_id"].startswith(f"{item['id']}?ep=")
                   for episode in episodes.json())  # fmt: skip


def test_the_catalog_imports_an_unknown_anime_through_the_proxy(proxy: ProxyStack) -> None:
    catalog = proxy.stack.service_url("catalog")
    headers = {"Authorization": f"Bearer {proxy.service_token()}"}
    response = httpx.get(
        f"{catalog}/internal/hianime/mystery-show-999", headers=headers, timeout=15
    )
    assert response.status_code == 200, response.text
    anime = response.json()
    assert (anime["hianime_id"], anime["title"]) == ("mystery-show-999", "Mystery Show")
    paths = {entry["path"] for entry in proxy.upstream_log()}
    assert {"/anime/mystery-show-999", "/anime/mystery-show-999/episodes"} <= paths
    missing = httpx.get(f"{catalog}/internal/hianime/no-such-anime-1", headers=headers, timeout=15)
    assert missing.status_code == 404
