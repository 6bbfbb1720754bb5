from __future__ import annotations

from collections.abc import Callable

import pytest

from anime_common import load_settings
from anime_devstack.asgi import assert_service_boots
from anime_media.app import create_app
from anime_media.settings import MediaSettings

pytestmark = pytest.mark.anyio


async def test_boots_on_an_empty_database(
    database_url: str, service_env: Callable[[str], None]
) -> None:
    service_env(database_url)
    app = create_app(load_settings(MediaSettings))
    await assert_service_boots(app, service="media", database_url=database_url)
