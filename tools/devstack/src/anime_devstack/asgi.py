"""Talk to an ASGI app in-process, its lifespan (start-up migrations included) running."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
from starlette.applications import Starlette


@asynccontextmanager
async def serve_asgi(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def alembic_version_schemas(database_url: str) -> list[str]:
    """The schemas holding an Alembic version table: one per service that migrated."""
    connection = await asyncpg.connect(
        database_url.replace("postgresql+asyncpg://", "postgresql://")
    )
    try:
        rows = await connection.fetch(
            "SELECT table_schema FROM information_schema.tables"
            " WHERE table_name = 'alembic_version' ORDER BY table_schema"
        )
    finally:
        await connection.close()
    return [row["table_schema"] for row in rows]


async def assert_service_boots(app: Starlette, *, service: str, database_url: str) -> None:
    """A service starts on an empty database, migrates its own schema only, and is healthy."""
    async with serve_asgi(app) as client:
        health = await client.get("/health")
        openapi = await client.get("/openapi.json")
    assert health.status_code == 200, health.text
    assert health.json() == {"status": "ok", "service": service, "database": "ok"}
    assert "/health" in openapi.json()["paths"]
    assert await alembic_version_schemas(database_url) == [service]
