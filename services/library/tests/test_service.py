from __future__ import annotations

from collections.abc import Callable

import pytest

from anime_common import load_settings
from anime_devstack.asgi import assert_service_boots
from anime_library.app import create_app
from anime_library.settings import LibrarySettings

pytestmark = pytest.mark.anyio


async def test_boots_on_an_empty_database(
    database_url: str, service_env: Callable[[str], None]
) -> None:
    service_env(database_url)
    app = create_app(load_settings(LibrarySettings))
    await assert_service_boots(app, service="library", database_url=database_url)
