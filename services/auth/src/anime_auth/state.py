"""What auth's routes share for the life of the process, and who is calling."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from anime_auth.passwords import PasswordHasher
from anime_auth.settings import AuthSettings
from anime_common import Database, TokenVerifier, service_state


@dataclass(frozen=True, slots=True)
class AuthState:
    """Built in the lifespan: the database, settings, the hasher, the token signer."""

    database: Database
    settings: AuthSettings
    hasher: PasswordHasher
    verifier: TokenVerifier

    @property
    def access_ttl(self) -> int:
        return self.settings.ACCESS_TOKEN_EXPIRE_MINUTES * 60

    @property
    def idle_seconds(self) -> int:
        return self.settings.REFRESH_TOKEN_IDLE_DAYS * 86400


@dataclass(frozen=True, slots=True)
class Client:
    """Who is on the other end: the address (as uvicorn resolved it) and the user agent."""

    ip: str | None
    user_agent: str | None


def get_state(request: Request) -> AuthState:
    return service_state(request, AuthState)
