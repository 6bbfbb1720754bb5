"""The catalog client: its cache, and the catalog's failures turned into our 503."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid

import httpx
import pytest

from anime_common import ServiceUnavailableError, app_context, service_state
from anime_devstack.assertions import assert_envelope
from anime_library.catalog_client import CatalogClient, TTLCache
from anime_library.state import LibraryState

from .conftest import BROKEN_HIANIME_ID, Catalog, user_token, verifier

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
    assert_envelope(response, 503, "SERVICE_UNAVAILABLE")
    # The catalog answered; what it could not reach is named, not "the catalog".
    assert "HiAnime" in response.json()["message"]
    assert (await library.get("/favorites", headers=user)).json() == []


@pytest.mark.parametrize("odd", ["0", "abc", "one-piece", "-1", "A-1", "x" * 300 + "-1"])
async def test_an_id_that_is_neither_uuid_nor_hianime_is_a_404_without_a_catalog_call(
    library: httpx.AsyncClient, catalog: Catalog, odd: str
) -> None:
    user = user_token()
    calls = catalog_calls(library)
    answers = [
        await library.post("/favorites", json={"anime_id": odd}, headers=user),
        await library.post("/views", json={"anime_id": odd}, headers=user),
        await library.post(
            "/watch/progress",
            json={"anime_id": odd, "episode": 1, "position_seconds": 1},
            headers=user,
        ),
        await library.get("/views/stats", params={"anime_id": odd}),
        await library.post("/collections", json={"name": "n", "anime_ids": [odd]}, headers=user),
    ]
    for response in answers:
        # 404 naming the id, or (past 200 characters) the 422 of the field.
        assert response.status_code in (404, 422), response.text
        body = response.json()
        named = odd in body["message"] or body["details"][0]["field"].startswith("anime_id")
        assert named, body
    # Reading the progress of an anime nobody can name is an empty list, as for any other.
    read = await library.get("/watch/progress", params={"anime_id": odd}, headers=user)
    assert (
        (read.status_code, read.json()) == (200, []) if len(odd) <= 200 else read.status_code == 422
    )
    removed = await library.delete(f"/favorites/{odd}", headers=user)
    assert removed.status_code == 202  # API.md: also when nothing matched
    assert calls == []


async def test_an_id_the_upstream_does_not_know_is_a_404(
    library: httpx.AsyncClient, catalog: Catalog
) -> None:
    response = await library.post(
        "/favorites", json={"anime_id": "nobody-knows-1"}, headers=user_token()
    )
    assert response.status_code == 404, response.text


async def test_lookups_are_cached(library: httpx.AsyncClient, catalog: Catalog) -> None:
    user = user_token()
    assert catalog.importer is not None
    body = {"anime_id": "frieren-18542", "episode": 4, "position_seconds": 30}
    first = await library.post("/watch/progress", json=body, headers=user)
    assert first.status_code == 202
    state = service_state(library._transport.app, LibraryState)  # type: ignore[attr-defined]
    fresh, info = state.catalog.cache.get(("hianime", "frieren-18542"))
    assert fresh
    assert info.title == "Фрирен"
    fresh, durations = state.catalog.cache.get(("episodes", info.id))
    assert fresh
    assert durations == dict.fromkeys(range(1, 29), 1440)  # the whole anime, in one entry


def catalog_calls(library: httpx.AsyncClient) -> list[str]:
    """The paths of the calls the library makes to the catalog from now on."""
    seen: list[str] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request.url.path)

    context = app_context(library._transport.app)  # type: ignore[attr-defined]
    context.http.event_hooks["request"].append(record)
    return seen


async def test_concurrent_misses_share_one_catalog_call(
    library: httpx.AsyncClient, catalog: Catalog
) -> None:
    seen = catalog_calls(library)
    user = user_token()
    body = {"anime_id": "frieren-18542", "episode": 9, "position_seconds": 30}
    responses = await asyncio.gather(
        *(library.post("/watch/progress", json=body, headers=user) for _ in range(10))
    )
    assert {response.status_code for response in responses} == {202}
    assert seen.count("/internal/hianime/frieren-18542") == 1
    assert seen.count("/releases") == 1
    assert seen.count("/episodes") == 1


async def test_every_episode_of_an_anime_comes_from_one_load(
    library: httpx.AsyncClient, catalog: Catalog
) -> None:
    seen = catalog_calls(library)
    user = user_token()
    anime_id = str(catalog.anime["frieren"])
    for episode in (1, 2, 27, 28):
        body = {"anime_id": anime_id, "episode": episode, "position_seconds": 60}
        response = await library.post("/watch/progress", json=body, headers=user)
        assert response.status_code == 202, response.text
    assert seen.count("/releases") == 1
    assert seen.count("/episodes") == 1


async def test_a_cached_answer_is_checked_again_before_a_refusal(
    library: httpx.AsyncClient, catalog: Catalog
) -> None:
    state = service_state(library._transport.app, LibraryState)  # type: ignore[attr-defined]
    user = user_token()
    anime_id = catalog.anime["frieren"]
    first = {"anime_id": str(anime_id), "episode": 1, "position_seconds": 60}
    assert (await library.post("/watch/progress", json=first, headers=user)).status_code == 202
    # Make the cache older than the catalog: 10 episodes of 10 minutes, as if
    # episodes aired and the durations were corrected since it was filled.
    cache = state.catalog.cache
    _, info = cache.get(("anime", anime_id))
    stale = dataclasses.replace(info, episodes_total=10)
    cache.put(("anime", anime_id), stale)
    cache.put(("hianime", "frieren-18542"), stale)
    cache.put(("episodes", anime_id), dict.fromkeys(range(1, 11), 600))

    for body in (
        {"anime_id": str(anime_id), "episode": 20, "position_seconds": 60},
        {"anime_id": str(anime_id), "episode": 5, "position_seconds": 1200},
        {"anime_id": str(anime_id), "episode": 20},  # a view
        {"anime_id": "frieren-18542", "episode": 21},  # by HiAnime id: that entry is renewed
    ):
        path = "/watch/progress" if "position_seconds" in body else "/views"
        response = await library.post(path, json=body, headers=user)
        assert response.status_code == 202, response.text
    assert cache.get(("anime", anime_id))[1].episodes_total == 28  # the cache learnt it
    assert cache.get(("hianime", "frieren-18542"))[1].episodes_total == 28
    # Past what the catalog itself says, still refused (after asking it).
    for body, field in (
        ({"anime_id": str(anime_id), "episode": 29, "position_seconds": 60}, "episode"),
        ({"anime_id": str(anime_id), "episode": 5, "position_seconds": 1441}, "position_seconds"),
    ):
        response = await library.post("/watch/progress", json=body, headers=user)
        assert response.status_code == 422, response.text
        assert response.json()["details"][0]["field"] == field


def test_an_entry_is_handed_out_for_reloading_once_late_in_its_life() -> None:
    cache = TTLCache(ttl=60, max_entries=10)
    assert not cache.claim_refresh("a")  # nothing stored
    cache.put("a", 1)
    assert not cache.claim_refresh("a")  # young: at 70-90% of its life at the earliest
    cache._entries["a"][1] = time.monotonic() - 1  # its reload moment has come
    assert cache.claim_refresh("a")
    assert not cache.claim_refresh("a")  # once
    assert cache.get("a") == (True, 1)  # still served until it expires


async def test_a_busy_entry_is_reloaded_in_the_background_before_it_expires() -> None:
    anime_id = uuid.uuid4()
    calls: list[int] = []
    answers = [200, 200, 500]
    release = asyncio.Event()
    release.set()

    async def handler(request: httpx.Request) -> httpx.Response:
        calls.append(len(calls))
        await release.wait()
        status = answers[min(len(calls) - 1, len(answers) - 1)]
        title = f"title {len(calls)}"
        row = {"id": str(anime_id), "title": title, "poster": None, "episodes_total": 12}
        return httpx.Response(status, json=[row] if status == 200 else {})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = CatalogClient(http=http, base_url="http://catalog", verifier=verifier(), ttl=60)
    key = ("anime", anime_id)

    async def reloads_done() -> None:
        await asyncio.gather(*client._flights._calls.values(), return_exceptions=True)
        await asyncio.sleep(0)  # their done callbacks

    try:
        assert (await client.resolve(str(anime_id))).title == "title 1"
        client.cache._entries[key][1] = 0.0  # due for its reload
        # The caller gets the cached answer at once; the reload runs behind it.
        assert (await client.resolve(str(anime_id))).title == "title 1"
        await reloads_done()
        assert (await client.resolve(str(anime_id))).title == "title 2"
        assert len(calls) == 2

        # A failed reload is dropped quietly (the entry serves until it expires)
        # and is not tried again by every caller.
        client.cache._entries[key][1] = 0.0
        assert (await client.resolve(str(anime_id))).title == "title 2"
        await reloads_done()
        assert (await client.resolve(str(anime_id))).title == "title 2"
        assert len(calls) == 3

        # Closing stops a reload still waiting for the catalog.
        client.cache.put(key, client.cache.get(key)[1])
        client.cache._entries[key][1] = 0.0
        release.clear()
        await client.resolve(str(anime_id))
        await asyncio.sleep(0.01)
        assert len(client._flights) == 1
        await client.aclose()
        assert len(client._flights) == 0
        client.cache.clear()
        release.set()
        with pytest.raises(ServiceUnavailableError):  # a miss still loads in the foreground
            await client.resolve(str(anime_id))
    finally:
        await http.aclose()
