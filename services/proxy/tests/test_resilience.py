"""Cache, single flight, stale-if-error, retries, breaker, 429s and the hd-1 → hd-2 fallback,
against the aniwatch-api fake over real loopback HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest

from anime_common import SettingsError, load_settings
from anime_devstack.assertions import assert_envelope
from anime_fakes import Fault, RunningFake
from anime_proxy.breaker import CircuitBreaker
from anime_proxy.settings import ProxySettings
from anime_proxy.upstream import HianimeUpstream

pytestmark = pytest.mark.anyio

ProxyFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
SOURCES = "/api/episode/sources"
EPISODE = {"animeEpisodeId": "one-piece-100?ep=5"}


async def test_100_concurrent_cold_requests_make_one_upstream_request(
    proxy: httpx.AsyncClient, aniwatch: RunningFake
) -> None:
    aniwatch.state.latency = 0.2
    responses = await asyncio.gather(*(proxy.get("/api/home") for _ in range(100)))
    assert {response.status_code for response in responses} == {200}
    assert len({response.content for response in responses}) == 1
    assert aniwatch.count("/home") == 1
    again = await proxy.get("/api/home")
    assert again.headers["x-cache"] == "HIT"
    assert int(again.headers["age"]) >= 0
    assert again.headers["cache-control"] == "public, max-age=300"
    assert aniwatch.count("/home") == 1


async def test_cache_keys_include_every_parameter(
    proxy: httpx.AsyncClient, aniwatch: RunningFake
) -> None:
    await proxy.get("/api/search", params={"q": "titan"})
    await proxy.get("/api/search", params={"q": "titan", "page": "2"})
    await proxy.get("/api/search", params={"q": "titan"})
    assert aniwatch.count("/search") == 2


async def test_errors_are_not_cached(proxy: httpx.AsyncClient, aniwatch: RunningFake) -> None:
    aniwatch.state.add_fault(Fault(mode="500", path="/home", times=1))
    failed = await proxy.get("/api/home")
    assert_envelope(failed, 502, "BAD_GATEWAY")
    # The upstream's own message ("...Something went wrong") is not shown for a 5xx.
    assert "Something" not in failed.json()["message"]
    ok = await proxy.get("/api/home")
    assert ok.status_code == 200
    assert ok.headers["x-cache"] == "MISS"


async def test_stale_entries_answer_an_outage_then_502_once_none_is_left(
    make_proxy: ProxyFactory, aniwatch: RunningFake
) -> None:
    async with make_proxy(CACHE_TTL_HOME=0.05, CACHE_STALE_IF_ERROR=0.6) as proxy:
        fresh = await proxy.get("/api/home")
        await asyncio.sleep(0.1)
        aniwatch.state.add_fault(Fault(mode="500"))
        stale = await proxy.get("/api/home")
        assert stale.status_code == 200
        assert stale.content == fresh.content
        assert stale.headers["x-cache"] == "STALE"
        assert stale.headers["cache-control"] == "no-cache"
        # Nothing cached for this one: the outage shows.
        uncached = await proxy.get("/api/anime/one-piece-100")
        assert uncached.status_code == 502
        await asyncio.sleep(0.6)
        gone = await proxy.get("/api/home")
        assert_envelope(gone, 502, "BAD_GATEWAY")


async def test_a_404_is_never_answered_from_stale(
    make_proxy: ProxyFactory, aniwatch: RunningFake
) -> None:
    async with make_proxy(CACHE_TTL_ANIME=0.01) as proxy:
        assert (await proxy.get("/api/anime/one-piece-100")).status_code == 200
        await asyncio.sleep(0.05)
        aniwatch.state.add_fault(Fault(mode="404"))
        assert (await proxy.get("/api/anime/one-piece-100")).status_code == 404


async def test_connection_refused_is_502_after_bounded_retries(make_proxy: ProxyFactory) -> None:
    async with make_proxy(HIANIME_API_URL="http://127.0.0.1:9", UPSTREAM_RETRIES=2) as proxy:
        response = await proxy.get("/api/home")
    assert response.status_code == 502
    assert response.json() == {
        "code": "BAD_GATEWAY",
        "message": "The anime source cannot be reached",
        "details": None,
    }


async def test_502_503_504_are_retried(proxy: httpx.AsyncClient, aniwatch: RunningFake) -> None:
    aniwatch.state.add_fault(Fault(mode="503", path="/home", times=2))
    response = await proxy.get("/api/home")
    assert response.status_code == 200
    assert aniwatch.count("/home") == 3


async def test_a_slow_upstream_is_504(make_proxy: ProxyFactory, aniwatch: RunningFake) -> None:
    aniwatch.state.add_fault(Fault(mode="timeout", delay=2.0))
    async with make_proxy(UPSTREAM_READ_TIMEOUT=0.2) as proxy:
        response = await proxy.get("/api/home")
    assert_envelope(response, 504, "GATEWAY_TIMEOUT")
    assert aniwatch.count("/home") == 1


async def test_an_html_page_is_502(proxy: httpx.AsyncClient, aniwatch: RunningFake) -> None:
    aniwatch.state.add_fault(Fault(mode="html"))
    response = await proxy.get("/api/anime/one-piece-100")
    assert response.status_code == 502
    assert response.json()["message"] == "The anime source sent an invalid answer"


async def test_an_upstream_403_is_never_our_403(
    proxy: httpx.AsyncClient, aniwatch: RunningFake
) -> None:
    aniwatch.state.add_fault(Fault(mode="403"))
    response = await proxy.get("/api/anime/one-piece-100")
    # The frontend logs the user out on any 403: the upstream's refusal is a 502.
    assert response.status_code == 502


async def test_an_upstream_429_is_honoured(proxy: httpx.AsyncClient, aniwatch: RunningFake) -> None:
    aniwatch.state.add_fault(Fault(mode="429", retry_after=120, times=1))
    first = await proxy.get("/api/home")
    assert_envelope(first, 429, "RATE_LIMITED")
    assert 119 <= int(first.headers["retry-after"]) <= 120
    # Not hammered: while the upstream asked us to wait, nothing more goes there.
    second = await proxy.get("/api/anime/one-piece-100")
    assert second.status_code == 429
    assert aniwatch.count("/home") == 1
    assert aniwatch.count("/anime/one-piece-100") == 0


async def test_the_breaker_opens_fails_fast_and_recovers(
    make_proxy: ProxyFactory, aniwatch: RunningFake
) -> None:
    settings = {"BREAKER_FAILURE_THRESHOLD": 3, "BREAKER_RESET_SECONDS": 0.3, "UPSTREAM_RETRIES": 0}
    async with make_proxy(**settings) as proxy:
        aniwatch.state.add_fault(Fault(mode="500"))
        for _ in range(3):
            assert (await proxy.get("/api/home")).status_code == 502
        refused = await proxy.get("/api/home")
        # API.md: upstream down is a 502, whether the breaker is open or not yet.
        assert_envelope(refused, 502, "BAD_GATEWAY")
        assert refused.headers["retry-after"] == "1"
        assert aniwatch.count("/home") == 3
        assert (await proxy.get("/api/health")).json()["upstream"] == "down"

        # Half-open: one probe, still failing, re-opens.
        await asyncio.sleep(0.35)
        assert (await proxy.get("/api/home")).status_code == 502
        reopened = await proxy.get("/api/home")
        assert (reopened.status_code, "retry-after" in reopened.headers) == (502, True)
        assert aniwatch.count("/home") == 4

        # The upstream is back: the next probe closes the breaker.
        aniwatch.state.clear_faults()
        await asyncio.sleep(0.35)
        assert (await proxy.get("/api/home")).status_code == 200
        assert (await proxy.get("/api/anime/one-piece-100")).status_code == 200
        assert (await proxy.get("/api/health")).json()["upstream"] == "ok"


async def test_cache_disabled_sends_every_request(
    make_proxy: ProxyFactory, aniwatch: RunningFake
) -> None:
    async with make_proxy(CACHE_ENABLED=False) as proxy:
        for _ in range(3):
            response = await proxy.get("/api/home")
            assert response.headers["x-cache"] == "BYPASS"
    assert aniwatch.count("/home") == 3


@pytest.mark.parametrize("mode", ["500", "403", "empty-sources"])
async def test_sources_fall_back_from_hd1_to_hd2(
    proxy: httpx.AsyncClient, aniwatch: RunningFake, mode: str
) -> None:
    aniwatch.state.add_fault(Fault(mode=mode, path="/episode/sources", server="hd-1"))
    response = await proxy.get(SOURCES, params=EPISODE)
    assert response.status_code == 200, response.text
    assert "/hd-2/" in response.json()["data"]["sources"][0]["url"]
    servers = [entry["params"]["server"] for entry in aniwatch.state.log]
    assert servers == ["hd-1", "hd-2"]
    assert response.headers["cache-control"] == "private, max-age=15"


async def test_an_explicit_server_gets_no_fallback(
    proxy: httpx.AsyncClient, aniwatch: RunningFake
) -> None:
    aniwatch.state.add_fault(Fault(mode="500", path="/episode/sources", server="hd-1"))
    response = await proxy.get(SOURCES, params={**EPISODE, "server": "hd-1"})
    assert response.status_code == 502
    assert [entry["params"]["server"] for entry in aniwatch.state.log] == ["hd-1"]


async def test_empty_sources_on_both_servers_pass_through_uncached(
    proxy: httpx.AsyncClient, aniwatch: RunningFake
) -> None:
    aniwatch.state.add_fault(Fault(mode="empty-sources", path="/episode/sources"))
    for _ in range(2):
        response = await proxy.get(SOURCES, params={**EPISODE, "category": "dub"})
        assert response.status_code == 200
        assert response.json()["data"]["sources"] == []
    assert aniwatch.count("/episode/sources") == 4


async def test_a_404_on_hd1_is_not_retried_on_hd2(
    proxy: httpx.AsyncClient, aniwatch: RunningFake
) -> None:
    response = await proxy.get(SOURCES, params={"animeEpisodeId": "one-piece-100?ep=999"})
    assert response.status_code == 404
    assert aniwatch.count("/episode/sources") == 1


@pytest.mark.parametrize(
    ("mode", "status", "code"), [("302", 502, "BAD_GATEWAY"), ("410", 410, "UNKNOWN_ERROR")]
)
async def test_redirects_are_not_followed_and_other_4xx_keep_their_status(
    proxy: httpx.AsyncClient, aniwatch: RunningFake, mode: str, status: int, code: str
) -> None:
    aniwatch.state.add_fault(Fault(mode=mode))
    response = await proxy.get("/api/anime/one-piece-100")
    assert response.status_code == status
    assert response.json()["code"] == code
    assert aniwatch.total == 1


def test_upstream_urls_only_ever_extend_the_configured_base() -> None:
    upstream = HianimeUpstream(
        http=httpx.AsyncClient(),
        base_url="http://upstream.test:4000/",
        timeout=httpx.Timeout(1),
        breaker=CircuitBreaker(name="t", threshold=1, reset_after=1),
        retries=0,
        backoff=0,
    )
    assert upstream.base_url == "http://upstream.test:4000"
    assert upstream.url(("anime", "a/b?c#d")) == (
        "http://upstream.test:4000/api/v2/hianime/anime/a%2Fb%3Fc%23d"
    )
    for bad in ("..", ".", ""):
        with pytest.raises(ValueError, match="invalid path segment"):
            upstream.url(("anime", bad))


def test_settings_refuse_urls_that_are_not_plain_bases() -> None:
    for url in ("ftp://x", "http://user:pw@x", "http://x/?q=1", "not a url"):
        with pytest.raises(SettingsError, match="HIANIME_API_URL"):
            load_settings(ProxySettings, SECRET_KEY="k" * 48, HIANIME_API_URL=url)
    settings = load_settings(
        ProxySettings, SECRET_KEY="k" * 48, CATALOG_SERVICE_URL="http://catalog:8002/"
    )
    assert settings.CATALOG_SERVICE_URL == "http://catalog:8002"
