"""Failed logins: counted per account and per address, 429 with Retry-After, backoff, reset."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from anime_auth.app import create_app
from anime_devstack.asgi import serve_asgi
from anime_devstack.assertions import assert_envelope

from .conftest import MakeSettings, execute, login, register

pytestmark = pytest.mark.anyio


async def _unlock(app: Starlette) -> None:
    await execute(app, "UPDATE auth.login_throttles SET locked_until = now()")


async def test_429_with_retry_after_past_the_account_limit(
    make_settings: MakeSettings,
) -> None:
    app = create_app(make_settings(LOGIN_MAX_FAILURES_PER_ACCOUNT=3))
    async with serve_asgi(app) as client:
        await register(client)
        for _ in range(3):
            assert (await login(client, password="wrong password")).status_code == 401
        limited = await login(client)  # even the right password waits out the lock
        assert_envelope(limited, 429, "RATE_LIMITED")
        assert int(limited.headers["retry-after"]) == 2
        # The username reaches the same counter as the email.
        by_name = await client.post(
            "/auth/login", json={"username": "viewer", "password": "wrong password"}
        )
        assert by_name.status_code == 429

        # Backoff doubles with each failure past the limit instead of locking for good.
        await _unlock(app)
        assert (await login(client, password="wrong password")).status_code == 401
        assert int((await login(client)).headers["retry-after"]) == 4

        # A success resets the account's counter.
        await _unlock(app)
        assert (await login(client)).status_code == 200
        assert (await login(client, password="wrong password")).status_code == 401
        assert (await login(client)).status_code == 200


async def test_unknown_accounts_lock_like_known_ones(make_settings: MakeSettings) -> None:
    async with serve_asgi(create_app(make_settings(LOGIN_MAX_FAILURES_PER_ACCOUNT=2))) as client:
        for _ in range(2):
            assert (await login(client, "ghost@example.com")).status_code == 401
        assert (await login(client, "ghost@example.com")).status_code == 429


async def test_per_address_limit_covers_many_accounts(make_settings: MakeSettings) -> None:
    app = create_app(make_settings(LOGIN_MAX_FAILURES_PER_ADDRESS=4))
    async with serve_asgi(app) as client:
        await register(client)
        for number in range(4):
            assert (await login(client, f"user{number}@example.com")).status_code == 401
        response = await login(client)
        assert response.status_code == 429
        assert "retry-after" in response.headers


async def test_old_failures_are_forgiven_after_the_window(make_settings: MakeSettings) -> None:
    app = create_app(make_settings(LOGIN_MAX_FAILURES_PER_ACCOUNT=2))
    async with serve_asgi(app) as client:
        await register(client)
        assert (await login(client, password="wrong password")).status_code == 401
        await execute(
            app, "UPDATE auth.login_throttles SET last_failure_at = now() - interval '1 hour'"
        )
        assert (await login(client, password="wrong password")).status_code == 401
        assert (await login(client)).status_code == 200
