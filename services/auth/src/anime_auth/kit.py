"""What the rules need besides the database, and who is calling."""

from __future__ import annotations

from dataclasses import dataclass

from anime_auth.passwords import PasswordHasher
from anime_auth.settings import AuthSettings
from anime_common import TokenVerifier


@dataclass(frozen=True, slots=True)
class AuthKit:
    """What the rules need besides the database: settings, the hasher, the token signer."""

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
