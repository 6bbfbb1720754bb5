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
from anime_devstack.config import StackConfig
from anime_devstack.stack import Stack
from anime_fakes import FakeState, create_anilist_app, serve_in_thread

pytestmark = pytest.mark.e2e


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
            running = ProxyStack(stack, anilist)
            yield running
            running.fake.close()
            running.gateway.close()


@pytest.fixture
def proxy(proxy_stack: ProxyStack) -> Iterator[ProxyStack]:
    proxy_stack.fake.post("/_fake/reset")
    yield proxy_stack
    proxy_stack.fake.post("/_fake/reset")


def _assert_envelope(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == code


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
    _assert_envelope(proxy.gateway.get("/api/search", params={"q": " "}), 422, "VALIDATION_ERROR")
    _assert_envelope(
        proxy.gateway.get(
            "/api/episode/sources",
            params={"animeEpisodeId": "one-piece-100?ep=1", "category": "x"},
        ),
        422,
        "VALIDATION_ERROR",
    )


def test_upstream_down_is_502_and_slow_is_504(proxy: ProxyStack) -> None:
    proxy.fault(mode="500", path="/anime/one-piece-100")
    _assert_envelope(proxy.gateway.get("/api/anime/one-piece-100"), 502, "BAD_GATEWAY")
    proxy.fake.delete("/_fake/faults")
    proxy.fault(mode="timeout", path="/anime/death-note-60", delay=3)
    _assert_envelope(proxy.gateway.get("/api/anime/death-note-60"), 504, "GATEWAY_TIMEOUT")


def test_sources_fall_back_and_accept_a_catalog_episode_uuid(proxy: ProxyStack) -> None:
    catalog = proxy.stack.service_url("catalog")
    document = {
        "title": "Frieren e2e",
        "hianime_id": "frieren-beyond-journeys-end-18542",
        "anilist_id": 154587,
        "releases": [
            {
                "title": "Frieren e2e",
                "episodes": [
                    {"number": 4, "hianime_episode_id": "frieren-beyond-journeys-end-18542?ep=4"}
                ],
            }
        ],
    }
    headers = {"Authorization": f"Bearer {proxy.service_token()}"}
    created = httpx.post(f"{catalog}/internal/anime", json=document, headers=headers, timeout=10)
    assert created.status_code in {200, 201}, created.text
    anime_id = created.json()["id"]
    releases = proxy.gateway.get("/releases", params={"anime_id": anime_id}).json()
    episodes = proxy.gateway.get("/episodes", params={"release_id": releases[0]["id"]}).json()
    episode_id = episodes[0]["id"]

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
    _assert_envelope(unknown, 404, "NOT_FOUND")


def test_anilist_import_lands_in_the_catalog(proxy: ProxyStack) -> None:
    email = f"e2e-{uuid.uuid4().hex[:12]}@example.com"
    registered = proxy.gateway.post(
        "/auth/register", json={"email": email, "password": "e2e password, long enough"}
    )
    assert registered.status_code == 201, registered.text
    auth = {"Authorization": f"Bearer {registered.json()['access_token']}"}
    _assert_envelope(
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
