"""The catalog client: its cache, and the catalog's failures turned into our 503."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from anime_library.catalog_client import TTLCache

from .conftest import BROKEN_HIANIME_ID, Catalog, user_token

pytestmark = pytest.mark.anyio


def test_cache_entries_expire_and_the_oldest_go_first() -> None:
    cache = TTLCache(ttl=60, max_entries=2)
    cache.put("a", 1)
    cache.put("b", None)
    assert cache.get("a") == (True, 1)  # "a" is now the most recent
    cache.put("c", 3)
    assert cache.get("b") == (False, None)
    assert cache.get("a") == (True, 1)
    cache.clear()
    assert cache.get("a") == (False, None)

    short = TTLCache(ttl=0.01, max_entries=10)
    short.put("a", 1)
    time.sleep(0.02)
    assert short.get("a") == (False, None)
    off = TTLCache(ttl=0, max_entries=10)
    off.put("a", 1)
    assert off.get("a") == (False, None)


async def test_a_failing_import_is_a_503_and_nothing_is_queued(
    library: httpx.AsyncClient, catalog: Catalog
) -> None:
    user = user_token()
    response = await library.post("/favorites", json={"anime_id": BROKEN_HIANIME_ID}, headers=user)
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "SERVICE_UNAVAILABLE"
    assert (await library.get("/favorites", headers=user)).json() == []


async def test_lookups_are_cached(library: httpx.AsyncClient, catalog: Catalog) -> None:
    user = user_token()
    assert catalog.importer is not None
    body = {"anime_id": "frieren-18542", "episode": 4, "position_seconds": 30}
    first = await library.post("/watch/progress", json=body, headers=user)
    assert first.status_code == 202
    state = library._transport.app.state.library  # type: ignore[attr-defined]
    fresh, info = state.catalog.cache.get(("hianime", "frieren-18542"))
    assert fresh
    assert info.title == "Фрирен"
    assert state.catalog.cache.get(("duration", info.id, 4)) == (True, 1440)


async def test_concurrent_misses_share_one_catalog_call(
    library: httpx.AsyncClient, catalog: Catalog
) -> None:
    state = library._transport.app.state  # type: ignore[attr-defined]
    seen: list[str] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request.url.path)

    state.http.event_hooks["request"].append(record)
    user = user_token()
    body = {"anime_id": "frieren-18542", "episode": 9, "position_seconds": 30}
    responses = await asyncio.gather(
        *(library.post("/watch/progress", json=body, headers=user) for _ in range(10))
    )
    assert {response.status_code for response in responses} == {202}
    assert seen.count("/internal/hianime/frieren-18542") == 1
    assert seen.count("/releases") == 1
    assert seen.count("/episodes") == 1
