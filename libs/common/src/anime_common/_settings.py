"""Settings every service reads from its environment, validated once at start-up."""

from __future__ import annotations

import json
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar
from urllib.parse import quote, urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Secrets that show up in tutorials and .env samples; never acceptable outside DEBUG.
_PLACEHOLDER_SECRETS = frozenset(
    {"secret", "changeme", "change-me", "changethis", "your-secret-key", "secret_key", "dev"}
)
# RFC 7518 3.2: an HMAC key at least as long as the hash output.
_MIN_SECRET_LENGTH = {"HS256": 32, "HS384": 48, "HS512": 64}


class SettingsError(RuntimeError):
    """A missing or invalid setting; the message names the variable."""


def normalize_origin(value: str) -> str:
    """Return `scheme://host[:port]` for an origin, rejecting anything that is not one."""
    origin = value.strip().rstrip("/")
    parts = urlsplit(origin)
    if (
        parts.scheme not in {"http", "https"}
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
    ):
        raise ValueError(f"malformed origin {value!r}: expected scheme://host[:port]")
    try:
        parts.port  # noqa: B018 - accessing it validates the port
    except ValueError as exc:
        raise ValueError(f"malformed origin {value!r}: bad port") from exc
    return origin


def split_list_setting(value: Any) -> Any:
    """Accept a JSON list or a comma-separated string for list settings."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a valid JSON list: {exc.msg}") from exc
    return [item for item in (part.strip() for part in text.split(",")) if item]


class DatabaseSettings(BaseSettings):
    """Where the database is: all a migration command needs."""

    model_config = SettingsConfigDict(
        env_file=None, case_sensitive=True, extra="ignore", frozen=True
    )

    DATABASE_URL: str | None = None
    DB_HOST: str | None = None
    DB_PORT: int = Field(default=5432, ge=1, le=65535)
    DB_NAME: str = "anime"
    DB_USER: str = "anime"
    DB_PASSWORD: SecretStr = SecretStr("")

    # A service without tables (the proxy) sets this to False.
    REQUIRES_DATABASE: ClassVar[bool] = True

    @model_validator(mode="after")
    def _check_database(self) -> Self:
        if self.REQUIRES_DATABASE and not self.DATABASE_URL and not self.DB_HOST:
            raise ValueError(
                "set DATABASE_URL, or DB_HOST with DB_PORT/DB_NAME/DB_USER/DB_PASSWORD"
            )
        if self.DATABASE_URL and not self.DATABASE_URL.startswith(
            ("postgresql+asyncpg://", "postgresql://", "postgres://")
        ):
            raise ValueError("DATABASE_URL must be a postgresql:// or postgresql+asyncpg:// URL")
        return self

    @property
    def database_url(self) -> str:
        """The asyncpg DSN, from DATABASE_URL or assembled from the DB_* parts."""
        if self.DATABASE_URL:
            _, _, rest = self.DATABASE_URL.partition("://")
            return f"postgresql+asyncpg://{rest}"
        password = quote(self.DB_PASSWORD.get_secret_value(), safe="")
        user = quote(self.DB_USER, safe="")
        credentials = f"{user}:{password}" if password else user
        return f"postgresql+asyncpg://{credentials}@{self.DB_HOST}:{self.DB_PORT}/{self.DB_NAME}"


class CommonSettings(DatabaseSettings):
    """What every service needs; a service subclasses this to add its own settings."""

    SERVICE_NAME: ClassVar[str] = "service"

    SECRET_KEY: SecretStr
    # Keys retired from signing but still accepted, so a key rotates without logging users out.
    PREVIOUS_SECRET_KEYS: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)

    ACCESS_TOKEN_EXPIRE_MINUTES: int = Field(default=30, ge=1)
    REFRESH_TOKEN_EXPIRE_DAYS: int = Field(default=14, ge=1)
    ALGORITHM: Literal["HS256", "HS384", "HS512"] = "HS256"
    JWT_ISSUER: str = "anime-auth"
    JWT_AUDIENCE: str = "anime-api"
    JWT_LEEWAY_SECONDS: int = Field(default=10, ge=0, le=300)

    ALLOWED_ORIGINS: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://localhost:3000", "http://127.0.0.1:3000"]
    )
    DEBUG: bool = False

    DB_POOL_SIZE: int = Field(default=10, ge=1)
    DB_MAX_OVERFLOW: int = Field(default=10, ge=0)
    DB_POOL_RECYCLE: int = Field(default=1800, ge=-1)
    DB_POOL_PRE_PING: bool = True
    DB_POOL_TIMEOUT: float = Field(default=5.0, gt=0)
    DB_CONNECT_TIMEOUT: float = Field(default=5.0, gt=0)
    DB_STARTUP_TIMEOUT: float = Field(default=60.0, gt=0)
    MIGRATE_ON_STARTUP: bool = True

    HOST: str = "127.0.0.1"
    PORT: int = Field(default=8000, ge=1, le=65535)
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # JSON lines for log collectors; `text` for a person reading a terminal.
    LOG_FORMAT: Literal["json", "text"] = "json"
    FORWARDED_ALLOW_IPS: str = "127.0.0.1"
    HTTP_CONNECT_TIMEOUT: float = Field(default=3.0, gt=0)
    HTTP_READ_TIMEOUT: float = Field(default=10.0, gt=0)
    SHUTDOWN_GRACE_SECONDS: int = Field(default=10, ge=0)
    # Where the other services fetch revoked sessions from; unset = no revocation polling.
    AUTH_SERVICE_URL: str | None = None
    REVOCATION_POLL_SECONDS: float = Field(default=2.0, gt=0, le=4.0)
    # The gateway's origin as clients see it, for absolute `Link` URLs; unset = relative
    # references. Never taken from the request's Host, which a client chooses.
    PUBLIC_URL: str | None = None

    @field_validator("ALLOWED_ORIGINS", mode="before")
    @classmethod
    def _parse_origins(cls, value: Any) -> Any:
        return split_list_setting(value)

    @field_validator("PREVIOUS_SECRET_KEYS", mode="before")
    @classmethod
    def _parse_previous_keys(cls, value: Any) -> Any:
        return split_list_setting(value)

    @field_validator("ALLOWED_ORIGINS")
    @classmethod
    def _normalize_origins(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(normalize_origin(origin) for origin in value))

    @field_validator("PUBLIC_URL")
    @classmethod
    def _normalize_public_url(cls, value: str | None) -> str | None:
        return normalize_origin(value) if value else None

    @field_validator("ALGORITHM", mode="before")
    @classmethod
    def _upper_algorithm(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_secret(self) -> Self:
        minimum = _MIN_SECRET_LENGTH[self.ALGORITHM]
        keys = [("SECRET_KEY", self.SECRET_KEY)]
        keys += [("PREVIOUS_SECRET_KEYS", key) for key in self.PREVIOUS_SECRET_KEYS]
        for name, key in keys:
            secret = key.get_secret_value()
            if not self.DEBUG and (
                secret.strip().lower() in _PLACEHOLDER_SECRETS or len(secret.encode()) < minimum
            ):
                raise ValueError(
                    f"{name} must be a random value of at least {minimum} bytes for "
                    f"{self.ALGORITHM} (placeholders are refused unless DEBUG is on)"
                )
        return self


SettingsT = TypeVar("SettingsT", bound=DatabaseSettings)


def _describe(error: dict[str, Any]) -> str:
    variable = ".".join(str(part) for part in error.get("loc", ())) or "settings"
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    if error.get("type") == "missing":
        return f"{variable}: required but not set"
    return f"{variable}: {message}"


def load_settings(settings_class: type[SettingsT], **overrides: Any) -> SettingsT:
    """Read settings from the environment, or stop with a message naming each bad variable."""
    try:
        return settings_class(**overrides)
    except PydanticValidationError as exc:
        problems = "; ".join(_describe(dict(error)) for error in exc.errors())
        raise SettingsError(f"invalid configuration: {problems}") from None
