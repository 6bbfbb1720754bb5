"""PostgreSQL stopped under a steady stream of progress writes, then started again (issue 19).

The cluster is the test's own (a small throwaway one), so stopping it harms
no other test. Every 202 must be in the table afterwards; everything else a 503.
"""

from __future__ import annotations

import asyncio
import random
import uuid

import asyncpg
import httpx
import pytest

from anime_common import asyncpg_dsn
from anime_devstack.ports import free_port
from anime_devstack.postgres import LocalPostgres

from .conftest import Catalog, user_token
from .processes import library_process, wait_for_count

pytestmark = pytest.mark.anyio

STREAMS = 4


async def test_every_accepted_write_lands_across_a_database_outage(
    catalog: Catalog,
) -> None:
    cluster = LocalPostgres(port=free_port())
    await asyncio.to_thread(cluster.start)
    try:
        await asyncio.to_thread(cluster.create_database, "library")
        database_url = cluster.url("library")
        sent: dict[tuple[uuid.UUID, int], int] = {}  # (user, episode) → status
        statuses: list[int] = []
        streaming = asyncio.Event()
        streaming.set()
        async with (
            library_process(
                database_url=database_url,
                catalog_url=catalog.url,
                JOB_SUBMIT_TIMEOUT_SECONDS=2,
                DB_POOL_TIMEOUT=2,
            ) as library,
            httpx.AsyncClient(base_url=library.url, timeout=20) as client,
        ):

            async def stream() -> None:
                while streaming.is_set():
                    user, episode = uuid.uuid4(), random.randint(1, 28)
                    response = await client.post(
                        "/watch/progress",
                        json={"anime_id": "frieren-18542", "episode": episode,
                              "position_seconds": 30},
                        headers=user_token(user),
                    )  # fmt: skip
                    sent[(user, episode)] = response.status_code
                    statuses.append(response.status_code)
                    await asyncio.sleep(0.005)

            streams = [asyncio.create_task(stream()) for _ in range(STREAMS)]
            await asyncio.sleep(1.0)
            await asyncio.to_thread(cluster.stop, cleanup=False)
            down_from = len(statuses)
            await asyncio.sleep(1.5)
            await asyncio.to_thread(cluster.start)
            up_from = len(statuses)
            await asyncio.sleep(1.5)
            streaming.clear()
            await asyncio.gather(*streams)
            accepted = {key for key, status in sent.items() if status == 202}
            # What the process said about an unexpected answer, in the failure's report.
            logs = "\n".join(
                line for line in library.logs().splitlines() if '"level":"ERROR"' in line
            )[:8000]
            # Workers and listener find the database again; every accepted write lands.
            stored = await wait_for_count(
                database_url,
                "SELECT count(*) FROM library.watch_progress",
                len(accepted),
                within=60,
            )
        connection = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            rows = await connection.fetch("SELECT user_id, episode FROM library.watch_progress")
            failed = await connection.fetchval(
                "SELECT count(*) FROM library.jobs WHERE status = 'failed'"
            )
        finally:
            await connection.close()
    finally:
        await asyncio.to_thread(cluster.stop)
    assert set(statuses) <= {202, 503}, logs
    assert 503 in statuses[down_from:up_from]  # the outage was seen, and refused
    assert statuses[down_from:up_from].count(202) < len(statuses[down_from:up_from])
    assert statuses[-1] == 202  # and it came back
    written = {(uuid.UUID(str(row["user_id"])), row["episode"]) for row in rows}
    assert accepted <= written
    assert stored >= len(accepted) > 0
    # Nothing landed that was not sent; a 503 may have landed (its answer was lost).
    assert written <= set(sent)
    assert failed == 0
