"""Settings of the auth service: the common ones plus its own."""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import Field, SecretStr, field_validator, model_validator

from anime_auth.schemas import normalize_email
from anime_common import CommonSettings

# OWASP's minimum for argon2id (Password Storage Cheat Sheet): 19 MiB, 2 passes, 1 lane.
ARGON2_MIN_MEMORY_KIB = 19456
ARGON2_MIN_TIME_COST = 2


class AuthSettings(CommonSettings):
    SERVICE_NAME: ClassVar[str] = "auth"

    PORT: int = 8001

    # argon2id, never below OWASP's floor. Defaults measured on the 2-core dev machine
    # (bench/auth): 64 MiB and 2 passes take 135-200 ms a hash, 3 passes 175-275 ms;
    # memory is what makes GPU guessing expensive, so it got the budget, and 2 passes
    # keep one hash well under 0.5 s even while the machine is busy.
    ARGON2_MEMORY_KIB: int = Field(default=65536, ge=ARGON2_MIN_MEMORY_KIB)
    ARGON2_TIME_COST: int = Field(default=2, ge=ARGON2_MIN_TIME_COST)
    ARGON2_PARALLELISM: int = Field(default=1, ge=1, le=16)
    # Hashes computed at once; each holds ARGON2_MEMORY_KIB, so this bounds memory and CPU.
    PASSWORD_HASH_CONCURRENCY: int = Field(default=2, ge=1)

    # A session ends REFRESH_TOKEN_EXPIRE_DAYS after login whatever happens, or earlier
    # when no refresh was made for REFRESH_TOKEN_IDLE_DAYS.
    REFRESH_TOKEN_IDLE_DAYS: int = Field(default=7, ge=1)
    # A rotated refresh token presented again within this many seconds gets the same
    # successor (a client retrying a lost answer); after it, the session is revoked.
    REFRESH_GRACE_SECONDS: int = Field(default=5, ge=0, le=60)

    # Failed logins: past the limit within the window, 429 for
    # LOGIN_LOCKOUT_BASE_SECONDS * 2**(failures - limit), at most LOGIN_LOCKOUT_MAX_SECONDS.
    LOGIN_MAX_FAILURES_PER_ACCOUNT: int = Field(default=5, ge=1)
    LOGIN_MAX_FAILURES_PER_ADDRESS: int = Field(default=50, ge=1)
    LOGIN_FAILURE_WINDOW_SECONDS: int = Field(default=900, ge=1)
    LOGIN_LOCKOUT_BASE_SECONDS: int = Field(default=2, ge=1)
    LOGIN_LOCKOUT_MAX_SECONDS: int = Field(default=900, ge=1)

    # Ended sessions, their refresh tokens and stale failure counters are deleted this often
    # (0 = never), a day after they stopped mattering.
    PURGE_INTERVAL_SECONDS: int = Field(default=3600, ge=0)

    # Created at start-up when both are set and no admin exists yet.
    FIRST_ADMIN_EMAIL: str | None = None
    FIRST_ADMIN_PASSWORD: SecretStr | None = None

    @field_validator("FIRST_ADMIN_EMAIL")
    @classmethod
    def _normalize_admin_email(cls, value: str | None) -> str | None:
        return normalize_email(value) if value is not None else None

    @model_validator(mode="after")
    def _check_first_admin(self) -> Self:
        if (self.FIRST_ADMIN_EMAIL is None) != (self.FIRST_ADMIN_PASSWORD is None):
            raise ValueError("set both FIRST_ADMIN_EMAIL and FIRST_ADMIN_PASSWORD, or neither")
        password = self.FIRST_ADMIN_PASSWORD
        if password is not None and not 8 <= len(password.get_secret_value()) <= 128:
            raise ValueError("FIRST_ADMIN_PASSWORD must be 8 to 128 characters, like any password")
        return self
