from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from anime_common import load_settings
from anime_devstack.asgi import assert_service_boots
from anime_library.app import create_app
from anime_library.settings import LibrarySettings

pytestmark = pytest.mark.anyio


async def test_boots_on_an_empty_database(
    empty_database_url: str, service_env: Callable[[str], None]
) -> None:
    service_env(empty_database_url)
    app = create_app(load_settings(LibrarySettings))
    await assert_service_boots(app, service="library", database_url=empty_database_url)


async def test_openapi_covers_every_route(library: httpx.AsyncClient) -> None:
    document = (await library.get("/openapi.json")).json()
    paths = document["paths"]
    for path, method in (
        ("/collections", "post"),
        ("/collections/{id}", "patch"),
        ("/collections/{id}/items/{anime_id}", "delete"),
        ("/views", "post"),
        ("/views/stats", "get"),
        ("/favorites", "post"),
    ):
        assert method in paths[path], (path, method)
    # The public counts need no token; the rest do.
    assert "security" not in paths["/views/stats"]["get"]
    assert paths["/views"]["get"]["security"]
    created = paths["/collections"]["post"]["responses"]["201"]
    assert created["content"]["application/json"]["schema"]["$ref"].endswith("CollectionDetailOut")
