"""Access tokens, refresh rotation with its grace period, reuse detection, logout."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import jwt
import pytest
from starlette.applications import Starlette

from anime_auth.app import create_app
from anime_auth.settings import AuthSettings
from anime_common import app_context, key_id
from anime_devstack.asgi import serve_asgi
from anime_devstack.assertions import assert_envelope

from .conftest import MakeSettings, bearer, execute, login, register

pytestmark = pytest.mark.anyio


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/auth/refresh", json={"refresh_token": token})


async def test_access_token_claims(settings: AuthSettings, client: httpx.AsyncClient) -> None:
    body = await register(client)
    token = body["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    assert header["kid"] == key_id(settings.SECRET_KEY.get_secret_value())
    claims = jwt.decode(token, options={"verify_signature": False})
    assert set(claims) == {"sub", "sid", "jti", "iat", "exp", "iss", "aud", "permissions", "typ"}
    assert claims["sub"] == body["user"]["id"]
    assert claims["typ"] == "access"
    assert claims["exp"] - claims["iat"] == 30 * 60
    assert claims["permissions"] == body["user"]["permissions"]
    # The refresh token is opaque: no JWT, at least 256 bits.
    assert body["refresh_token"].count(".") == 0
    assert len(body["refresh_token"]) >= 43


def _forge(settings: AuthSettings, claims: dict[str, Any], **changes: Any) -> str:
    key = settings.SECRET_KEY.get_secret_value()
    payload = {**claims, **changes}
    return jwt.encode(payload, key, algorithm="HS256", headers={"kid": key_id(key)})


async def test_bad_access_tokens_are_401(settings: AuthSettings, client: httpx.AsyncClient) -> None:
    token = (await register(client))["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    head, payload, signature = token.split(".")
    tampered_payload = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(b'"read:content"', b'"write:catalog"')
    ).decode()
    other_key = "o" * 48
    bad = {
        "tampered": f"{head}.{tampered_payload}.{signature}",
        "expired": _forge(settings, claims, exp=int(time.time()) - 60, iat=int(time.time()) - 99),
        "alg none": jwt.encode(claims, None, algorithm="none", headers={"kid": key_id("x")}),  # type: ignore[arg-type]
        "wrong key": jwt.encode(
            claims, other_key, algorithm="HS256", headers={"kid": key_id(other_key)}
        ),
        "wrong key, right kid": jwt.encode(
            claims,
            other_key,
            algorithm="HS256",
            headers={"kid": jwt.get_unverified_header(token)["kid"]},
        ),
        "wrong aud": _forge(settings, claims, aud="someone-else"),
        "wrong typ": _forge(settings, claims, typ="refresh"),
    }
    for reason, forged in bad.items():
        response = await client.get("/users/me", headers=bearer(forged))
        assert response.status_code == 401, reason
        assert response.json()["code"] == "AUTH_ERROR"
    assert (await client.get("/users/me", headers=bearer(token))).status_code == 200


async def test_refresh_rotates_and_the_old_token_stops_working(
    client: httpx.AsyncClient, make_settings: MakeSettings
) -> None:
    first = await register(client)
    second = await _refresh(client, first["refresh_token"])
    assert second.status_code == 200
    tokens = second.json()
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert tokens["refresh_token"] != first["refresh_token"]
    third = await _refresh(client, tokens["refresh_token"])
    assert third.status_code == 200
    assert (await client.get("/users/me", headers=bearer(third.json()["access_token"]))).is_success


async def test_unknown_refresh_token_is_401(client: httpx.AsyncClient) -> None:
    response = await _refresh(client, "nope")
    assert_envelope(response, 401, "AUTH_ERROR")


async def test_retry_within_grace_gets_the_same_pair(client: httpx.AsyncClient) -> None:
    first = await register(client)
    answer = await _refresh(client, first["refresh_token"])
    retry = await _refresh(client, first["refresh_token"])
    assert retry.status_code == 200
    assert retry.json() == answer.json()
    # The successor is still the live token.
    assert (await _refresh(client, answer.json()["refresh_token"])).status_code == 200
    # ... after which the original, even within the grace period, no longer answers.
    assert (await _refresh(client, first["refresh_token"])).status_code == 401


async def test_concurrent_refreshes_give_one_pair(client: httpx.AsyncClient) -> None:
    first = await register(client)
    answers = await asyncio.gather(*(_refresh(client, first["refresh_token"]) for _ in range(5)))
    assert {response.status_code for response in answers} == {200}
    assert len({response.text for response in answers}) == 1
    # Exactly one successor exists; it works, and the session is intact.
    successor = answers[0].json()["refresh_token"]
    assert (await _refresh(client, successor)).status_code == 200


async def test_concurrent_refreshes_without_grace_never_give_two_pairs(
    make_settings: MakeSettings,
) -> None:
    async with serve_asgi(create_app(make_settings(REFRESH_GRACE_SECONDS=0))) as client:
        first = await register(client)
        answers = await asyncio.gather(
            *(_refresh(client, first["refresh_token"]) for _ in range(5))
        )
    successes = [response for response in answers if response.status_code == 200]
    assert len({response.text for response in successes}) <= 1
    assert successes, [response.text for response in answers]


async def test_reuse_after_grace_revokes_the_whole_session(
    make_settings: MakeSettings,
) -> None:
    app = create_app(make_settings(REFRESH_GRACE_SECONDS=0))
    async with serve_asgi(app) as client:
        first = await register(client)
        newest = (await _refresh(client, first["refresh_token"])).json()
        await asyncio.sleep(0.01)
        reused = await _refresh(client, first["refresh_token"])
        assert reused.status_code == 401
        assert "reuse" in reused.json()["message"]
        # The newest refresh token and the newest access token die with the session.
        assert (await _refresh(client, newest["refresh_token"])).status_code == 401
        me = await client.get("/users/me", headers=bearer(newest["access_token"]))
        assert me.status_code == 401
        events = await execute(
            app,
            "SELECT user_id::text FROM auth.security_events WHERE kind = 'refresh_token_reused'",
        )
        assert events == [(first["user"]["id"],)]
        [(reason,)] = await execute(app, "SELECT revoked_reason FROM auth.sessions")
        assert reason == "refresh_token_reuse"


async def test_permissions_are_read_again_at_refresh(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    first = await register(client)
    await execute(
        app,
        "INSERT INTO auth.role_permissions (role, permission) VALUES ('user', 'write:catalog')",
    )
    tokens = (await _refresh(client, first["refresh_token"])).json()
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert "write:catalog" in claims["permissions"]


async def test_idle_and_expired_sessions_refuse_refresh(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    idle = await register(client, "idle@example.com")
    old = await register(client, "old@example.com")
    await execute(
        app,
        "UPDATE auth.sessions SET last_used_at = now() - interval '8 days' WHERE user_id = :id",
        id=idle["user"]["id"],
    )
    await execute(
        app,
        "UPDATE auth.sessions SET expires_at = now() - interval '1 second' WHERE user_id = :id",
        id=old["user"]["id"],
    )
    assert (await _refresh(client, idle["refresh_token"])).status_code == 401
    assert (await _refresh(client, old["refresh_token"])).status_code == 401


async def test_deactivated_user_cannot_refresh(app: Starlette, client: httpx.AsyncClient) -> None:
    body = await register(client)
    await execute(app, "UPDATE auth.users SET is_active = false")
    assert (await _refresh(client, body["refresh_token"])).status_code == 401
    # Not even a retry within the grace period gets a pair: the session has ended.
    assert (await _refresh(client, body["refresh_token"])).status_code == 401
    assert (await client.get("/users/me", headers=bearer(body["access_token"]))).status_code == 401


async def test_logout_with_only_the_refresh_token(client: httpx.AsyncClient) -> None:
    body = await register(client)
    response = await client.post("/auth/logout", json={"refresh_token": body["refresh_token"]})
    assert response.status_code == 204
    assert response.content == b""
    assert (await _refresh(client, body["refresh_token"])).status_code == 401
    assert (await client.get("/users/me", headers=bearer(body["access_token"]))).status_code == 401


async def test_refreshing_after_logout_is_401_without_a_reuse_alarm(
    make_settings: MakeSettings,
) -> None:
    app = create_app(make_settings(REFRESH_GRACE_SECONDS=0))
    async with serve_asgi(app) as client:
        body = await register(client)
        await client.post("/auth/logout", json={"refresh_token": body["refresh_token"]})
        for _ in range(2):
            assert (await _refresh(client, body["refresh_token"])).status_code == 401
        events = await execute(
            app, "SELECT count(*) FROM auth.security_events WHERE kind = 'refresh_token_reused'"
        )
    assert events == [(0,)]


async def test_logout_of_an_unknown_token_or_with_a_stale_bearer_is_204(
    client: httpx.AsyncClient,
) -> None:
    body = await register(client)
    unknown = await client.post("/auth/logout", json={"refresh_token": "never-issued"})
    stale = await client.post(
        "/auth/logout",
        json={"refresh_token": body["refresh_token"]},
        headers=bearer("garbage"),
    )
    assert unknown.status_code == 204
    assert stale.status_code == 204
    assert (await _refresh(client, body["refresh_token"])).status_code == 401


async def test_logout_with_bearer_only_ends_that_session(client: httpx.AsyncClient) -> None:
    body = await register(client)
    other = (await login(client)).json()
    assert (
        await client.post("/auth/logout", headers=bearer(body["access_token"]))
    ).status_code == 204
    assert (await _refresh(client, body["refresh_token"])).status_code == 401
    assert (await _refresh(client, other["refresh_token"])).status_code == 200


async def test_logout_all_ends_every_session(client: httpx.AsyncClient) -> None:
    body = await register(client)
    other = (await login(client)).json()
    bystander = await register(client, "bystander@example.com")
    response = await client.post(
        "/auth/logout", json={"all": True}, headers=bearer(body["access_token"])
    )
    assert response.status_code == 204
    for tokens in (body, other):
        assert (await _refresh(client, tokens["refresh_token"])).status_code == 401
        me = await client.get("/users/me", headers=bearer(tokens["access_token"]))
        assert me.status_code == 401
    assert (await _refresh(client, bystander["refresh_token"])).status_code == 200


async def test_logout_all_needs_a_valid_bearer(client: httpx.AsyncClient) -> None:
    body = await register(client)
    without = await client.post(
        "/auth/logout", json={"all": True, "refresh_token": body["refresh_token"]}
    )
    stale = await client.post("/auth/logout", json={"all": True}, headers=bearer("garbage"))
    assert without.status_code == 401
    assert stale.status_code == 401
    assert (await _refresh(client, body["refresh_token"])).status_code == 200


async def test_rotated_key_keeps_old_tokens_valid(make_settings: MakeSettings) -> None:
    old_key = make_settings().SECRET_KEY.get_secret_value()
    async with serve_asgi(create_app(make_settings())) as client:
        body = await register(client)
    new_key = "n" * 64
    rotated = make_settings(SECRET_KEY=new_key, PREVIOUS_SECRET_KEYS=old_key)
    async with serve_asgi(create_app(rotated)) as client:
        assert (await client.get("/users/me", headers=bearer(body["access_token"]))).is_success
        fresh = (await _refresh(client, body["refresh_token"])).json()
    assert jwt.get_unverified_header(fresh["access_token"])["kid"] == key_id(new_key)


async def test_purge_deletes_only_what_no_longer_matters(
    make_settings: MakeSettings, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from anime_auth.app import purge_once

    app = create_app(make_settings(PURGE_INTERVAL_SECONDS=1))
    async with serve_asgi(app) as client:
        live = await register(client, "live@example.com")
        old = await register(client, "old@example.com")
        fresh_logout = await register(client, "fresh@example.com")
        await login(client, "ghost@example.com")  # a failure counter, fresh
        await client.post("/auth/logout", json={"refresh_token": fresh_logout["refresh_token"]})
        await execute(
            app,
            "UPDATE auth.sessions SET revoked_at = now() - interval '2 days',"
            " access_expires_at = now() - interval '2 days' WHERE user_id = :id",
            id=old["user"]["id"],
        )
        with caplog.at_level(logging.INFO, logger="anime_auth"):
            assert await purge_once(
                database=app_context(app).database, settings=app_context(app).settings
            ) == (
                1,
                0,
            )
            # The background purge (every second) runs too: wait for its report.
            for _ in range(200):
                if "purged 0 ended sessions" in caplog.text:
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the background purge never reported")
        await execute(
            app, "UPDATE auth.login_throttles SET last_failure_at = now() - interval '1 day'"
        )
        assert await purge_once(
            database=app_context(app).database, settings=app_context(app).settings
        ) == (
            0,
            2,
        )  # account + address
        remaining = await execute(app, "SELECT count(*) FROM auth.sessions")
        assert remaining == [(2,)]
        assert (await _refresh(client, live["refresh_token"])).status_code == 200
