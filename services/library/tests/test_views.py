"""Views (issue 9): recorded by jobs, counted once per window, public counts from aggregates."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest

from anime_common import Database, asyncpg_dsn
from anime_devstack.assertions import assert_envelope
from anime_library.jobs import repository as job_repository
from anime_library.views import repository as view_repository
from anime_library.views.repository import ViewRow

from .conftest import (
    Catalog,
    count,
    fields_of,
    user_token,
    wait_for_job,
)

pytestmark = pytest.mark.anyio

NOW = datetime.datetime.now(datetime.UTC)


async def view(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    """POST /views and wait for its job."""
    response = await client.post("/views", json=body, headers=headers)
    assert response.status_code == 202, response.text
    accepted: dict[str, Any] = response.json()
    assert (await wait_for_job(client, accepted["job"], headers))["status"] == "succeeded"
    return accepted


async def stats(client: httpx.AsyncClient, anime: str) -> dict[str, Any]:
    response = await client.get(f"/views/stats?anime_id={anime}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_view_is_accepted_by_a_job_and_counted(
    library: httpx.AsyncClient, catalog: Catalog
) -> None:
    user_id = uuid.uuid4()
    user = user_token(user_id)
    anime = str(catalog.anime["frieren"])
    response = await library.post("/views", json={"anime_id": anime, "episode": 3}, headers=user)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert set(accepted) == {"anime_id", "episode", "viewed_at", "job"}
    assert (accepted["anime_id"], accepted["episode"]) == (anime, 3)
    assert accepted["job"]["key"] == f"view:{user_id}:{anime}:3"
    await wait_for_job(library, accepted["job"], user)
    without_episode = await view(library, user, anime_id="frieren-18542")
    assert without_episode["episode"] is None
    assert without_episode["job"]["key"] == f"view:{user_id}:{anime}:0"
    assert await stats(library, anime) == {"anime_id": anime, "total": 2, "last_7_days": 2}


async def test_refreshes_within_the_window_count_once(
    library: httpx.AsyncClient, catalog: Catalog, database_url: str
) -> None:
    anime = str(catalog.anime["frieren"])
    user, other = user_token(), user_token()
    for _ in range(3):
        await view(library, user, anime_id=anime, episode=1)
    await view(library, user, anime_id=anime, episode=2)  # another episode counts
    await view(library, other, anime_id=anime, episode=1)  # another user counts
    assert (await stats(library, anime))["total"] == 3
    # Nothing was counted by scanning rows: the aggregates hold the numbers.
    assert await count(
        database_url, "SELECT views FROM library.anime_view_totals WHERE anime_id = $1",
        uuid.UUID(anime),
    ) == 3  # fmt: skip


async def test_without_a_window_every_view_counts(
    make_library: Callable[..., Any], catalog: Catalog
) -> None:
    async with make_library(VIEW_DEDUPE_SECONDS=0) as library:
        user = user_token()
        anime = str(catalog.anime["one-piece"])
        for _ in range(3):
            await view(library, user, anime_id=anime)
        assert (await stats(library, anime))["total"] == 3


async def test_rapid_repeats_share_one_job(library: httpx.AsyncClient, catalog: Catalog) -> None:
    user = user_token()
    body = {"anime_id": str(catalog.anime["frieren"]), "episode": 5}
    answers = await asyncio.gather(*(library.post("/views", json=body, headers=user)
                                     for _ in range(5)))  # fmt: skip
    assert {answer.status_code for answer in answers} == {202}
    assert len({answer.json()["job"]["key"] for answer in answers}) == 1
    for answer in answers:
        await wait_for_job(library, answer.json()["job"], user)
    assert (await stats(library, body["anime_id"]))["total"] == 1


async def test_recent_views_newest_first_one_per_anime(
    library: httpx.AsyncClient, catalog: Catalog
) -> None:
    user = user_token()
    frieren, one_piece = str(catalog.anime["frieren"]), str(catalog.anime["one-piece"])
    await view(library, user, anime_id=frieren, episode=1)
    await view(library, user, anime_id=one_piece)
    latest = await view(library, user, anime_id=frieren, episode=2)
    response = await library.get("/views/", headers=user)
    assert response.status_code == 200
    assert response.headers["x-total-count"] == "2"
    assert response.json() == [
        {
            "anime_id": frieren,
            "episode": 2,
            "viewed_at": latest["viewed_at"],
            "anime": {
                "id": frieren,
                "title": "Фрирен",
                "poster": "https://img.example/frieren.jpg",
            },
        },
        {
            "anime_id": one_piece,
            "episode": None,
            "viewed_at": response.json()[1]["viewed_at"],
            "anime": {"id": one_piece, "title": "Ван-Пис", "poster": None},
        },
    ]
    page = await library.get("/views?limit=1&offset=1", headers=user)
    assert [item["anime_id"] for item in page.json()] == [one_piece]
    assert (await library.get("/views?offset=9", headers=user)).headers["x-total-count"] == "2"
    assert (await library.get("/views", headers=user_token())).json() == []


async def test_bad_views_are_refused_before_anything_is_queued(
    library: httpx.AsyncClient, catalog: Catalog, database_url: str
) -> None:
    user = user_token()
    anime = str(catalog.anime["frieren"])  # 28 episodes
    assert fields_of(await library.post("/views", json={}, headers=user)) == {"anime_id"}
    for episode in (0, -1, 29, "one"):
        response = await library.post(
            "/views", json={"anime_id": anime, "episode": episode}, headers=user
        )
        assert fields_of(response) == {"episode"}, episode
    for reference in (str(uuid.uuid4()), "no-such-anime-1", "Not An Id!"):
        response = await library.post("/views", json={"anime_id": reference}, headers=user)
        assert_envelope(response, 404, "NOT_FOUND")
    # A job is committed before its 202 goes out: no job row now means nothing can land later.
    assert await count(database_url, "SELECT count(*) FROM library.jobs") == 0
    assert await count(database_url, "SELECT count(*) FROM library.view_marks") == 0


async def test_stats_are_public_and_need_a_known_anime(
    library: httpx.AsyncClient, catalog: Catalog
) -> None:
    anime = str(catalog.anime["one-piece"])
    # A stale token on a public route is ignored.
    stale = await library.get(
        f"/views/stats?anime_id={anime}", headers={"Authorization": "Bearer expired"}
    )
    assert stale.status_code == 200
    assert stale.json() == {"anime_id": anime, "total": 0, "last_7_days": 0}
    by_hianime = await library.get("/views/stats?anime_id=one-piece-100")
    assert by_hianime.json()["anime_id"] == anime
    assert_envelope(await library.get(f"/views/stats?anime_id={uuid.uuid4()}"), 404, "NOT_FOUND")
    assert fields_of(await library.get("/views/stats")) == {"anime_id"}


async def test_reads_need_a_token_and_writes_need_write_content(
    library: httpx.AsyncClient, catalog: Catalog
) -> None:
    assert_envelope(await library.get("/views"), 401, "AUTH_ERROR")
    body = {"anime_id": str(catalog.anime["frieren"])}
    assert_envelope(await library.post("/views", json=body), 401, "AUTH_ERROR")
    reader = user_token(permissions=("read:content",))
    assert (await library.get("/views", headers=reader)).status_code == 200
    assert_envelope(
        await library.post("/views", json=body, headers=reader), 403, "PERMISSION_DENIED"
    )


# --- the job's statement, with times of our choosing ------------------------------------------


async def record(database_url: str, rows: list[ViewRow], window: float = 3600) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await job_repository.write_payloads(
            connection=connection, write=view_repository.record_views(window), payloads=rows
        )
    finally:
        await connection.close()


async def counts(database_url: str, anime_id: uuid.UUID) -> tuple[int, int]:
    since = NOW.date() - datetime.timedelta(days=6)
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        found = await view_repository.view_counts(
            connection=connection, anime_id=anime_id, since=since
        )
    finally:
        await connection.close()
    return found.total, found.last_7_days


async def test_the_window_slides_from_the_last_counted_view(
    database: Database, database_url: str
) -> None:
    user, anime = uuid.uuid4(), uuid.uuid4()
    for minutes in (0, 30, 59, 61, 90, 125):
        at = NOW - datetime.timedelta(hours=3) + datetime.timedelta(minutes=minutes)
        await record(database_url, [ViewRow(user, anime, 4, at)])
    # Counted at 0, 61 (more than an hour after 0) and 125 (after 61); not 30, 59, 90.
    assert await counts(database_url, anime) == (3, 3)


async def test_old_views_count_in_the_total_but_not_in_the_last_7_days(
    database: Database, database_url: str
) -> None:
    anime = uuid.uuid4()
    days_ago = (0, 1, 6, 7, 30)
    await record(
        database_url,
        [ViewRow(uuid.uuid4(), anime, None, NOW - datetime.timedelta(days=n)) for n in days_ago],
    )
    assert await counts(database_url, anime) == (5, 3)


async def test_one_batch_with_repeats_and_many_anime(database: Database, database_url: str) -> None:
    """What a worker hands over at once: repeats of one key and many anime in one statement."""
    user = uuid.uuid4()
    animes = [uuid.uuid4() for _ in range(50)]
    rows = [ViewRow(user, anime, 1, NOW) for anime in animes]
    rows += [ViewRow(user, animes[0], 1, NOW - datetime.timedelta(seconds=5))]
    rows += [ViewRow(user, animes[0], 2, NOW - datetime.timedelta(seconds=1))]
    await record(database_url, rows)
    assert await counts(database_url, animes[0]) == (2, 2)
    assert await counts(database_url, animes[49]) == (1, 1)
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        recent, total = await view_repository.recent_views(
            connection=connection, user_id=user, limit=100, offset=0
        )
    finally:
        await connection.close()
    assert total == 50
    first = next(row for row in recent if row.anime_id == animes[0])
    assert (first.episode, first.viewed_at) == (1, NOW)  # the newest of its views
