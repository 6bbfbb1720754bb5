from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from anime_common import Principal, TokenVerifier, create_service_app
from anime_devstack.asgi import serve_asgi

from .apps import ROUTES, SECRET, build_app, make_settings

pytestmark = pytest.mark.anyio

SETTINGS = make_settings()
VERIFIER = TokenVerifier(SETTINGS)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "8d1c1c3e-0000-4000-8000-000000000001",
        "sid": "session-1",
        "jti": "token-1",
        "iat": now,
        "exp": now + 600,
        "iss": SETTINGS.JWT_ISSUER,
        "aud": SETTINGS.JWT_AUDIENCE,
        "permissions": ["read:profile", "write:content"],
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def sign(payload: dict[str, Any], *, key: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(payload, key, algorithm=algorithm)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with serve_asgi(build_app(SETTINGS)) as client:
        yield client


async def test_valid_token_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.get("/me", headers=bearer(sign(claims())))
    assert response.status_code == 200
    assert response.json() == {"sub": "8d1c1c3e-0000-4000-8000-000000000001"}


async def test_issued_tokens_verify(client: httpx.AsyncClient) -> None:
    token = VERIFIER.issue(subject="user-9", permissions=["read:profile"], expires_in=60)
    response = await client.get("/me", headers=bearer(token))
    assert response.json() == {"sub": "user-9"}


def _unsigned(payload: dict[str, Any]) -> str:
    return jwt.encode(payload, key=None, algorithm="none")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (sign(claims(exp=int(time.time()) - 120)), "expired"),
        (sign(claims(), key="x" * 48), "wrong signature"),
        (_unsigned(claims()), "alg none"),
        (sign(claims(), algorithm="HS512"), "algorithm outside the allowlist"),
        (sign(claims(iss="someone-else")), "wrong issuer"),
        (sign(claims(aud="another-api")), "wrong audience"),
        (sign(claims(exp=None)), "missing exp"),
        (sign(claims(iat=None)), "missing iat"),
        (sign(claims(sub=None)), "missing sub"),
        (sign(claims(jti=None)), "missing jti"),
        (sign(claims(iss=None)), "missing iss"),
        (sign(claims(aud=None)), "missing aud"),
        (sign(claims(permissions="write:catalog")), "permissions not a list"),
        ("not.a.jwt", "garbage"),
    ],
)
async def test_bad_tokens_are_401(client: httpx.AsyncClient, token: str, reason: str) -> None:
    response = await client.get("/me", headers=bearer(token))
    assert response.status_code == 401, reason
    assert response.json()["code"] == "AUTH_ERROR"
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    [None, "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer a b", "token-without-scheme"],
)
async def test_missing_or_malformed_header_is_401(
    client: httpx.AsyncClient, header: str | None
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = await client.get("/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "AUTH_ERROR"


async def test_small_clock_skew_is_forgiven(client: httpx.AsyncClient) -> None:
    token = sign(claims(exp=int(time.time()) - 2))
    assert (await client.get("/me", headers=bearer(token))).status_code == 200


async def test_missing_permission_is_403(client: httpx.AsyncClient) -> None:
    response = await client.post("/catalog", headers=bearer(sign(claims())))
    assert response.status_code == 403
    assert response.json()["code"] == "PERMISSION_DENIED"


async def test_permission_present_passes(client: httpx.AsyncClient) -> None:
    token = sign(claims(permissions=["write:catalog"]))
    assert (await client.post("/catalog", headers=bearer(token))).status_code == 200


async def test_missing_token_beats_missing_permission(client: httpx.AsyncClient) -> None:
    assert (await client.post("/catalog")).status_code == 401


async def test_public_route_ignores_a_garbage_or_expired_token(client: httpx.AsyncClient) -> None:
    for header in (
        "Bearer garbage",
        f"Bearer {sign(claims(exp=int(time.time()) - 999))}",
        "Nonsense",
    ):
        response = await client.get("/public", headers={"Authorization": header})
        assert response.status_code == 200
        assert response.json() == {"public": True}


async def test_revoked_session_is_401() -> None:
    revoked_sessions = {"session-1"}

    async def is_revoked(principal: Principal) -> bool:
        return principal.session_id in revoked_sessions

    app = create_service_app(
        name="sample", settings=SETTINGS, routes=ROUTES, migrations=None, revocation=is_revoked
    )
    async with serve_asgi(app) as client:
        revoked = await client.get("/me", headers=bearer(sign(claims())))
        other = await client.get("/me", headers=bearer(sign(claims(sid="session-2"))))
    assert revoked.status_code == 401
    assert revoked.json()["message"] == "Token has been revoked"
    assert other.status_code == 200


def test_service_token_carries_internal_permission() -> None:
    principal = VERIFIER.decode(VERIFIER.issue_service_token("library"))
    assert principal.subject == "service:library"
    assert principal.is_service
    assert principal.permissions == frozenset({"internal"})


def test_configured_algorithm_is_the_only_one_accepted() -> None:
    verifier = TokenVerifier(make_settings(ALGORITHM="HS512"))
    assert verifier.decode(sign(claims(), algorithm="HS512")).subject
    with pytest.raises(Exception, match="Invalid token"):
        verifier.decode(sign(claims(), algorithm="HS256"))
