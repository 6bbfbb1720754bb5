"""Request and response bodies of API.md's Auth and Users sections."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

USERNAME_PATTERN = r"^[A-Za-z0-9_.-]{3,32}$"
# Deliberately loose: one @, something on each side, a dot in the domain, no spaces.
# Whether an address really exists is for a confirmation mail, not a regex.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_PASSWORD_LENGTH = 128

Password = Annotated[str, Field(min_length=8, max_length=MAX_PASSWORD_LENGTH)]
Username = Annotated[str, StringConstraints(pattern=USERNAME_PATTERN)]
# On login, any password up to the limit is checked (the rules may have been looser once);
# anything longer is refused before it ever reaches the hasher.
LoginPassword = Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)]


def normalize_email(value: str) -> str:
    email = value.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise ValueError("not a valid email address")
    return email


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class RegisterRequest(_Body):
    email: str = Field(max_length=254, json_schema_extra={"format": "email"})
    password: Password
    username: Username | None = None

    @field_validator("email")
    @classmethod
    def _normalize_email(cls, value: str) -> str:
        return normalize_email(value)


class CreateUserRequest(RegisterRequest):
    role: str = Field(min_length=1, max_length=32)


class LoginRequest(_Body):
    """JSON login: `email` or `username` (or the OAuth2 form's `username`), and `password`."""

    email: str | None = Field(default=None, max_length=254)
    username: str | None = Field(default=None, max_length=254)
    password: LoginPassword

    @property
    def identifier(self) -> str:
        return (self.email or self.username or "").strip().lower()


class RefreshRequest(_Body):
    refresh_token: str = Field(min_length=1, max_length=256)


class LogoutRequest(_Body):
    refresh_token: str | None = Field(default=None, max_length=256)
    all: bool = False


class AvatarRequest(_Body):
    avatar: Annotated[str, StringConstraints(pattern=r"^/media/avatars/[A-Za-z0-9._-]+$")] | None


class RevocationsQuery(_Body):
    since: datetime | None = None


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    username: str
    avatar: str | None
    is_active: bool
    role: str
    permissions: list[str]
    created_at: datetime


class PublicUserOut(BaseModel):
    id: uuid.UUID
    username: str
    avatar: str | None
    created_at: datetime


class TokensOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type
    expires_in: int


class RegisteredOut(TokensOut):
    user: UserOut


class SessionOut(BaseModel):
    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    user_agent: str | None
    ip: str | None
    current: bool


class RevocationOut(BaseModel):
    session_id: uuid.UUID
    expires_at: datetime


class RevocationsOut(BaseModel):
    revocations: list[RevocationOut]
    cursor: datetime
