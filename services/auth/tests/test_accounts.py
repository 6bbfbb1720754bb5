"""Registration, login (JSON and OAuth2 form), password hashing rules."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from anime_auth.app import create_app
from anime_auth.passwords import PasswordHasher
from anime_auth.settings import AuthSettings
from anime_devstack.asgi import serve_asgi
from anime_devstack.assertions import assert_envelope

from .conftest import PASSWORD, MakeSettings, bearer, execute, login, register

pytestmark = pytest.mark.anyio

USER_FIELDS = {
    "id",
    "email",
    "username",
    "avatar",
    "is_active",
    "role",
    "permissions",
    "created_at",
}
USER_PERMISSIONS = ["read:content", "read:profile", "write:content", "write:profile"]


async def test_register_answers_tokens_and_the_user(client: httpx.AsyncClient) -> None:
    body = await register(client, "Mixed.Case@Example.COM")
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "user"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 30 * 60
    user = body["user"]
    assert set(user) == USER_FIELDS
    assert user["email"] == "mixed.case@example.com"
    assert user["username"] == "mixed.case"  # derived from the normalized email
    assert user["avatar"] is None
    assert user["is_active"] is True
    assert user["role"] == "user"
    assert user["permissions"] == USER_PERMISSIONS
    me = await client.get("/users/me", headers=bearer(body["access_token"]))
    assert me.json() == user


async def test_derived_usernames_are_made_valid_and_unique(client: httpx.AsyncClient) -> None:
    first = (await register(client, "jo+anime@example.com"))["user"]["username"]
    second = (await register(client, "JO+anime@other.example"))["user"]["username"]
    third = (await register(client, "x@example.org"))["user"]["username"]
    assert first == "joanime"
    assert second.startswith("joanime-")
    assert second != first
    assert third == "x__"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "a@example.com", "password": "short"}, "password"),
        ({"email": "a@example.com", "password": "p" * 129}, "password"),
        ({"email": "a@example.com", "password": PASSWORD, "username": "ab"}, "username"),
        ({"email": "a@example.com", "password": PASSWORD, "username": "bad name"}, "username"),
        ({"email": "a@example.com", "password": PASSWORD, "username": "u" * 33}, "username"),
        ({"password": PASSWORD}, "email"),
    ],
)
async def test_register_validation(
    client: httpx.AsyncClient, payload: dict[str, Any], field: str
) -> None:
    response = await client.post("/auth/register", json=payload)
    assert_envelope(response, 422, "VALIDATION_ERROR")
    assert field in [item["field"] for item in response.json()["details"]]


async def test_taken_email_or_username_is_409(client: httpx.AsyncClient) -> None:
    await register(client, "taken@example.com", username="Taken_1")
    again = await client.post(
        "/auth/register", json={"email": "TAKEN@example.com", "password": PASSWORD}
    )
    same_name = await client.post(
        "/auth/register",
        json={"email": "other@example.com", "password": PASSWORD, "username": "taken_1"},
    )
    assert_envelope(again, 409, "CONFLICT_ERROR")
    assert same_name.status_code == 409


async def test_login_by_email_username_and_oauth2_form(client: httpx.AsyncClient) -> None:
    await register(client, "fan@example.com", username="TheFan")
    by_email = await login(client, "FAN@example.com")
    by_name = await client.post("/auth/login", json={"username": "thefan", "password": PASSWORD})
    by_form = await client.post(
        "/auth/login", data={"grant_type": "password", "username": "TheFan", "password": PASSWORD}
    )
    form_email = await client.post(
        "/auth/login", data={"username": "fan@example.com", "password": PASSWORD}
    )
    for response in (by_email, by_name, by_form, form_email):
        assert response.status_code == 200, response.text
        assert set(response.json()) == {"access_token", "refresh_token", "token_type", "expires_in"}
    me = await client.get("/users/me", headers=bearer(by_form.json()["access_token"]))
    assert me.json()["username"] == "TheFan"


@pytest.mark.parametrize(
    ("send", "field"),
    [
        ({"json": {"email": "\u0000", "password": "x"}}, "email"),
        ({"json": {"email": "fan@example.com", "password": "a\u0000b"}}, "password"),
        ({"data": {"username": "fan\x00", "password": "x"}}, "username"),
        ({"json": {"email": "a\u0000@example.com", "password": PASSWORD}}, "email"),
    ],
)
async def test_a_nul_in_credentials_is_a_422(
    client: httpx.AsyncClient, send: dict[str, Any], field: str
) -> None:
    path = "/auth/register" if field == "email" and "@" in str(send) else "/auth/login"
    response = await client.post(path, **send)
    assert response.status_code == 422, response.text
    assert response.json()["details"][0]["field"] == field


async def test_unknown_user_wrong_password_and_inactive_are_one_401(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    user = (await register(client, "inactive@example.com"))["user"]
    await register(client, "active@example.com")
    await execute(app, "UPDATE auth.users SET is_active = false WHERE id = :id", id=user["id"])
    answers = [
        await login(client, "nobody@example.com"),
        await login(client, "active@example.com", "wrong password"),
        await login(client, "inactive@example.com"),
        await client.post("/auth/login", json={"password": PASSWORD}),
    ]
    for response in answers:
        assert response.status_code == 401
        assert response.json() == {
            "code": "AUTH_ERROR",
            "message": "Invalid credentials",
            "details": None,
        }


async def test_unknown_user_costs_a_hash_like_a_wrong_password(
    settings: AuthSettings, client: httpx.AsyncClient
) -> None:
    await register(client, "timed@example.com")
    hasher = PasswordHasher(settings)

    async def timed_hash() -> float:
        started = time.perf_counter()
        await hasher.hash(PASSWORD)
        return time.perf_counter() - started

    # Fastest of three on both sides, so a busy machine does not make this flaky.
    one_hash = min([await timed_hash() for _ in range(3)])

    async def timed(email: str) -> float:
        started = time.perf_counter()
        assert (await login(client, email, "wrong password")).status_code == 401
        return time.perf_counter() - started

    unknown = min([await timed("nobody@example.com") for _ in range(3)])
    wrong = min([await timed("timed@example.com") for _ in range(3)])
    assert unknown >= one_hash * 0.5
    assert wrong >= one_hash * 0.5


async def test_passwords_over_128_characters_are_refused_before_hashing(
    client: httpx.AsyncClient,
) -> None:
    response = await login(client, "someone@example.com", "p" * 129)
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "password"


async def test_login_body_must_be_json_or_a_form(client: httpx.AsyncClient) -> None:
    assert (await client.post("/auth/login", content=b"{oops")).status_code == 400


async def test_hash_is_upgraded_on_login_when_parameters_change(
    make_settings: MakeSettings, database_url: str
) -> None:
    app = create_app(make_settings())
    async with serve_asgi(app) as client:
        user = (await register(client))["user"]
        [(old_hash,)] = await execute(
            app, "SELECT password_hash FROM auth.users WHERE id = :id", id=user["id"]
        )
    assert "t=2" in old_hash

    stronger = create_app(make_settings(ARGON2_TIME_COST=3))
    async with serve_asgi(stronger) as client:
        assert (await login(client)).status_code == 200
        [(new_hash,)] = await execute(
            stronger, "SELECT password_hash FROM auth.users WHERE id = :id", id=user["id"]
        )
        assert "t=3" in new_hash
        assert new_hash.startswith("$argon2id$")
        assert (await login(client)).status_code == 200


async def test_production_defaults_meet_owasp(make_settings: MakeSettings) -> None:
    defaults = AuthSettings(SECRET_KEY="k" * 48, DB_HOST="db")
    assert defaults.ARGON2_MEMORY_KIB >= 19456
    assert defaults.ARGON2_TIME_COST >= 2
    assert defaults.ARGON2_PARALLELISM == 1
    with pytest.raises(Exception, match="ARGON2_MEMORY_KIB"):
        make_settings(ARGON2_MEMORY_KIB=1024)
    with pytest.raises(Exception, match="FIRST_ADMIN"):
        make_settings(FIRST_ADMIN_EMAIL="root@example.com")
    with pytest.raises(Exception, match="FIRST_ADMIN_PASSWORD"):
        make_settings(FIRST_ADMIN_EMAIL="root@example.com", FIRST_ADMIN_PASSWORD="short")
    with pytest.raises(Exception, match="FIRST_ADMIN_EMAIL"):
        make_settings(FIRST_ADMIN_EMAIL="not an email", FIRST_ADMIN_PASSWORD=PASSWORD)


async def test_hashing_is_capped_and_leaves_the_event_loop_free(
    make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    hasher = PasswordHasher(make_settings(PASSWORD_HASH_CONCURRENCY=2))
    running = 0
    peak = 0
    real_hash: Callable[[str], str] = hasher._context.hash

    def slow_hash(password: str) -> str:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        time.sleep(0.05)
        running -= 1
        return real_hash(password)

    monkeypatch.setattr(hasher._context, "hash", slow_hash)
    import anyio

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.sleep(0.005)

    async with anyio.create_task_group() as group:
        group.start_soon(ticker)
        async with anyio.create_task_group() as hashing:
            for _ in range(6):
                hashing.start_soon(hasher.hash, PASSWORD)
        group.cancel_scope.cancel()
    assert peak == 2
    # The loop kept ticking while six hashes ran in threads.
    assert ticks >= 10
