from __future__ import annotations

import pytest

from anime_common import CommonSettings, SettingsError, load_settings
from anime_common._settings import normalize_origin

SECRET = "s" * 40
_ALL_VARIABLES = (
    "SECRET_KEY",
    "DATABASE_URL",
    "DB_HOST",
    "DB_PORT",
    "DB_NAME",
    "DB_USER",
    "DB_PASSWORD",
    "ALGORITHM",
    "ALLOWED_ORIGINS",
    "DEBUG",
    "DB_POOL_SIZE",
    "ACCESS_TOKEN_EXPIRE_MINUTES",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ALL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def load(monkeypatch: pytest.MonkeyPatch, **env: str) -> CommonSettings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings(CommonSettings)


def test_database_url_assembled_from_parts_with_escaped_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = load(
        monkeypatch,
        SECRET_KEY=SECRET,
        DB_HOST="db.internal",
        DB_PORT="6543",
        DB_NAME="anime",
        DB_USER="app user",
        DB_PASSWORD="p@ss:w/rd%#?",
    )
    assert settings.database_url == (
        "postgresql+asyncpg://app%20user:p%40ss%3Aw%2Frd%25%23%3F@db.internal:6543/anime"
    )


def test_database_url_wins_over_parts_and_gets_the_async_driver(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = load(
        monkeypatch, SECRET_KEY=SECRET, DATABASE_URL="postgresql://u:p@h:5432/d", DB_HOST="ignored"
    )
    assert settings.database_url == "postgresql+asyncpg://u:p@h:5432/d"


def test_defaults_match_the_design(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(monkeypatch, SECRET_KEY=SECRET, DB_HOST="h")
    assert settings.ACCESS_TOKEN_EXPIRE_MINUTES == 30
    assert settings.REFRESH_TOKEN_EXPIRE_DAYS == 14
    assert settings.ALGORITHM == "HS256"
    assert settings.DEBUG is False
    assert settings.ALLOWED_ORIGINS == ["http://localhost:3000", "http://127.0.0.1:3000"]


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"DB_HOST": "h"}, "SECRET_KEY"),
        ({"SECRET_KEY": SECRET}, "DATABASE_URL"),
        ({"SECRET_KEY": SECRET, "DB_HOST": "h", "ALGORITHM": "none"}, "ALGORITHM"),
        ({"SECRET_KEY": SECRET, "DB_HOST": "h", "ALGORITHM": "RS256"}, "ALGORITHM"),
        ({"SECRET_KEY": SECRET, "DB_HOST": "h", "DB_PORT": "http"}, "DB_PORT"),
        ({"SECRET_KEY": SECRET, "DB_HOST": "h", "DB_POOL_SIZE": "0"}, "DB_POOL_SIZE"),
        ({"SECRET_KEY": SECRET, "DB_HOST": "h", "DEBUG": "maybe"}, "DEBUG"),
        (
            {"SECRET_KEY": SECRET, "DB_HOST": "h", "ALLOWED_ORIGINS": "localhost:3000"},
            "ALLOWED_ORIGINS",
        ),
        ({"SECRET_KEY": SECRET, "DB_HOST": "h", "ALLOWED_ORIGINS": "[not json"}, "ALLOWED_ORIGINS"),
        ({"SECRET_KEY": "changeme", "DB_HOST": "h"}, "SECRET_KEY"),
        ({"SECRET_KEY": "short", "DB_HOST": "h"}, "SECRET_KEY"),
        ({"SECRET_KEY": SECRET, "DATABASE_URL": "mysql://u@h/d"}, "DATABASE_URL"),
    ],
)
def test_a_bad_or_missing_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], variable: str
) -> None:
    with pytest.raises(SettingsError, match=variable):
        load(monkeypatch, **env)


def test_a_secret_never_appears_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError) as caught:
        load(monkeypatch, SECRET_KEY="hunter2-but-short", DB_HOST="h")
    assert "hunter2" not in str(caught.value)


def test_placeholder_secret_allowed_in_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(monkeypatch, SECRET_KEY="changeme", DB_HOST="h", DEBUG="true")
    assert settings.DEBUG is True


@pytest.mark.parametrize(
    "raw",
    [
        '["http://localhost:3000/", "https://anime.example"]',
        "http://localhost:3000/, https://anime.example",
        "http://localhost:3000,https://anime.example/,http://localhost:3000",
    ],
)
def test_allowed_origins_as_json_or_comma_list(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    settings = load(monkeypatch, SECRET_KEY=SECRET, DB_HOST="h", ALLOWED_ORIGINS=raw)
    assert settings.ALLOWED_ORIGINS == ["http://localhost:3000", "https://anime.example"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://localhost:3000/", "http://localhost:3000"),
        (" https://anime.example ", "https://anime.example"),
        ("http://[::1]:3000", "http://[::1]:3000"),
    ],
)
def test_normalize_origin(raw: str, expected: str) -> None:
    assert normalize_origin(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "localhost:3000",
        "ftp://host",
        "http://",
        "http://host/path",
        "http://host:99999",
        "http://u:p@h",
    ],
)
def test_malformed_origin_rejected(raw: str) -> None:
    with pytest.raises(ValueError, match="malformed origin"):
        normalize_origin(raw)


def test_secret_must_match_the_algorithm_strength(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match=r"SECRET_KEY.*64 bytes for HS512"):
        load(monkeypatch, SECRET_KEY="s" * 40, DB_HOST="h", ALGORITHM="hs512")
    assert load(monkeypatch, SECRET_KEY="s" * 64).ALGORITHM == "HS512"
