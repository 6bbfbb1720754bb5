from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from anime_common import METRICS_PATH, create_read_pool
from anime_devstack.asgi import serve_asgi

from .apps import build_app, make_settings
from .test_database import SAMPLE

pytestmark = pytest.mark.anyio


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text page, keyed by name and labels (parsing it checks it)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def _scrape(client: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await client.get(METRICS_PATH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return _samples(response.text)


Key = tuple[str, frozenset[tuple[str, str]]]


def _requests(route: str, status: str, method: str = "GET") -> Key:
    labels = {"service": "sample", "method": method, "route": route, "status": status}
    return ("http_requests_total", frozenset(labels.items()))


async def test_a_request_is_counted_under_its_route_template_and_status() -> None:
    async with serve_asgi(build_app()) as client:
        before = await _scrape(client)
        assert (await client.get("/numbers?limit=2")).status_code == 200
        assert (await client.get("/numbers/?limit=500")).status_code == 422
        assert (await client.get("/no/such/path/123")).status_code == 404
        assert (await client.get("/crash")).status_code == 500
        after = await _scrape(client)

    for key in (
        _requests("/numbers", "200"),
        _requests("/numbers", "422"),
        _requests("(unmatched)", "404"),
        _requests("/crash", "500"),
    ):
        assert after[key] == before.get(key, 0) + 1, key
    # The histogram counts the same requests; in-flight holds only the scrape itself.
    duration = dict(_requests("/numbers", "200")[1])
    key = ("http_request_duration_seconds_count", frozenset(duration.items()))
    assert after[key] == before.get(key, 0) + 1
    assert after[("http_requests_in_flight", frozenset({("service", "sample")}))] == 1


async def test_the_database_pool_is_reported(empty_database_url: str) -> None:
    app = build_app(
        make_settings(DATABASE_URL=empty_database_url, DB_POOL_SIZE=3), migrations=SAMPLE
    )
    async with serve_asgi(app) as client:
        assert (await client.get("/health")).status_code == 200
        samples = await _scrape(client)
    pool = frozenset({("pool", "sample")})
    assert samples[("db_pool_max_connections", pool)] == 3 + 10
    in_use = samples[("db_pool_connections", pool | {("state", "in_use")})]
    idle = samples[("db_pool_connections", pool | {("state", "idle")})]
    assert in_use == 0
    assert idle >= 1


async def test_a_read_pool_is_reported_until_it_is_gone(empty_database_url: str) -> None:
    settings = make_settings(DATABASE_URL=empty_database_url, DB_POOL_SIZE=2, DB_MAX_OVERFLOW=1)
    reader = await create_read_pool(settings, application_name="sample-reader")
    try:
        async with reader.acquire() as connection:
            await connection.execute("SELECT 1")
            async with serve_asgi(build_app()) as client:
                held = await _scrape(client)
    finally:
        await reader.close()
    pool = frozenset({("pool", "sample-reader")})
    assert held[("db_pool_max_connections", pool)] == 3
    assert held[("db_pool_connections", pool | {("state", "in_use")})] == 1
    del reader
    async with serve_asgi(build_app()) as client:
        gone = await _scrape(client)
    assert ("db_pool_max_connections", pool) not in gone
