"""Media's own settings: defaults, and the combinations refused at start-up."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from anime_common import Database, SettingsError, TokenVerifier, create_engine, load_settings
from anime_media.settings import MediaSettings
from anime_media.state import MediaState


@pytest.fixture
def env(service_env: Callable[[str], None]) -> None:
    # Settings only: nothing connects to this database.
    service_env("postgresql+asyncpg://anime@127.0.0.1:9/unused")


@pytest.mark.usefixtures("env")
def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MEDIA_ROOT", "AUTH_SERVICE_URL", "AVATAR_MAX_BYTES"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(MediaSettings)
    assert settings.AVATAR_MAX_BYTES == 5 * 1024 * 1024
    assert settings.AUTH_SERVICE_URL == "http://127.0.0.1:8001"
    assert settings.avatars_dir == settings.MEDIA_ROOT.absolute() / "avatars"


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"AVATAR_SIZE": 64, "AVATAR_THUMBNAIL_SIZE": 128}, "AVATAR_THUMBNAIL_SIZE"),
        ({"AUTH_SERVICE_URL": ""}, "AUTH_SERVICE_URL"),
        ({"AVATAR_MAX_BYTES": 10}, "AVATAR_MAX_BYTES"),
    ],
)
def test_refused_combinations_name_the_variable(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(MediaSettings, **overrides)


@pytest.mark.anyio
@pytest.mark.usefixtures("env")
async def test_the_state_needs_the_app_running() -> None:
    settings = load_settings(MediaSettings)
    database = Database(create_engine(settings, application_name="test"))
    async with httpx.AsyncClient() as http:
        kit = MediaState(settings, database=database, http=http, verifier=TokenVerifier(settings))
        with pytest.raises(RuntimeError, match="not started"):
            await kit.run(len, "x")
        with pytest.raises(RuntimeError, match="not started"):
            _ = kit.uploads
        kit.stop()  # stopping what never started is harmless
    await database.dispose()
