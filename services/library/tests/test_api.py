"""The library's HTTP API (API.md, Library) against a real PostgreSQL and the real catalog."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest

from anime_common import asyncpg_dsn
from anime_devstack.assertions import assert_envelope
from anime_devstack.ports import free_port

from .conftest import (
    UNKNOWN_HIANIME_ID,
    Catalog,
    count,
    fields_of,
    user_token,
    verifier,
    wait_for_job,
)

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def table_locked(database_url: str, table: str) -> AsyncIterator[asyncpg.Connection]:
    """Lock a library table against writes (reads go on), so jobs writing to it wait."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    transaction = connection.transaction()
    await transaction.start()
    await connection.execute(f"LOCK TABLE library.{table} IN EXCLUSIVE MODE")
    try:
        yield connection
    finally:
        await transaction.rollback()
        await connection.close()


async def wait_until_running(
    client: httpx.AsyncClient, job: dict[str, Any], headers: dict[str, str]
) -> None:
    for _ in range(500):
        if (await client.get(f"/jobs/{job['id']}", headers=headers)).json()["status"] == "running":
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the job never started")


# --- permissions -------------------------------------------------------------------------


async def test_reads_need_a_token_and_writes_need_write_content(
    library: httpx.AsyncClient, catalog: Catalog
) -> None:
    for path in ("/favorites", "/watch/continue", f"/jobs/{uuid.uuid4()}"):
        assert_envelope(await library.get(path), 401, "AUTH_ERROR")
    assert_envelope(
        await library.get("/favorites", headers={"Authorization": "Bearer nope"}), 401, "AUTH_ERROR"
    )
    reader = user_token(permissions=("read:content",))
    assert (await library.get("/favorites", headers=reader)).status_code == 200
    body = {"anime_id": str(catalog.anime["frieren"])}
    assert_envelope(await library.post("/favorites", json=body), 401, "AUTH_ERROR")
    assert_envelope(await library.post("/favorites", json=body, headers=reader), 403,
                    "PERMISSION_DENIED")  # fmt: skip
    assert_envelope(await library.delete(f"/favorites/{uuid.uuid4()}", headers=reader), 403,
                    "PERMISSION_DENIED")  # fmt: skip
    progress = {**body, "episode": 1, "progress_percent": 5}
    assert_envelope(await library.post("/watch/progress", json=progress, headers=reader), 403,
                    "PERMISSION_DENIED")  # fmt: skip
    # A service token opens /internal routes only; on a public one it is no credential.
    service = {"Authorization": f"Bearer {verifier().issue_service_token('catalog')}"}
    assert_envelope(await library.get("/favorites", headers=service), 401, "AUTH_ERROR")


# --- favorites -----------------------------------------------------------------------------


async def test_a_favorite_is_accepted_at_once_and_listed_after_its_job(
    library: httpx.AsyncClient, catalog: Catalog
) -> None:
    user = user_token()
    anime_id = str(catalog.anime["frieren"])
    response = await library.post("/favorites", json={"anime_id": anime_id}, headers=user)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert set(accepted) == {"id", "anime_id", "created_at", "job"}
    assert accepted["anime_id"] == anime_id
    job = accepted["job"]
    assert set(job) == {"id", "key", "status", "error", "created_at", "finished_at"}
    assert job["key"].startswith("favorite:add:")
    assert job["key"].endswith(anime_id)
    assert job["status"] in ("queued", "running", "succeeded")
    assert (await wait_for_job(library, job, user))["status"] == "succeeded"

    listed = await library.get("/favorites/", headers=user)
    assert listed.status_code == 200
    assert listed.headers["x-total-count"] == "1"
    assert listed.json() == [
        {
            "id": accepted["id"],
            "anime_id": anime_id,
            "created_at": accepted["created_at"],
            "anime": {
                "id": anime_id,
                "title": "Фрирен",
                "poster": "https://img.example/frieren.jpg",
            },
        }
    ]
    # Favorites are per user.
    assert (await library.get("/favorites", headers=user_token())).json() == []


async def test_two_identical_posts_at_once_are_one_job_and_one_row(
    library: httpx.AsyncClient, catalog: Catalog, database_url: str
) -> None:
    user = user_token()
    body = {"anime_id": str(catalog.anime["one-piece"])}
    first, second = await asyncio.gather(
        library.post("/favorites", json=body, headers=user),
        library.post("/favorites", json=body, headers=user),
    )
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["created_at"] == second.json()["created_at"]
    assert first.json()["job"]["id"] == second.json()["job"]["id"]
    await wait_for_job(library, first.json()["job"], user)
    assert await count(database_url, "SELECT count(*) FROM library.favorites") == 1


async def test_an_existing_favorite_answers_with_its_id(
    library: httpx.AsyncClient, catalog: Catalog, database_url: str
) -> None:
    user = user_token()
    body = {"anime_id": str(catalog.anime["frieren"])}
    first = (await library.post("/favorites", json=body, headers=user)).json()
    await wait_for_job(library, first["job"], user)
    again = await library.post("/favorites", json=body, headers=user)
    assert again.status_code == 202
    assert again.json()["id"] == first["id"]
    assert again.json()["created_at"] == first["created_at"]
    # The job that wrote it is still kept, so it is the answer again.
    assert again.json()["job"]["id"] == first["job"]["id"]
    assert again.json()["job"]["status"] == "succeeded"
    assert await count(database_url, "SELECT count(*) FROM library.favorites") == 1


async def test_unknown_anime_is_a_404_and_nothing_is_queued(
    library: httpx.AsyncClient, database_url: str
) -> None:
    user = user_token()
    for reference in (str(uuid.uuid4()), "no-such-anime-1", "Not An Id!"):
        response = await library.post("/favorites", json={"anime_id": reference}, headers=user)
        assert_envelope(response, 404, "NOT_FOUND")
    assert fields_of(await library.post("/favorites", json={}, headers=user)) == {"anime_id"}
    assert_envelope(
        await library.post("/favorites", content=b"{", headers=user), 400, "VALIDATION_ERROR"
    )
    # A job is committed before its 202 goes out: no job row now means nothing can land later.
    assert await count(database_url, "SELECT count(*) FROM library.jobs") == 0
    assert await count(database_url, "SELECT count(*) FROM library.favorites") == 0


async def test_favorite_by_hianime_id_known_and_imported(
    library: httpx.AsyncClient, catalog: Catalog
) -> None:
    user = user_token()
    known = await library.post("/favorites", json={"anime_id": "one-piece-100"}, headers=user)
    assert known.status_code == 202, known.text
    assert known.json()["anime_id"] == str(catalog.anime["one-piece"])
    # The catalog has never seen this one: it imports it, and the favorite follows.
    assert catalog.importer is not None
    imported = await library.post("/favorites", json={"anime_id": UNKNOWN_HIANIME_ID}, headers=user)
    assert imported.status_code == 202, imported.text
    assert UNKNOWN_HIANIME_ID in catalog.importer.asked
    await wait_for_job(library, known.json()["job"], user)
    await wait_for_job(library, imported.json()["job"], user)
    listed = (await library.get("/favorites", headers=user)).json()
    titles = [item["anime"]["title"] for item in listed]
    assert titles == ["Дандадан", "Ван-Пис"]  # newest first
    assert listed[1]["anime"]["poster"] is None


async def test_delete_by_favorite_id_or_anime_id_and_when_nothing_matched(
    library: httpx.AsyncClient, catalog: Catalog, database_url: str
) -> None:
    user = user_token()
    ids = {}
    for name in ("frieren", "one-piece"):
        body = {"anime_id": str(catalog.anime[name])}
        accepted = (await library.post("/favorites", json=body, headers=user)).json()
        await wait_for_job(library, accepted["job"], user)
        ids[name] = accepted["id"]

    by_favorite = await library.delete(f"/favorites/{ids['frieren']}", headers=user)
    assert by_favorite.status_code == 202
    assert set(by_favorite.json()) == {"job"}
    job = by_favorite.json()["job"]
    assert job["key"].endswith(str(catalog.anime["frieren"]))
    await wait_for_job(library, job, user)

    by_anime = await library.delete(f"/favorites/{catalog.anime['one-piece']}/", headers=user)
    assert by_anime.status_code == 202
    await wait_for_job(library, by_anime.json()["job"], user)
    assert (await library.get("/favorites", headers=user)).json() == []

    for reference in (str(uuid.uuid4()), "one-piece-100", "no-such-anime-1", "Weird Id"):
        nothing = await library.delete(f"/favorites/{reference}", headers=user)
        assert nothing.status_code == 202, nothing.text
        assert (await wait_for_job(library, nothing.json()["job"], user))["status"] == "succeeded"
    assert await count(database_url, "SELECT count(*) FROM library.favorites") == 0


async def test_favorites_page_with_headers(library: httpx.AsyncClient, catalog: Catalog) -> None:
    user = user_token()
    for name in ("frieren", "one-piece"):
        accepted = await library.post(
            "/favorites", json={"anime_id": str(catalog.anime[name])}, headers=user
        )
        await wait_for_job(library, accepted.json()["job"], user)
    page = await library.get("/favorites?limit=1", headers=user)
    assert page.headers["x-total-count"] == "2"
    assert 'rel="next"' in page.headers["link"]
    assert [item["anime"]["title"] for item in page.json()] == ["Ван-Пис"]
    beyond = await library.get("/favorites?offset=5", headers=user)
    assert beyond.json() == []
    assert beyond.headers["x-total-count"] == "2"
    assert fields_of(await library.get("/favorites?limit=0", headers=user)) == {"limit"}


async def test_is_this_anime_a_favorite_by_uuid_or_hianime_id(
    library: httpx.AsyncClient, catalog: Catalog
) -> None:
    user = user_token()
    for name in ("frieren", "one-piece"):
        accepted = await library.post(
            "/favorites", json={"anime_id": str(catalog.anime[name])}, headers=user
        )
        await wait_for_job(library, accepted.json()["job"], user)
    for reference in (str(catalog.anime["one-piece"]), "one-piece-100"):
        found = await library.get("/favorites", params={"anime_id": reference}, headers=user)
        assert found.headers["x-total-count"] == "1"
        assert [item["anime_id"] for item in found.json()] == [str(catalog.anime["one-piece"])]
    # Not a favorite of this user, unknown to the catalog: an empty list either way.
    stranger = user_token()
    for reference in (str(catalog.anime["frieren"]), str(uuid.uuid4()), "no-such-anime-1"):
        other = await library.get("/favorites", params={"anime_id": reference}, headers=stranger)
        assert (other.json(), other.headers["x-total-count"]) == ([], "0")
    assert fields_of(await library.get("/favorites?anime_id=", headers=user)) == {"anime_id"}


# --- watch progress --------------------------------------------------------------------------


async def test_progress_is_validated_before_it_is_queued(
    library: httpx.AsyncClient, catalog: Catalog, database_url: str
) -> None:
    user = user_token()
    frieren = str(catalog.anime["frieren"])
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"episode": 0, "progress_percent": 5}, {"episode"}),
        ({"episode": 29, "progress_percent": 5}, {"episode"}),  # 28 episodes
        ({"episode": 1, "progress_percent": 100.5}, {"progress_percent"}),
        ({"episode": 1, "progress_percent": -1}, {"progress_percent"}),
        ({"episode": 1, "position_seconds": -1}, {"position_seconds"}),
        ({"episode": 1, "position_seconds": 1441}, {"position_seconds"}),  # 24 min episodes
        ({"episode": 1}, {"position_seconds", "progress_percent"}),
        ({"episode": "one", "progress_percent": 5}, {"episode"}),
    ]
    for extra, fields in cases:
        response = await library.post(
            "/watch/progress", json={"anime_id": frieren, **extra}, headers=user
        )
        assert fields_of(response) == fields, (extra, response.text)
    unknown = {"anime_id": str(uuid.uuid4()), "episode": 1, "progress_percent": 5}
    assert_envelope(await library.post("/watch/progress", json=unknown, headers=user), 404,
                    "NOT_FOUND")  # fmt: skip
    # A job is committed before its 202 goes out: no job row now means nothing can land later.
    assert await count(database_url, "SELECT count(*) FROM library.jobs") == 0
    assert await count(database_url, "SELECT count(*) FROM library.watch_progress") == 0


async def test_progress_is_accepted_and_stored_per_episode(
    library: httpx.AsyncClient, catalog: Catalog
) -> None:
    user = user_token()
    frieren = str(catalog.anime["frieren"])
    response = await library.post(
        "/watch/progress",
        json={"anime_id": "frieren-18542", "episode": 2, "position_seconds": 720},
        headers=user,
    )
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert set(accepted) == {
        "anime_id", "episode", "position_seconds", "progress_percent", "last_watched_at", "job"
    }  # fmt: skip
    assert accepted["anime_id"] == frieren
    assert accepted["position_seconds"] == 720
    assert accepted["progress_percent"] == 50  # from the episode's duration
    assert accepted["job"]["key"].endswith(f"{frieren}:2")
    await wait_for_job(library, accepted["job"], user)
    finished_ep = await library.post(
        "/watch/progress",
        json={"anime_id": frieren, "episode": 1, "progress_percent": 95},
        headers=user,
    )
    await wait_for_job(library, finished_ep.json()["job"], user)

    listed = await library.get(f"/watch/progress?anime_id={frieren}", headers=user)
    assert listed.status_code == 200
    assert listed.headers["x-total-count"] == "2"
    body = listed.json()
    assert [(item["episode"], item["completed"]) for item in body] == [(1, True), (2, False)]
    assert body[0]["position_seconds"] is None
    assert body[0]["progress_percent"] == 95
    assert set(body[0]) == {
        "episode", "position_seconds", "progress_percent", "completed", "last_watched_at"
    }  # fmt: skip
    by_hianime = await library.get("/watch/progress?anime_id=frieren-18542", headers=user)
    assert by_hianime.json() == body
    for reference in (str(uuid.uuid4()), "no-such-anime-1"):
        nothing = await library.get(f"/watch/progress?anime_id={reference}", headers=user)
        assert nothing.json() == []
        assert nothing.headers["x-total-count"] == "0"
    assert fields_of(await library.get("/watch/progress", headers=user)) == {"anime_id"}


async def test_an_anime_without_known_durations_takes_any_position(
    library: httpx.AsyncClient, catalog: Catalog
) -> None:
    user = user_token()
    response = await library.post(
        "/watch/progress",
        json={"anime_id": "one-piece-100", "episode": 1000, "position_seconds": 99999},
        headers=user,
    )
    assert response.status_code == 202, response.text
    assert response.json()["progress_percent"] is None
    assert (await wait_for_job(library, response.json()["job"], user))["status"] == "succeeded"


async def test_twenty_rapid_updates_end_with_the_last_position(
    library: httpx.AsyncClient, catalog: Catalog
) -> None:
    user = user_token()
    frieren = str(catalog.anime["frieren"])
    jobs = []
    for position in range(1, 21):
        response = await library.post(
            "/watch/progress",
            json={"anime_id": frieren, "episode": 3, "position_seconds": position * 10},
            headers=user,
        )
        assert response.status_code == 202
        jobs.append(response.json()["job"])
    for job in jobs:
        await wait_for_job(library, job, user)
    listed = (await library.get(f"/watch/progress?anime_id={frieren}", headers=user)).json()
    assert [(item["episode"], item["position_seconds"]) for item in listed] == [(3, 200)]


async def test_continue_watching_is_one_entry_per_anime_most_recent_first(
    library: httpx.AsyncClient, catalog: Catalog
) -> None:
    user = user_token()
    sent = [("frieren", 1, 10.0), ("one-piece", 5, 50.0), ("frieren", 2, 20.0)]
    for name, episode, percent in sent:
        response = await library.post(
            "/watch/progress",
            json={"anime_id": str(catalog.anime[name]), "episode": episode,
                  "progress_percent": percent},
            headers=user,
        )  # fmt: skip
        await wait_for_job(library, response.json()["job"], user)
    response = await library.get("/watch/continue", headers=user)
    assert response.status_code == 200
    assert response.headers["x-total-count"] == "2"
    body = response.json()
    assert [(item["anime"]["title"], item["episode"]) for item in body] == [
        ("Фрирен", 2),
        ("Ван-Пис", 5),
    ]
    assert set(body[0]) == {
        "anime_id", "episode", "position_seconds", "progress_percent", "last_watched_at", "anime"
    }  # fmt: skip
    assert body[0]["anime"]["id"] == body[0]["anime_id"]
    limited = await library.get("/watch/continue?limit=1&offset=1", headers=user)
    assert [item["episode"] for item in limited.json()] == [5]
    assert (await library.get("/watch/continue?offset=9", headers=user)).json() == []


# --- jobs, bounds, the catalog being down ---------------------------------------------------


async def test_a_job_is_visible_to_its_owner_only(
    library: httpx.AsyncClient, catalog: Catalog
) -> None:
    owner = user_token()
    accepted = await library.post(
        "/favorites", json={"anime_id": str(catalog.anime["frieren"])}, headers=owner
    )
    job = accepted.json()["job"]
    assert (await library.get(f"/jobs/{job['id']}", headers=owner)).json()["id"] == job["id"]
    assert_envelope(await library.get(f"/jobs/{job['id']}", headers=user_token()), 404,
                    "NOT_FOUND")  # fmt: skip
    assert_envelope(await library.get("/jobs/not-a-uuid", headers=owner), 404, "NOT_FOUND")
    assert_envelope(await library.get(f"/jobs/{uuid.uuid4()}", headers=owner), 404, "NOT_FOUND")


async def test_a_full_queue_is_a_503_and_nothing_is_half_accepted(
    make_library: Callable[..., Any], catalog: Catalog, database_url: str
) -> None:
    user = user_token()
    frieren = str(catalog.anime["frieren"])

    def progress(episode: int) -> dict[str, Any]:
        return {"anime_id": frieren, "episode": episode, "progress_percent": 10}

    async with make_library(JOB_WORKERS=1, JOB_MAX_OPEN=2) as library:
        async with table_locked(database_url, "watch_progress"):
            first = await library.post("/watch/progress", json=progress(1), headers=user)
            await wait_until_running(library, first.json()["job"], user)
            second = await library.post("/watch/progress", json=progress(2), headers=user)
            assert second.status_code == 202
            full = await library.post("/watch/progress", json=progress(3), headers=user)
            assert_envelope(full, 503, "SERVICE_UNAVAILABLE")
            assert full.headers["retry-after"] == "1"
            # An open key takes no room: its newest payload replaces the queued one.
            again = await library.post("/watch/progress", json=progress(2), headers=user)
            assert again.json()["job"]["id"] == second.json()["job"]["id"]
        for response in (first, second):
            assert (await wait_for_job(library, response.json()["job"], user))["status"] == (
                "succeeded"
            )
        episodes = await count(
            database_url, "SELECT array_agg(episode ORDER BY episode) FROM library.watch_progress"
        )
        jobs = await count(database_url, "SELECT count(*) FROM library.jobs")
    assert episodes == [1, 2]
    assert jobs == 2  # the refused one left no trace


async def test_shutdown_finishes_the_batch_in_hand_and_leaves_the_queue_to_the_next(
    make_library: Callable[..., Any], catalog: Catalog, database_url: str
) -> None:
    user = user_token()
    frieren = str(catalog.anime["frieren"])

    def progress(episode: int) -> dict[str, Any]:
        return {"anime_id": frieren, "episode": episode, "progress_percent": 50}

    async with make_library(JOB_WORKERS=1, JOB_BATCH_SIZE=5) as library:
        lock = await asyncpg.connect(asyncpg_dsn(database_url))
        await lock.execute("BEGIN; LOCK TABLE library.watch_progress IN ACCESS EXCLUSIVE MODE")
        first = await library.post("/watch/progress", json=progress(1), headers=user)
        await wait_until_running(library, first.json()["job"], user)
        for episode in range(2, 21):
            response = await library.post("/watch/progress", json=progress(episode), headers=user)
            assert response.status_code == 202
        # The batch in hand waits behind the lock until the app has begun to stop.
        asyncio.get_running_loop().call_later(0.3, lambda: asyncio.ensure_future(lock.close()))
    written = await count(database_url, "SELECT count(*) FROM library.watch_progress")
    queued = await count(database_url, "SELECT count(*) FROM library.jobs WHERE status = 'queued'")
    succeeded = await count(
        database_url, "SELECT count(*) FROM library.jobs WHERE status = 'succeeded'"
    )
    # The claimed batch landed; nothing was failed or rushed: the rest is still queued.
    assert 1 <= written <= 5
    assert (succeeded, queued) == (written, 20 - written)
    async with make_library():
        for _ in range(500):
            if await count(database_url, "SELECT count(*) FROM library.watch_progress") == 20:
                break
            await asyncio.sleep(0.02)
    assert await count(database_url, "SELECT count(*) FROM library.watch_progress") == 20


async def test_the_catalog_being_down_is_a_503_and_nothing_is_queued(
    make_library: Callable[..., Any], catalog: Catalog, database_url: str
) -> None:
    user = user_token()
    async with make_library(CATALOG_SERVICE_URL=f"http://127.0.0.1:{free_port()}") as library:
        favorite = await library.post(
            "/favorites", json={"anime_id": str(catalog.anime["frieren"])}, headers=user
        )
        assert_envelope(favorite, 503, "SERVICE_UNAVAILABLE")
        progress = await library.post(
            "/watch/progress",
            json={"anime_id": "frieren-18542", "episode": 1, "progress_percent": 3},
            headers=user,
        )
        assert_envelope(progress, 503, "SERVICE_UNAVAILABLE")
        # Nothing stored means nothing to decorate: the list itself still answers.
        assert (await library.get("/favorites", headers=user)).json() == []
    assert await count(database_url, "SELECT count(*) FROM library.jobs") == 0
    assert await count(database_url, "SELECT count(*) FROM library.favorites") == 0


async def test_re_adding_after_removal_and_after_the_job_is_forgotten(
    make_library: Callable[..., Any], catalog: Catalog, database_url: str
) -> None:
    user = user_token()
    body = {"anime_id": str(catalog.anime["frieren"])}
    async with make_library(JOB_RETENTION_SECONDS=0.3, JOB_POLL_SECONDS=0.1) as library:
        first = (await library.post("/favorites", json=body, headers=user)).json()
        await wait_for_job(library, first["job"], user)
        removed = await library.delete(f"/favorites/{first['id']}", headers=user)
        await wait_for_job(library, removed.json()["job"], user)
        # The add job is still remembered, but the row is gone: a new job adds it again.
        again = (await library.post("/favorites", json=body, headers=user)).json()
        assert again["job"]["id"] != first["job"]["id"]
        assert again["id"] == first["id"]  # a favorite's id follows from user and anime
        await wait_for_job(library, again["job"], user)
        assert len((await library.get("/favorites", headers=user)).json()) == 1
        # Once its job is pruned, an existing favorite still answers with its row.
        for _ in range(200):
            gone = await library.get(f"/jobs/{again['job']['id']}", headers=user)
            if gone.status_code == 404:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the finished job was never pruned")
        late = (await library.post("/favorites", json=body, headers=user)).json()
        assert late["job"]["id"] != again["job"]["id"]
        assert (late["id"], late["created_at"]) == (again["id"], again["created_at"])
        await wait_for_job(library, late["job"], user)
    assert await count(database_url, "SELECT count(*) FROM library.favorites") == 1


async def test_add_and_remove_while_the_other_is_still_pending(
    library: httpx.AsyncClient, catalog: Catalog, database_url: str
) -> None:
    user = user_token()
    body = {"anime_id": str(catalog.anime["frieren"])}
    first = (await library.post("/favorites", json=body, headers=user)).json()
    await wait_for_job(library, first["job"], user)
    async with table_locked(database_url, "favorites"):
        # Removal pending, then added again: the add must land after the removal.
        removal = (await library.delete(f"/favorites/{first['id']}", headers=user)).json()
        await wait_until_running(library, removal["job"], user)
        again = (await library.post("/favorites", json=body, headers=user)).json()
        assert again["job"]["id"] != first["job"]["id"]
    await wait_for_job(library, again["job"], user)
    assert [item["id"] for item in (await library.get("/favorites", headers=user)).json()] == [
        first["id"]
    ]

    other = user_token()
    async with table_locked(database_url, "favorites"):
        # Added (not written yet), then removed by the favorite's id.
        added = (await library.post("/favorites", json=body, headers=other)).json()
        removed = (await library.delete(f"/favorites/{added['id']}", headers=other)).json()
        assert removed["job"]["key"] == added["job"]["key"].replace(":add:", ":remove:")
    await wait_for_job(library, removed["job"], other)
    assert (await library.get("/favorites", headers=other)).json() == []
