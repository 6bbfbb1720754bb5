from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from anime_common import AuthError, Principal, TokenVerifier, create_service_app, key_id
from anime_devstack.asgi import serve_asgi
from anime_devstack.assertions import assert_envelope

from .apps import ROUTES, SECRET, build_app, make_settings

pytestmark = pytest.mark.anyio

SETTINGS = make_settings()
VERIFIER = TokenVerifier(SETTINGS)
KID = key_id(SECRET)
OTHER_SECRET = "x" * 48
SESSION_1 = "0f0e0d0c-0000-4000-8000-000000000001"
USER_9 = "9a9a9a9a-0000-4000-8000-000000000009"
USER_1 = "1a1a1a1a-0000-4000-8000-000000000001"
USER_2 = "2a2a2a2a-0000-4000-8000-000000000002"


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "8d1c1c3e-0000-4000-8000-000000000001",
        "sid": SESSION_1,
        "jti": "5b3f0a52-0000-4000-8000-00000000000a",
        "iat": now,
        "exp": now + 600,
        "iss": SETTINGS.JWT_ISSUER,
        "aud": SETTINGS.JWT_AUDIENCE,
        "permissions": ["read:profile", "write:content"],
        "typ": "access",
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def sign(
    payload: dict[str, Any],
    *,
    key: str = SECRET,
    algorithm: str = "HS256",
    kid: str | None = KID,
) -> str:
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers)


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
    token = VERIFIER.issue(
        subject=USER_9, permissions=["read:profile"], expires_in=60, session_id=SESSION_1
    )
    response = await client.get("/me", headers=bearer(token))
    assert response.json() == {"sub": USER_9}


def _unsigned(payload: dict[str, Any]) -> str:
    return jwt.encode(payload, key=None, algorithm="none")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (sign(claims(exp=int(time.time()) - 120)), "expired"),
        (sign(claims(), key=OTHER_SECRET), "wrong signature"),
        (sign(claims(), key=OTHER_SECRET, kid=key_id(OTHER_SECRET)), "unknown key id"),
        (sign(claims(), kid=None), "missing key id"),
        (sign(claims(typ=None)), "missing typ"),
        (sign(claims(typ="refresh")), "another token kind"),
        (sign(claims(typ="service")), "a user token claiming to be a service token"),
        (sign(claims(sub="service:library")), "a service subject in a user token"),
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
        (sign(claims(exp=str(int(time.time()) + 600))), "exp a string"),
        (sign(claims(iat=str(int(time.time())))), "iat a string"),
        (sign(claims(exp=True)), "exp a boolean"),
        (sign(claims(sub="user-9")), "sub not a UUID"),
        (sign(claims(sub=12)), "sub not a string"),
        (sign(claims(sid=None)), "missing sid"),
        (sign(claims(sid="session-1")), "sid not a UUID"),
        (sign(claims(jti="token-1")), "jti not a UUID"),
        (sign(claims(jti=7)), "jti not a string"),
        (sign(claims(sub="service:library", typ="service")), "a service token with a session"),
        (sign(claims(sub="service:", typ="service", sid=None)), "a service without a name"),
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
    assert_envelope(response, 401, "AUTH_ERROR")


async def test_small_clock_skew_is_forgiven(client: httpx.AsyncClient) -> None:
    token = sign(claims(exp=int(time.time()) - 2))
    assert (await client.get("/me", headers=bearer(token))).status_code == 200


async def test_missing_permission_is_403(client: httpx.AsyncClient) -> None:
    response = await client.post("/catalog", headers=bearer(sign(claims())))
    assert_envelope(response, 403, "PERMISSION_DENIED")


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


async def test_a_service_token_is_refused_on_public_routes(client: httpx.AsyncClient) -> None:
    service = bearer(VERIFIER.issue_service_token("library"))
    refused = await client.get("/me", headers=service)
    assert_envelope(refused, 401, "AUTH_ERROR")
    assert (await client.get("/internal/ping", headers=service)).status_code == 200


async def test_a_user_token_is_refused_on_internal_routes(client: httpx.AsyncClient) -> None:
    response = await client.get("/internal/ping", headers=bearer(sign(claims())))
    assert response.status_code == 403


async def test_revoked_session_is_401() -> None:
    revoked_sessions = {SESSION_1}

    async def is_revoked(principal: Principal) -> bool:
        return principal.session_id in revoked_sessions

    app = create_service_app(
        name="sample", settings=SETTINGS, routes=ROUTES, migrations=None, revocation=is_revoked
    )
    async with serve_asgi(app) as client:
        revoked = await client.get("/me", headers=bearer(sign(claims())))
        other = await client.get("/me", headers=bearer(sign(claims(sid=USER_2))))
    assert revoked.status_code == 401
    assert revoked.json()["message"] == "Token has been revoked"
    assert other.status_code == 200


def test_service_token_carries_internal_permission() -> None:
    principal = VERIFIER.decode(VERIFIER.issue_service_token("library"))
    assert principal.subject == "service:library"
    assert principal.is_service
    assert principal.permissions == frozenset({"internal"})


def test_tokens_carry_the_newest_key_id_and_their_kind() -> None:
    token = VERIFIER.issue(subject=USER_9, permissions=[], expires_in=60, session_id=SESSION_1)
    assert jwt.get_unverified_header(token)["kid"] == KID
    assert VERIFIER.decode(token).claims["typ"] == "access"
    assert VERIFIER.decode(VERIFIER.issue_service_token("media")).claims["typ"] == "service"


def test_equal_claims_sign_to_the_same_token() -> None:
    claims_ = VERIFIER.claims(subject="user-9", permissions=["a"], expires_in=60)
    assert VERIFIER.encode(claims_) == VERIFIER.encode(dict(claims_))


def test_key_rotation_signs_with_the_new_key_and_verifies_with_both() -> None:
    rotated = TokenVerifier(make_settings(SECRET_KEY=OTHER_SECRET, PREVIOUS_SECRET_KEYS=SECRET))
    old_token = VERIFIER.issue(subject=USER_1, permissions=[], expires_in=60, session_id=SESSION_1)
    new_token = rotated.issue(subject=USER_2, permissions=[], expires_in=60, session_id=SESSION_1)
    assert jwt.get_unverified_header(new_token)["kid"] == key_id(OTHER_SECRET)
    assert rotated.decode(old_token).subject == USER_1
    assert rotated.decode(new_token).subject == USER_2
    # Services not yet given the new key refuse its tokens rather than guess.
    with pytest.raises(Exception, match="Invalid token"):
        VERIFIER.decode(new_token)
    # Once the old key is dropped from the ring, its tokens stop verifying.
    with pytest.raises(Exception, match="Invalid token"):
        TokenVerifier(make_settings(SECRET_KEY=OTHER_SECRET)).decode(old_token)


def test_configured_algorithm_is_the_only_one_accepted() -> None:
    verifier = TokenVerifier(make_settings(ALGORITHM="HS512"))
    assert verifier.decode(sign(claims(), algorithm="HS512")).subject
    with pytest.raises(Exception, match="Invalid token"):
        verifier.decode(sign(claims(), algorithm="HS256"))


def test_previous_keys_are_checked_like_the_current_one() -> None:
    with pytest.raises(Exception, match="PREVIOUS_SECRET_KEYS"):
        make_settings(PREVIOUS_SECRET_KEYS="too-short")
    settings = make_settings(PREVIOUS_SECRET_KEYS=f'["{OTHER_SECRET}", "{"y" * 40}"]')
    assert len(settings.PREVIOUS_SECRET_KEYS) == 2


def test_a_verified_token_is_cached_until_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = TokenVerifier(SETTINGS)
    token = verifier.issue(
        subject=USER_1, permissions=["read:profile"], expires_in=60, session_id=SESSION_1
    )
    first = verifier.decode(token)
    assert verifier.decode(token) is first
    later = time.time() + 60 + SETTINGS.JWT_LEEWAY_SECONDS + 1
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(AuthError, match="expired"):
        verifier.decode(token)
