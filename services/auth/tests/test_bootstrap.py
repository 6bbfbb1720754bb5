"""The first admin: the create-user CLI and the FIRST_ADMIN_* settings."""

from __future__ import annotations

import pytest

from anime_auth.app import create_app
from anime_auth.cli import main
from anime_devstack.asgi import serve_asgi

from .conftest import PASSWORD, MakeSettings, execute, login

pytestmark = pytest.mark.anyio


async def test_create_user_cli_makes_an_admin(
    make_settings: MakeSettings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in {"ARGON2_MEMORY_KIB": "19456", "ARGON2_TIME_COST": "2"}.items():
        monkeypatch.setenv(name, value)
    argv = ["create-user", "--role", "admin", "--email", "Root@Example.com", "--password"]
    # The CLI runs its own event loop, so it runs in a worker thread here.
    import anyio

    assert await anyio.to_thread.run_sync(main, [*argv, PASSWORD]) == 0
    assert "created admin root@example.com" in capsys.readouterr().out
    assert await anyio.to_thread.run_sync(main, [*argv, PASSWORD]) == 1
    assert "already registered" in capsys.readouterr().err
    assert await anyio.to_thread.run_sync(main, [*argv, "short"]) == 1
    monkeypatch.setenv("DB_STARTUP_TIMEOUT", "not a number")
    assert await anyio.to_thread.run_sync(main, [*argv, PASSWORD]) == 2
    monkeypatch.delenv("DB_STARTUP_TIMEOUT")

    app = create_app(make_settings())
    async with serve_asgi(app) as client:
        tokens = (await login(client, "root@example.com")).json()
        users = await client.get(
            "/users", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
    assert users.status_code == 200
    assert [user["role"] for user in users.json()] == ["admin"]


async def test_first_admin_settings_create_one_admin_once(make_settings: MakeSettings) -> None:
    settings = make_settings(FIRST_ADMIN_EMAIL="Chief@Example.com", FIRST_ADMIN_PASSWORD=PASSWORD)
    app = create_app(settings)
    async with serve_asgi(app) as client:
        me = await login(client, "chief@example.com")
        assert me.status_code == 200
    # A restart (or a second instance) finds an admin and creates nothing.
    again = create_app(
        make_settings(FIRST_ADMIN_EMAIL="other@example.com", FIRST_ADMIN_PASSWORD=PASSWORD)
    )
    async with serve_asgi(again):
        rows = await execute(again, "SELECT email, role FROM auth.users")
    assert rows == [("chief@example.com", "admin")]
