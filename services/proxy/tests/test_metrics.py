from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from anime_common import METRICS_PATH

from .conftest import ProxyFactory

pytestmark = pytest.mark.anyio


Key = tuple[str, frozenset[tuple[str, str]]]


async def _samples(client: httpx.AsyncClient) -> dict[Key, float]:
    response = await client.get(METRICS_PATH)
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _lookups(result: str) -> Key:
    return ("proxy_cache_lookups_total", frozenset({("policy", "home"), ("result", result)}))


async def test_cache_hits_misses_and_breaker_state_are_exported(make_proxy: ProxyFactory) -> None:
    async with make_proxy() as client:
        before = await _samples(client)
        assert (await client.get("/api/home")).headers["x-cache"] == "MISS"
        assert (await client.get("/api/home")).headers["x-cache"] == "HIT"
        after = await _samples(client)
    assert after[_lookups("miss")] == before.get(_lookups("miss"), 0) + 1
    assert after[_lookups("hit")] == before.get(_lookups("hit"), 0) + 1
    closed = ("proxy_breaker_state", frozenset({("upstream", "hianime"), ("state", "closed")}))
    opened = ("proxy_breaker_state", frozenset({("upstream", "hianime"), ("state", "open")}))
    assert (after[closed], after[opened]) == (1.0, 0.0)
    assert ("proxy_streams_active", frozenset()) in after


async def test_an_open_breaker_shows_in_the_metrics(make_proxy: ProxyFactory) -> None:
    async with make_proxy(
        HIANIME_API_URL="http://127.0.0.1:9", UPSTREAM_RETRIES=0, BREAKER_FAILURE_THRESHOLD=1
    ) as client:
        assert (await client.get("/api/home")).status_code == 502
        after = await _samples(client)
    opened = ("proxy_breaker_state", frozenset({("upstream", "hianime"), ("state", "open")}))
    assert after[opened] == 1.0
