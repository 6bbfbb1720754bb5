from __future__ import annotations

import pytest

from anime_common import load_settings
from anime_devstack.asgi import serve_asgi
from anime_proxy.app import create_app
from anime_proxy.settings import ProxySettings

pytestmark = pytest.mark.anyio


async def test_runs_without_a_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DB_HOST", raising=False)
    monkeypatch.setenv("SECRET_KEY", "p" * 48)
    async with serve_asgi(create_app(load_settings(ProxySettings))) as client:
        health = await client.get("/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "service": "proxy", "database": None}
