"""`python -m anime_catalog seed-demo | generate`, and the app's importer wiring."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from anime_catalog import cli
from anime_catalog.app import create_app
from anime_catalog.proxy_client import ProxyImporter
from anime_catalog.settings import CatalogSettings
from anime_catalog.state import CatalogState
from anime_common import asyncpg_dsn, load_settings, service_state
from anime_devstack.asgi import serve_asgi

from .conftest import SECRET_KEY

pytestmark = pytest.mark.anyio


async def _count(database_url: str, sql: str) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return int(await connection.fetchval(sql))
    finally:
        await connection.close()


@pytest.fixture
def plain_database_url(create_database: Callable[[str], Awaitable[str]]) -> str:
    """A fresh database for a synchronous test (the CLI runs its own event loop)."""
    return asyncio.run(create_database("cli"))


def test_seed_demo_fills_an_empty_catalog_once(
    plain_database_url: str, service_env: Callable[[str], None], capsys: pytest.CaptureFixture[str]
) -> None:
    service_env(plain_database_url)
    cli.main(["seed-demo"])
    assert "demo: added 66 anime" in capsys.readouterr().out
    cli.main(["seed-demo"])
    assert "not empty" in capsys.readouterr().out


async def test_counts_after_seed_and_generate(
    database_url: str, service_env: Callable[[str], None]
) -> None:
    service_env(database_url)
    engine = cli._engine()
    try:
        assert await cli.seed_demo(engine) == 66
        assert await cli.generate(engine, titles=30, seed=3) == 30
        assert await cli.generate(engine, titles=20, seed=3) == 20
    finally:
        await engine.dispose()
    assert await _count(database_url, "SELECT count(*) FROM catalog.anime") == 116
    synthetic = "SELECT count(DISTINCT slug) FROM catalog.anime WHERE slug LIKE 'synthetic-%'"
    assert await _count(database_url, synthetic) == 50
    assert await _count(database_url, "SELECT count(*) FROM catalog.anime_title") > 116 * 3
    assert await _count(database_url, "SELECT count(*) FROM catalog.release") > 116


def test_generate_command(
    plain_database_url: str,
    service_env: Callable[[str], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    service_env(plain_database_url)
    cli.main(["generate", "--titles", "5"])
    assert "generate: added 5 synthetic anime" in capsys.readouterr().out


def test_bad_settings_exit_with_a_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DB_HOST", raising=False)
    with pytest.raises(SystemExit) as exited:
        cli.main(["seed-demo"])
    assert exited.value.code == 2
    assert "DATABASE_URL" in capsys.readouterr().err


async def test_proxy_url_wires_the_proxy_importer(database_url: str) -> None:
    settings = load_settings(
        CatalogSettings,
        DATABASE_URL=database_url,
        SECRET_KEY=SECRET_KEY,
        PROXY_SERVICE_URL="http://127.0.0.1:9",
    )
    app = create_app(settings)
    async with serve_asgi(app):
        assert isinstance(service_state(app, CatalogState).importer, ProxyImporter)
