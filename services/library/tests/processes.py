"""Real `python -m anime_library` processes for the tests that kill, stop or double them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from anime_common import asyncpg_dsn
from anime_devstack.ports import free_port

from .conftest import SECRET_KEY


@dataclass
class LibraryProcess:
    process: asyncio.subprocess.Process
    url: str
    log: Path

    def logs(self) -> str:
        """Everything it logged so far."""
        return self.log.read_text()


async def wait_healthy(url: str, *, process: asyncio.subprocess.Process) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        for _ in range(300):
            if process.returncode is not None:
                raise AssertionError(f"the library exited with {process.returncode}")
            try:
                if (await client.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the library did not start")


@asynccontextmanager
async def library_process(
    *, database_url: str, catalog_url: str, **settings: Any
) -> AsyncIterator[LibraryProcess]:
    """A library process on its own port; killed at the end if it is still running."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET_KEY,
        "CATALOG_SERVICE_URL": catalog_url,
        "PORT": str(port),
        **{name: str(value) for name, value in settings.items()},
    }
    env.pop("AUTH_SERVICE_URL", None)
    # A file, not a pipe: a pipe nobody reads fills up and stalls the process.
    sink, name = tempfile.mkstemp(prefix="library-", suffix=".log")
    log = Path(name)
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "anime_library", env=env, stdout=asyncio.subprocess.DEVNULL,
            stderr=sink,
        )  # fmt: skip
    finally:
        os.close(sink)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_healthy(url, process=process)
        yield LibraryProcess(process=process, url=url, log=log)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        os.unlink(log)


@asynccontextmanager
async def table_lock(database_url: str, table: str) -> AsyncIterator[asyncpg.Connection]:
    """Hold `table` locked (writes to it wait) until the block ends or the connection closes."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    await connection.execute(f"BEGIN; LOCK TABLE library.{table} IN EXCLUSIVE MODE")
    try:
        yield connection
    finally:
        with contextlib.suppress(asyncpg.InterfaceError):
            await connection.close()


async def wait_for_count(database_url: str, sql: str, expected: int, *, within: float) -> int:
    """Poll a count until it reaches `expected` or `within` seconds pass; the last count."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            value = int(await connection.fetchval(sql))
            if value == expected or loop.time() > deadline:
                return value
            await asyncio.sleep(0.1)
    finally:
        await connection.close()
