"""JWT verification and the permission check every protected route uses."""

from __future__ import annotations

import functools
import hashlib
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
from starlette.requests import Request
from starlette.responses import Response

from anime_common._errors import AuthError
from anime_common._errors import PermissionError as PermissionDenied
from anime_common._settings import CommonSettings
from anime_common._state import app_context

Endpoint = Callable[[Request], Awaitable[Response]]

_REQUIRED_CLAIMS = ("exp", "iat", "sub", "jti", "iss", "aud", "typ")
SERVICE_SUBJECT_PREFIX = "service:"
SERVICE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")
_VERIFIED_CACHE_SIZE = 4096
INTERNAL_PERMISSION = "internal"
# `typ` of each token kind: a token made for one purpose is never accepted for another.
ACCESS_TOKEN_TYPE = "access"  # noqa: S105 - a token kind, not a secret
SERVICE_TOKEN_TYPE = "service"  # noqa: S105


def key_id(secret: str) -> str:
    """The `kid` naming a signing key: a short digest, so the key itself is never revealed."""
    return hashlib.sha256(b"anime-kid:" + secret.encode()).hexdigest()[:16]


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
    """Answers whether a verified token's session has been revoked."""

    async def __call__(self, principal: Principal) -> bool: ...


class TokenVerifier:
    """Signs and verifies access tokens: a key ring by `kid`, one algorithm, issuer, audience.

    Tokens are signed with `SECRET_KEY` and verified with it or any of
    `PREVIOUS_SECRET_KEYS`, chosen by the `kid` header: rotating the key is
    "add the new one, keep the old one as previous until its tokens expired".
    """

    def __init__(self, settings: CommonSettings, revocation: RevocationCheck | None = None) -> None:
        secrets = [settings.SECRET_KEY, *settings.PREVIOUS_SECRET_KEYS]
        self._keys = {key_id(key.get_secret_value()): key.get_secret_value() for key in secrets}
        self.key_id = key_id(settings.SECRET_KEY.get_secret_value())
        self._algorithm = settings.ALGORITHM
        self._issuer = settings.JWT_ISSUER
        self._audience = settings.JWT_AUDIENCE
        self._leeway = settings.JWT_LEEWAY_SECONDS
        self.revocation = revocation
        self._verified: OrderedDict[str, Principal] = OrderedDict()

    @property
    def leeway(self) -> int:
        return self._leeway

    def _key_for(self, token: str) -> str:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise AuthError("Invalid token") from None
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise AuthError("Invalid token")
        return key

    def decode(self, token: str) -> Principal:
        """Check key, signature, algorithm and claims; any failure is the same kind of 401.

        A token already verified is answered from a small cache (PyJWT's decode
        costs about 0.4 ms of CPU per request): the same string has the same
        signature, so only its expiry needs checking again.
        """
        cached = self._verified.get(token)
        if cached is not None:
            if time.time() > cached.expires_at + self._leeway:
                del self._verified[token]
                raise AuthError("Token has expired")
            self._verified.move_to_end(token)
            return cached
        principal = self._decode(token)
        self._verified[token] = principal
        if len(self._verified) > _VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return principal

    def _decode(self, token: str) -> Principal:
        key = self._key_for(token)
        try:
            claims = jwt.decode(
                token,
                key,
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
        return _principal(claims)

    async def verify(self, token: str) -> Principal:
        principal = self.decode(token)
        if self.revocation is not None and await self.revocation(principal):
            raise AuthError("Token has been revoked")
        return principal

    def claims(
        self,
        *,
        subject: str,
        permissions: Collection[str],
        expires_in: int,
        session_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Every claim `decode` requires, for a new token of `subject`."""
        now = int(time.time())
        claims: dict[str, Any] = {
            **(extra or {}),
            "sub": subject,
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + expires_in,
            "iss": self._issuer,
            "aud": self._audience,
            "typ": (
                SERVICE_TOKEN_TYPE
                if subject.startswith(SERVICE_SUBJECT_PREFIX)
                else ACCESS_TOKEN_TYPE
            ),
            "permissions": sorted(permissions),
        }
        if session_id is not None:
            claims["sid"] = session_id
        return claims

    def encode(self, claims: Mapping[str, Any]) -> str:
        """Sign claims with the newest key; HMAC is deterministic, so equal claims, equal token."""
        return jwt.encode(
            dict(claims),
            self._keys[self.key_id],
            algorithm=self._algorithm,
            headers={"kid": self.key_id},
        )

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
        return self.encode(
            self.claims(
                subject=subject,
                permissions=permissions,
                expires_in=expires_in,
                session_id=session_id,
                extra=extra,
            )
        )

    def issue_service_token(self, service: str, *, expires_in: int = 300) -> str:
        """A short-lived token one service presents to another's `/internal` endpoints."""
        return self.issue(
            subject=f"{SERVICE_SUBJECT_PREFIX}{service}",
            permissions=[INTERNAL_PERMISSION],
            expires_in=expires_in,
        )


def _is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _is_number(value: object) -> bool:
    # bool is an int to Python, never a time to us.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _principal(claims: dict[str, Any]) -> Principal:
    """Every claim with its type, or the same 401: a signed token is still only data.

    A user's access token names a user and a session by UUID; a service token names
    a service and no session. `exp`/`iat` are numbers (PyJWT would accept "123").
    """
    subject = claims["sub"]
    session_id = claims.get("sid")
    permissions = claims.get("permissions", [])
    if claims["typ"] == SERVICE_TOKEN_TYPE:
        kind_ok = (
            isinstance(subject, str)
            and subject.startswith(SERVICE_SUBJECT_PREFIX)
            and SERVICE_NAME.fullmatch(subject.removeprefix(SERVICE_SUBJECT_PREFIX)) is not None
            and session_id is None
        )
    else:
        kind_ok = claims["typ"] == ACCESS_TOKEN_TYPE and _is_uuid(subject) and _is_uuid(session_id)
    if not (
        kind_ok
        and _is_number(claims["exp"])
        and _is_number(claims["iat"])
        and _is_uuid(claims["jti"])
        and isinstance(permissions, list)
        and all(isinstance(item, str) for item in permissions)
    ):
        raise AuthError("Invalid token")
    return Principal(
        subject=subject,
        token_id=claims["jti"],
        session_id=session_id,
        permissions=frozenset(permissions),
        expires_at=int(claims["exp"]),
        claims=claims,
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
    return app_context(request).verifier


async def authenticate(request: Request, *, service: bool = False) -> Principal:
    """Verify the request's bearer token and remember the principal on the request.

    A service token is accepted only where `service=True` (the `/internal` routes): one
    leaked from a service's memory must not act as a user on a public route.
    """
    principal = await _verifier(request).verify(bearer_token(request))
    if principal.is_service and not service:
        raise AuthError("Invalid token")
    request.state.principal = principal
    return principal


def principal_user_id(
    principal: Principal, *, refusal: str = "Only user accounts can do this"
) -> uuid.UUID:
    """The user account a token speaks for; 403 `refusal` for a service token."""
    try:
        return uuid.UUID(principal.subject)
    except ValueError:
        raise PermissionDenied(refusal) from None


def current_principal(request: Request) -> Principal:
    """The principal of a route wrapped by `requires`."""
    principal: Principal = request.state.principal
    return principal


def requires(*permissions: str) -> Callable[[Endpoint], Endpoint]:
    """Protect an endpoint: 401 without a valid token, 403 without every permission named."""
    needed = frozenset(permissions)
    internal = INTERNAL_PERMISSION in needed

    def decorator(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def wrapper(request: Request) -> Response:
            principal = await authenticate(request, service=internal)
            if not needed <= principal.permissions:
                raise PermissionDenied()
            return await endpoint(request)

        wrapper.__dict__["required_permissions"] = needed
        return wrapper

    return decorator
