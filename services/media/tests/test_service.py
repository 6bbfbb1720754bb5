from __future__ import annotations

from collections.abc import Callable

import pytest

from anime_common import load_settings
from anime_devstack.asgi import alembic_version_schemas, serve_asgi
from anime_media.app import create_app
from anime_media.settings import MediaSettings

pytestmark = pytest.mark.anyio


async def test_starts_on_an_empty_database_and_owns_its_schema(
    database_url: str, service_env: Callable[[str], None]
) -> None:
    service_env(database_url)
    async with serve_asgi(create_app(load_settings(MediaSettings))) as client:
        health = await client.get("/health")
        openapi = await client.get("/openapi.json")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "service": "media", "database": "ok"}
    assert "/health" in openapi.json()["paths"]

    assert await alembic_version_schemas(database_url) == ["media"]
