"""Real library processes: SIGTERM, kill -9, and two of them on one database (issue 19)."""

from __future__ import annotations

import asyncio
import signal
import uuid
from typing import Any

import httpx
import pytest

from .conftest import Catalog, count, user_token
from .processes import library_process, table_lock, wait_for_count

pytestmark = pytest.mark.anyio

PROGRESS_ROWS = "SELECT count(*) FROM library.watch_progress"


def progress(episode: int, position: float = 60) -> dict[str, Any]:
    return {"anime_id": "frieren-18542", "episode": episode, "position_seconds": position}


async def test_sigterm_finishes_the_batch_in_hand_and_leaves_the_queue(
    catalog: Catalog, database_url: str
) -> None:
    settings = {"JOB_WORKERS": 1, "JOB_BATCH_SIZE": 1, "SHUTDOWN_GRACE_SECONDS": 5}
    async with library_process(
        database_url=database_url, catalog_url=catalog.url, **settings
    ) as library:
        user = user_token(uuid.uuid4())
        async with httpx.AsyncClient(base_url=library.url, timeout=10) as client:
            # The first job's batch waits behind the lock; the rest stay queued.
            async with table_lock(database_url, "watch_progress") as lock:
                for episode in range(1, 29):
                    response = await client.post(
                        "/watch/progress", json=progress(episode), headers=user
                    )
                    assert response.status_code == 202, response.text
                library.process.send_signal(signal.SIGTERM)
                await asyncio.sleep(0.5)
                assert library.process.returncode is None  # finishing its batch, behind the lock
                await lock.close()
            # uvicorn re-raises the signal once it has shut down cleanly.
            assert await asyncio.wait_for(library.process.wait(), timeout=30) in (
                0,
                -signal.SIGTERM,
            )
        logs = library.logs()
    assert "job runner stopped: 1 committed, 0 of its batches queued again" in logs
    assert await count(database_url, PROGRESS_ROWS) == 1
    # Nothing drained in a hurry, nothing lost: the next process finishes the queue.
    queued = "SELECT count(*) FROM library.jobs WHERE status = 'queued'"
    assert await count(database_url, queued) == 27
    async with library_process(database_url=database_url, catalog_url=catalog.url):
        assert await wait_for_count(database_url, PROGRESS_ROWS, 28, within=20) == 28


async def test_kill_9_loses_no_accepted_write(catalog: Catalog, database_url: str) -> None:
    users = [user_token(uuid.uuid4()) for _ in range(36)]
    writes = [(user, episode) for user in users for episode in range(1, 29)][:1000]
    settings = {"JOB_WORKERS": 2, "JOB_LEASE_SECONDS": 2}
    async with (
        library_process(database_url=database_url, catalog_url=catalog.url, **settings) as doomed,
        table_lock(database_url, "watch_progress"),
        httpx.AsyncClient(base_url=doomed.url, timeout=30) as client,
    ):
        # Workers claim batches and wait behind the lock; the rest queue up.
        for start in range(0, len(writes), 50):
            answers = await asyncio.gather(
                *(
                    client.post("/watch/progress", json=progress(episode), headers=user)
                    for user, episode in writes[start : start + 50]
                )
            )
            assert [answer.status_code for answer in answers] == [202] * len(answers)
        doomed.process.kill()
        await doomed.process.wait()
    assert await count(database_url, PROGRESS_ROWS) == 0
    async with library_process(database_url=database_url, catalog_url=catalog.url):
        # The dead process's leases run out; its batches and its queue run here.
        stored = await wait_for_count(database_url, PROGRESS_ROWS, 1000, within=60)
    assert stored == 1000
    failed = "SELECT count(*) FROM library.jobs WHERE status <> 'succeeded'"
    assert await count(database_url, failed) == 0


async def test_two_processes_on_one_database_share_keys_and_jobs(
    catalog: Catalog, database_url: str
) -> None:
    async with (
        library_process(database_url=database_url, catalog_url=catalog.url) as first,
        library_process(database_url=database_url, catalog_url=catalog.url) as second,
        httpx.AsyncClient(base_url=first.url, timeout=10) as one,
        httpx.AsyncClient(base_url=second.url, timeout=10) as other,
    ):
        body = {"anime_id": str(catalog.anime["frieren"])}
        for client in (one, other):  # both know the anime: the two requests race evenly
            warm = await client.post("/favorites", json=body, headers=user_token(uuid.uuid4()))
            assert warm.status_code == 202
        for _ in range(5):
            user = user_token(uuid.uuid4())
            # The same favorite, to both at once (its job held open by the lock, so
            # the two surely overlap): one job, one row, one favorite id.
            async with table_lock(database_url, "favorites"):
                answers = await asyncio.gather(
                    one.post("/favorites", json=body, headers=user),
                    other.post("/favorites", json=body, headers=user),
                )
            assert [answer.status_code for answer in answers] == [202, 202]
            left, right = (answer.json() for answer in answers)
            assert left["id"] == right["id"]
            assert left["job"]["id"] == right["job"]["id"]
            # A job taken by one is readable through the other, and only by its owner.
            for client in (one, other):
                seen = await client.get(f"/jobs/{left['job']['id']}", headers=user)
                assert seen.status_code == 200
                assert seen.json()["key"] == left["job"]["key"]
                stranger = await client.get(f"/jobs/{left['job']['id']}", headers=user_token())
                assert stranger.status_code == 404
        favorites = "SELECT count(*) FROM library.favorites"
        assert await wait_for_count(database_url, favorites, 7, within=10) == 7
        jobs = "SELECT count(*) FROM library.jobs WHERE key LIKE 'favorite:add:%'"
        assert await count(database_url, jobs) == 7
