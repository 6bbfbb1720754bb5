"""`scripts/admin`: the local stack's settings for one-off commands, and the commands."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest

from anime_devstack import admin
from anime_devstack.config import StackConfig, find_repo_root

ROOT = find_repo_root()
SECRET = "a" * 48


def test_env_prints_the_settings_as_shell_exports(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u:p w@db:5432/anime")
    monkeypatch.setenv("SECRET_KEY", SECRET)
    assert admin.main(["env"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "export DATABASE_URL='postgresql+asyncpg://u:p w@db:5432/anime'",
        f"export SECRET_KEY={SECRET}",
    ]


def test_a_command_without_arguments_refuses_some(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u:p@db:5432/anime")
    monkeypatch.setenv("SECRET_KEY", SECRET)
    with caplog.at_level(logging.ERROR, logger="anime_devstack"):
        assert admin.main(["migrate", "--everything"]) == 1
    assert "migrate takes no arguments: --everything" in caplog.text


@pytest.mark.anyio
async def test_migrate_brings_every_schema_to_head_with_a_line_each(
    create_database: Callable[[str], Awaitable[str]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("DATABASE_URL", await create_database("admin"))
    monkeypatch.setenv("SECRET_KEY", SECRET)
    monkeypatch.chdir(ROOT)
    with caplog.at_level(logging.INFO, logger="anime_devstack"):
        assert await anyio.to_thread.run_sync(admin.main, ["migrate"]) == 0
    migrated = [r.getMessage().split()[1] for r in caplog.records if "migrated" in r.getMessage()]
    assert sorted(migrated) == ["auth", "catalog", "library", "media"]
    # create-user, seed-demo and env run as the README writes them in
    # tests/quality/test_readme_commands.py.


def test_the_local_cluster_is_started_for_a_command_or_found_running(
    reachable_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DATABASE_URL", "DB_HOST"):
        monkeypatch.delenv(name, raising=False)
    env = {"ANIME_PG_DATA": str(reachable_dir / "pg"), "SECRET_KEY": SECRET}
    config = StackConfig.from_env(ROOT, env)
    assert config.pg_dir is not None
    assert admin._running_cluster_url(config.pg_dir) is None
    with admin.local_settings(config) as started:
        url = started["DATABASE_URL"]
        assert started["SECRET_KEY"] == SECRET
        # While it runs (as under scripts/run), a second command finds it.
        with admin.local_settings(config) as found:
            assert found["DATABASE_URL"] == url
    assert admin._running_cluster_url(config.pg_dir) is None
