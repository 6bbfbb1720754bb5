"""Sessions, users, RBAC and the internal endpoints."""

from __future__ import annotations

import uuid

import httpx
import pytest
from starlette.applications import Starlette

from anime_common import TokenVerifier, app_context
from anime_devstack.assertions import assert_envelope

from .conftest import PASSWORD, bearer, execute, login, register

pytestmark = pytest.mark.anyio


async def _admin(app: Starlette, client: httpx.AsyncClient) -> dict[str, str]:
    body = await register(client, "boss@example.com")
    await execute(app, "UPDATE auth.users SET role = 'admin' WHERE id = :id", id=body["user"]["id"])
    tokens = (await login(client, "boss@example.com")).json()
    return bearer(tokens["access_token"])


def _service_token(app: Starlette, service: str = "media") -> dict[str, str]:
    verifier: TokenVerifier = app_context(app).verifier
    return bearer(verifier.issue_service_token(service))


async def test_sessions_list_marks_the_current_one(client: httpx.AsyncClient) -> None:
    first = await register(client)
    second = await client.post(
        "/auth/login",
        json={"email": "viewer@example.com", "password": PASSWORD},
        headers={"User-Agent": "test-browser/1.0"},
    )
    response = await client.get("/auth/sessions", headers=bearer(second.json()["access_token"]))
    assert response.status_code == 200
    assert response.headers["x-total-count"] == "2"
    sessions = response.json()
    assert {item["current"] for item in sessions} == {True, False}
    current = next(item for item in sessions if item["current"])
    assert set(current) == {"id", "created_at", "last_used_at", "user_agent", "ip", "current"}
    assert current["user_agent"] == "test-browser/1.0"
    assert current["ip"] == "127.0.0.1"
    assert first["access_token"] != second.json()["access_token"]


async def test_sessions_pages_carry_the_total_even_past_the_end(
    client: httpx.AsyncClient,
) -> None:
    await register(client)
    token = bearer((await login(client)).json()["access_token"])
    first = await client.get("/auth/sessions?limit=1", headers=token)
    assert first.headers["x-total-count"] == "2"
    assert len(first.json()) == 1
    second = await client.get("/auth/sessions?limit=1&offset=1", headers=token)
    assert [item["id"] for item in second.json()] != [item["id"] for item in first.json()]
    beyond = await client.get("/auth/sessions?offset=5", headers=token)
    assert beyond.json() == []
    assert beyond.headers["x-total-count"] == "2"


async def test_delete_own_session_revokes_it_at_once(client: httpx.AsyncClient) -> None:
    first = await register(client)
    second = (await login(client)).json()
    sessions = (await client.get("/auth/sessions", headers=bearer(second["access_token"]))).json()
    other = next(item["id"] for item in sessions if not item["current"])
    response = await client.delete(
        f"/auth/sessions/{other}", headers=bearer(second["access_token"])
    )
    assert response.status_code == 204
    assert (await client.get("/users/me", headers=bearer(first["access_token"]))).status_code == 401
    left = await client.get("/auth/sessions", headers=bearer(second["access_token"]))
    assert [item["current"] for item in left.json()] == [True]


async def test_another_users_or_unknown_session_is_404(client: httpx.AsyncClient) -> None:
    mine = await register(client)
    theirs = await register(client, "them@example.com")
    their_sessions = await client.get("/auth/sessions", headers=bearer(theirs["access_token"]))
    their_id = their_sessions.json()[0]["id"]
    for target in (their_id, str(uuid.uuid4()), "not-a-uuid"):
        response = await client.delete(
            f"/auth/sessions/{target}", headers=bearer(mine["access_token"])
        )
        assert response.status_code == 404
    assert (await client.get("/users/me", headers=bearer(theirs["access_token"]))).is_success


async def test_sessions_need_a_user_token(app: Starlette, client: httpx.AsyncClient) -> None:
    assert (await client.get("/auth/sessions")).status_code == 401
    # A service token is no credential on a public route.
    assert (await client.get("/auth/sessions", headers=_service_token(app))).status_code == 401


async def test_users_me_needs_a_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/users/me")).status_code == 401
    assert (await client.get("/users/me/")).status_code == 401


async def test_user_role_is_403_on_users(client: httpx.AsyncClient) -> None:
    body = await register(client)
    headers = bearer(body["access_token"])
    assert (await client.get("/users", headers=headers)).status_code == 403
    created = await client.post(
        "/users",
        json={"email": "x@example.com", "password": PASSWORD, "role": "admin"},
        headers=headers,
    )
    assert_envelope(created, 403, "PERMISSION_DENIED")


async def test_admin_lists_and_creates_users(app: Starlette, client: httpx.AsyncClient) -> None:
    headers = await _admin(app, client)
    created = await client.post(
        "/users",
        json={"email": "New.Admin@example.com", "password": PASSWORD, "role": "admin"},
        headers=headers,
    )
    assert created.status_code == 201
    user = created.json()
    assert user["role"] == "admin"
    assert user["email"] == "new.admin@example.com"
    assert "admin:users" in user["permissions"]
    assert "write:catalog" in user["permissions"]

    listed = await client.get("/users", params={"limit": 1}, headers=headers)
    assert listed.status_code == 200
    assert listed.headers["x-total-count"] == "2"
    assert 'rel="next"' in listed.headers["link"]
    assert len(listed.json()) == 1
    assert listed.json()[0]["email"] == "boss@example.com"

    assert (await login(client, "new.admin@example.com")).status_code == 200


async def test_admin_create_validation_and_conflicts(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    headers = await _admin(app, client)
    unknown_role = await client.post(
        "/users",
        json={"email": "x@example.com", "password": PASSWORD, "role": "wizard"},
        headers=headers,
    )
    taken = await client.post(
        "/users",
        json={"email": "boss@example.com", "password": PASSWORD, "role": "user"},
        headers=headers,
    )
    assert unknown_role.status_code == 422
    assert unknown_role.json()["details"][0]["field"] == "role"
    assert taken.status_code == 409


async def test_public_profile(client: httpx.AsyncClient) -> None:
    body = await register(client)
    other = await register(client, "other@example.com")
    user_id = other["user"]["id"]
    response = await client.get(f"/users/{user_id}", headers=bearer(body["access_token"]))
    assert response.status_code == 200
    assert response.json() == {
        "id": user_id,
        "username": "other",
        "avatar": None,
        "created_at": other["user"]["created_at"],
    }
    for missing in (str(uuid.uuid4()), "not-a-uuid"):
        answer = await client.get(f"/users/{missing}", headers=bearer(body["access_token"]))
        assert answer.status_code == 404
    assert (await client.get(f"/users/{user_id}")).status_code == 401


async def test_internal_avatar_needs_a_service_token(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    body = await register(client)
    user_id = body["user"]["id"]
    path = f"/internal/users/{user_id}/avatar"
    avatar = {"avatar": "/media/avatars/abc123.webp"}
    as_user = await client.put(path, json=avatar, headers=bearer(body["access_token"]))
    assert as_user.status_code == 403
    assert (await client.put(path, json=avatar)).status_code == 401

    updated = await client.put(path, json=avatar, headers=_service_token(app))
    assert updated.status_code == 200
    assert updated.json()["avatar"] == "/media/avatars/abc123.webp"
    me = await client.get("/users/me", headers=bearer(body["access_token"]))
    assert me.json()["avatar"] == "/media/avatars/abc123.webp"

    cleared = await client.put(path, json={"avatar": None}, headers=_service_token(app))
    assert cleared.json()["avatar"] is None
    outside = await client.put(path, json={"avatar": "/etc/passwd"}, headers=_service_token(app))
    assert outside.status_code == 422
    unknown = await client.put(
        f"/internal/users/{uuid.uuid4()}/avatar", json=avatar, headers=_service_token(app)
    )
    assert unknown.status_code == 404


async def test_revocations_feed(app: Starlette, client: httpx.AsyncClient) -> None:
    body = await register(client)
    assert (await client.get("/internal/revocations")).status_code == 401
    user_headers = bearer(body["access_token"])
    assert (await client.get("/internal/revocations", headers=user_headers)).status_code == 403

    empty = await client.get("/internal/revocations", headers=_service_token(app, "library"))
    assert empty.status_code == 200
    assert empty.json()["revocations"] == []
    cursor = empty.json()["cursor"]

    await client.post("/auth/logout", json={"refresh_token": body["refresh_token"]})
    since = await client.get(
        "/internal/revocations", params={"since": cursor}, headers=_service_token(app)
    )
    [entry] = since.json()["revocations"]
    [(session_id,)] = await execute(app, "SELECT id::text FROM auth.sessions")
    assert entry["session_id"] == session_id

    # Once the session's access tokens are expired, its revocation is no longer published.
    await execute(app, "UPDATE auth.sessions SET access_expires_at = now() - interval '1 hour'")
    later = await client.get("/internal/revocations", headers=_service_token(app))
    assert later.json()["revocations"] == []


async def test_openapi_documents_the_routes(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"/auth/login", "/auth/refresh", "/users/me", "/users/{user_id}"} <= set(paths)
    assert paths["/users"]["get"]["x-permissions"] == ["admin:users"]
