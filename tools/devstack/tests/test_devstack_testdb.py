"""Where tests get their PostgreSQL from."""

from __future__ import annotations

import pytest

from anime_devstack import testdb
from anime_devstack.testdb import admin_database_url, asyncpg_url

from .helpers import execute, fetchval


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h:5432/d", "postgresql+asyncpg://u:p@h:5432/d"),
        ("postgresql://u:p@h/d", "postgresql+asyncpg://u:p@h/d"),
        ("postgresql+psycopg2://u:p@h/d", "postgresql+asyncpg://u:p@h/d"),
        ("postgresql+asyncpg://u:p@h/d", "postgresql+asyncpg://u:p@h/d"),
    ],
)
def test_urls_get_the_asyncpg_driver(given: str, expected: str) -> None:
    assert asyncpg_url(given) == expected


def test_database_url_from_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://ci:secret@db:5432/postgres")
    monkeypatch.setattr(testdb, "docker_available", pytest.fail)
    with admin_database_url() as url:
        assert url == "postgresql+asyncpg://ci:secret@db:5432/postgres"


def test_without_docker_a_throwaway_cluster_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setattr(testdb, "docker_available", lambda: False)
    with admin_database_url() as url:
        assert url.startswith("postgresql+asyncpg://anime:")
        plain = url.replace("+asyncpg", "", 1)
        execute(plain, "CREATE DATABASE made_by_a_test")
        assert fetchval(plain.rsplit("/", 1)[0] + "/made_by_a_test", "SELECT 1") == 1
