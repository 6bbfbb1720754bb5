"""JWT verification and the permission check every protected route uses."""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
from starlette.requests import Request
from starlette.responses import Response

from anime_common._errors import AuthError, PermissionError  # noqa: A004
from anime_common._settings import CommonSettings

Endpoint = Callable[[Request], Awaitable[Response]]

_REQUIRED_CLAIMS = ("exp", "iat", "sub", "jti", "iss", "aud")
SERVICE_SUBJECT_PREFIX = "service:"
INTERNAL_PERMISSION = "internal"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as proven by a verified access token."""

    subject: str
    token_id: str
    session_id: str | None
    permissions: frozenset[str]
    expires_at: int
    claims: Mapping[str, Any]

    @property
    def is_service(self) -> bool:
        return self.subject.startswith(SERVICE_SUBJECT_PREFIX)


class RevocationCheck(Protocol):
    """Answers whether a verified token's session has been revoked (filled in by auth)."""

    async def __call__(self, principal: Principal) -> bool: ...


class TokenVerifier:
    """Verifies access tokens against the shared key, one algorithm, issuer and audience."""

    def __init__(self, settings: CommonSettings, revocation: RevocationCheck | None = None) -> None:
        self._key = settings.SECRET_KEY.get_secret_value()
        self._algorithm = settings.ALGORITHM
        self._issuer = settings.JWT_ISSUER
        self._audience = settings.JWT_AUDIENCE
        self._leeway = settings.JWT_LEEWAY_SECONDS
        self.revocation = revocation

    def decode(self, token: str) -> Principal:
        """Check signature, algorithm and claims; any failure is the same kind of 401."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[self._algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": list(_REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("Token has expired") from None
        except jwt.PyJWTError:
            raise AuthError("Invalid token") from None
        permissions = claims.get("permissions", [])
        session_id = claims.get("sid")
        if (
            not isinstance(claims["sub"], str)
            or not isinstance(claims["jti"], str)
            or not isinstance(permissions, list)
            or not all(isinstance(item, str) for item in permissions)
            or (session_id is not None and not isinstance(session_id, str))
        ):
            raise AuthError("Invalid token")
        return Principal(
            subject=claims["sub"],
            token_id=claims["jti"],
            session_id=session_id,
            permissions=frozenset(permissions),
            expires_at=int(claims["exp"]),
            claims=claims,
        )

    async def verify(self, token: str) -> Principal:
        principal = self.decode(token)
        if self.revocation is not None and await self.revocation(principal):
            raise AuthError("Token has been revoked")
        return principal

    def issue(
        self,
        *,
        subject: str,
        permissions: Collection[str],
        expires_in: int,
        session_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """Sign an access token with every claim `decode` requires."""
        now = int(time.time())
        claims: dict[str, Any] = {
            **(extra or {}),
            "sub": subject,
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + expires_in,
            "iss": self._issuer,
            "aud": self._audience,
            "permissions": sorted(permissions),
        }
        if session_id is not None:
            claims["sid"] = session_id
        return jwt.encode(claims, self._key, algorithm=self._algorithm)

    def issue_service_token(self, service: str, *, expires_in: int = 300) -> str:
        """A short-lived token one service presents to another's `/internal` endpoints."""
        return self.issue(
            subject=f"{SERVICE_SUBJECT_PREFIX}{service}",
            permissions=[INTERNAL_PERMISSION],
            expires_in=expires_in,
        )


def bearer_token(request: Request) -> str:
    """The token of an `Authorization: Bearer ...` header, or a 401."""
    header = request.headers.get("authorization")
    if not header:
        raise AuthError("Not authenticated")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise AuthError("Malformed Authorization header")
    return token


def _verifier(request: Request) -> TokenVerifier:
    verifier: TokenVerifier = request.app.state.token_verifier
    return verifier


async def authenticate(request: Request) -> Principal:
    """Verify the request's bearer token and remember the principal on the request."""
    principal = await _verifier(request).verify(bearer_token(request))
    request.state.principal = principal
    return principal


def current_principal(request: Request) -> Principal:
    """The principal of a route wrapped by `requires`."""
    principal: Principal = request.state.principal
    return principal


def requires(*permissions: str) -> Callable[[Endpoint], Endpoint]:
    """Protect an endpoint: 401 without a valid token, 403 without every permission named."""
    needed = frozenset(permissions)

    def decorator(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def wrapper(request: Request) -> Response:
            principal = await authenticate(request)
            if not needed <= principal.permissions:
                raise PermissionError()
            return await endpoint(request)

        wrapper.__dict__["required_permissions"] = needed
        return wrapper

    return decorator
