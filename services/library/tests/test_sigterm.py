"""SIGTERM to a real `python -m anime_library` process: queued changes land before it exits."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid

import asyncpg
import httpx
import pytest

from anime_devstack.ports import free_port

from .conftest import SECRET_KEY, Catalog, user_token

pytestmark = pytest.mark.anyio


async def test_sigterm_commits_every_queued_job_before_exit(
    catalog: Catalog, database_url: str
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET_KEY,
        "CATALOG_SERVICE_URL": catalog.url,
        "PORT": str(port),
        "JOB_WORKERS": "2",
        "JOB_DRAIN_SECONDS": "20",
        "SHUTDOWN_GRACE_SECONDS": "5",
    }
    env.pop("AUTH_SERVICE_URL", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "anime_library", env=env, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    plain = database_url.replace("postgresql+asyncpg://", "postgresql://")
    lock: asyncpg.Connection | None = None
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(300):
                try:
                    if (await client.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                pytest.fail("the library did not start")
            # Keep the jobs queued: their table is locked until after SIGTERM.
            lock = await asyncpg.connect(plain)
            await lock.execute("BEGIN; LOCK TABLE library.watch_progress IN ACCESS EXCLUSIVE MODE")
            user = user_token(uuid.uuid4())
            for episode in range(1, 29):
                response = await client.post(
                    "/watch/progress",
                    json={"anime_id": "frieren-18542", "episode": episode, "progress_percent": 42},
                    headers=user,
                )
                assert response.status_code == 202, response.text
        process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        assert process.returncode is None  # still draining, behind the lock
        await lock.close()
        lock = None
        # uvicorn re-raises the signal once it has shut down cleanly.
        assert await asyncio.wait_for(process.wait(), timeout=30) in (0, -signal.SIGTERM)
        assert process.stderr is not None
        logs = (await process.stderr.read()).decode()
        assert "job runner stopped: 28 committed, 0 not drained" in logs
    finally:
        if lock is not None:
            await lock.close()
        if process.returncode is None:
            process.kill()
            await process.wait()
    connection = await asyncpg.connect(plain)
    try:
        stored = await connection.fetchval("SELECT count(*) FROM library.watch_progress")
    finally:
        await connection.close()
    assert stored == 28
