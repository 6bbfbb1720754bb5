from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from anime_common import load_settings
from anime_devstack.asgi import assert_service_boots, serve_asgi
from anime_media.app import create_app
from anime_media.settings import MediaSettings

pytestmark = pytest.mark.anyio


async def test_boots_on_an_empty_database(
    empty_database_url: str, service_env: Callable[[str], None], tmp_path: Path
) -> None:
    service_env(empty_database_url)
    app = create_app(load_settings(MediaSettings, MEDIA_ROOT=tmp_path))
    await assert_service_boots(app, service="media", database_url=empty_database_url)


async def test_openapi_documents_the_upload_and_the_files(
    empty_database_url: str, service_env: Callable[[str], None], tmp_path: Path
) -> None:
    service_env(empty_database_url)
    settings = load_settings(MediaSettings, MEDIA_ROOT=tmp_path)
    async with serve_asgi(create_app(settings)) as client:
        paths = (await client.get("/openapi.json")).json()["paths"]
    upload = paths["/users/me"]["patch"]
    assert upload["x-permissions"] == ["write:profile"]
    assert {"401", "403", "413", "415", "422", "503"} <= set(upload["responses"])
    assert set(paths["/media/avatars/{name}"]) == {"get"}
