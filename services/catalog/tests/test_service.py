from __future__ import annotations

from collections.abc import Callable

import pytest

from anime_catalog.app import create_app
from anime_catalog.settings import CatalogSettings
from anime_common import load_settings
from anime_devstack.asgi import assert_service_boots

pytestmark = pytest.mark.anyio


async def test_boots_on_an_empty_database(
    empty_database_url: str, service_env: Callable[[str], None]
) -> None:
    service_env(empty_database_url)
    app = create_app(load_settings(CatalogSettings))
    await assert_service_boots(app, service="catalog", database_url=empty_database_url)
