"""Auth through the gateway: accounts, tokens, rotation, logout, sessions, RBAC, throttling.

Cross-service revocation: no other service has a user-facing protected route
yet, so `test_another_service_refuses_a_logged_out_session` asks the catalog
service directly (its `/internal/...` routes are never routed by the gateway)
with a user's token: 403 (valid token, no `internal` permission) while the
session lives, 401 (revoked) once the catalog's poller has seen the logout.
services/auth/tests/test_revocation.py covers the poller against the auth app.
"""

from __future__ import annotations

import time

import httpx
import pytest

from anime_devstack.assertions import assert_envelope
from anime_devstack.stack import Stack
from anime_e2e.fixtures import PASSWORD, RunningStack, bearer, new_email, register_account

pytestmark = pytest.mark.e2e

# The source address of the test that drains the edge's rate-limit bucket.
LIMITED_ADDRESS = "127.0.0.2"


def test_register_login_me(gateway: httpx.Client) -> None:
    email = new_email()
    registered = register_account(gateway, email)
    assert registered["user"]["email"] == email
    login = gateway.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200
    tokens = login.json()
    assert tokens["token_type"] == "bearer"
    me = gateway.get("/users/me/", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    assert me.json() == registered["user"]

    form = gateway.post(
        "/auth/login",
        data={"username": registered["user"]["username"], "password": PASSWORD},
    )
    assert form.status_code == 200


def test_refresh_rotation_and_grace(gateway: httpx.Client) -> None:
    first = register_account(gateway)
    second = gateway.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    # A retry of a lost answer within the grace period: the very same pair.
    retry = gateway.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert retry.json() == second.json()
    me = gateway.get("/users/me", headers=bearer(second.json()["access_token"]))
    assert me.status_code == 200


def test_logout_refuses_the_session_at_once(gateway: httpx.Client) -> None:
    body = register_account(gateway)
    headers = bearer(body["access_token"])
    assert gateway.get("/users/me", headers=headers).status_code == 200
    logout = gateway.post("/auth/logout", json={"refresh_token": body["refresh_token"]})
    assert logout.status_code == 204
    deadline = time.monotonic() + 5
    while gateway.get("/users/me", headers=headers).status_code != 401:
        assert time.monotonic() < deadline, "access token still accepted 5 s after logout"
        time.sleep(0.2)
    refused = gateway.post("/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert_envelope(refused, 401, "AUTH_ERROR")


def test_another_service_refuses_a_logged_out_session(gateway: httpx.Client) -> None:
    """The library learns of the logout from auth's revocations, through the gateway."""
    body = register_account(gateway)
    headers = bearer(body["access_token"])
    assert gateway.get("/favorites", headers=headers).status_code == 200
    assert gateway.post("/auth/logout", headers=headers).status_code == 204
    logged_out = time.monotonic()
    while (answer := gateway.get("/favorites", headers=headers)).status_code != 401:
        assert answer.status_code == 200, answer.text
        assert time.monotonic() - logged_out < 5, "library accepted the token 5 s on"
        time.sleep(0.1)
    assert answer.json() == {
        "code": "AUTH_ERROR",
        "message": "Token has been revoked",
        "details": None,
    }


def test_sessions_see_the_client_address_not_a_spoofed_header(gateway: httpx.Client) -> None:
    email = new_email()
    register_account(gateway, email)
    login = gateway.post(
        "/auth/login",
        json={"email": email, "password": PASSWORD},
        headers={"X-Forwarded-For": "203.0.113.9", "User-Agent": "e2e-agent"},
    )
    sessions = gateway.get("/auth/sessions", headers=bearer(login.json()["access_token"]))
    assert sessions.status_code == 200
    current = next(item for item in sessions.json() if item["current"])
    assert current["user_agent"] == "e2e-agent"
    assert current["ip"] == "127.0.0.1"

    deleted = gateway.delete(
        f"/auth/sessions/{current['id']}", headers=bearer(login.json()["access_token"])
    )
    assert deleted.status_code == 204


def test_bad_tokens_and_roles(gateway: httpx.Client) -> None:
    body = register_account(gateway)
    assert gateway.get("/users/me", headers=bearer("not.a.jwt")).status_code == 401
    forbidden = gateway.get("/users", headers=bearer(body["access_token"]))
    assert_envelope(forbidden, 403, "PERMISSION_DENIED")
    profile = gateway.get(f"/users/{body['user']['id']}", headers=bearer(body["access_token"]))
    assert set(profile.json()) == {"id", "username", "avatar", "created_at"}
    # /internal is never routed.
    internal = gateway.get("/internal/revocations")
    assert internal.status_code == 404


def test_same_401_for_unknown_user_and_wrong_password(gateway: httpx.Client) -> None:
    email = new_email()
    register_account(gateway, email)
    unknown = gateway.post("/auth/login", json={"email": new_email(), "password": PASSWORD})
    wrong = gateway.post("/auth/login", json={"email": email, "password": "wrong password!"})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()


def test_repeated_failures_get_429_with_retry_after(gateway: httpx.Client) -> None:
    email = new_email()
    register_account(gateway, email)
    statuses = [
        gateway.post("/auth/login", json={"email": email, "password": "wrong password!"})
        for _ in range(6)
    ]
    assert [response.status_code for response in statuses[:5]] == [401] * 5
    limited = statuses[5]
    assert_envelope(limited, 429, "RATE_LIMITED")
    assert int(limited.headers["retry-after"]) >= 1


def test_gateway_rate_limits_auth_posts_per_address(stack: RunningStack) -> None:
    """Traefik's own limit on /auth/login|register|refresh, before auth is even asked.

    The test drains the bucket of an address of its own (127.0.0.2: all of 127/8 is
    loopback), so the other tests, on 127.0.0.1, never meet the limit it provoked.
    """
    if not isinstance(stack, Stack):
        pytest.skip("only the local-process stack sees each client's own address")
    own_address = httpx.HTTPTransport(local_address=LIMITED_ADDRESS)
    with (
        httpx.Client(base_url=stack.gateway_url, timeout=10, transport=own_address) as limited,
        httpx.Client(base_url=stack.gateway_url, timeout=10) as other,
    ):
        answers = []
        for _ in range(200):
            answer = limited.post("/auth/refresh", json={"refresh_token": "not-a-token"})
            answers.append(answer.status_code)
            if answer.status_code == 429:
                break
        assert answers[-1] == 429, answers
        assert set(answers[:-1]) == {401}
        # From the edge (no request id), in the envelope, saying when to retry.
        assert "x-request-id" not in answer.headers
        assert_envelope(answer, 429, "RATE_LIMITED")
        retry_after = int(answer.headers["retry-after"])
        assert retry_after >= 1
        # Other routes are not limited, nor is another address.
        assert limited.get("/users/me").status_code == 401
        assert other.post("/auth/refresh", json={"refresh_token": "x"}).status_code == 401
        # And the limit passes (the bucket refills) by itself.
        deadline = time.monotonic() + 30
        time.sleep(retry_after)
        while limited.post("/auth/refresh", json={"refresh_token": "x"}).status_code == 429:
            assert time.monotonic() < deadline
            time.sleep(0.5)
