"""Shapes the media service answers with (and reads back from auth)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class UserOut(BaseModel):
    """API.md's User, exactly as auth's internal endpoint answers it.

    Fields auth may add later (API.md allows new optional ones) pass through untouched.
    """

    model_config = ConfigDict(extra="allow")

    id: uuid.UUID
    email: str
    username: str
    avatar: str | None
    is_active: bool
    role: str
    permissions: list[str]
    created_at: datetime


class AvatarUpload(BaseModel):
    """`PATCH /users/me`'s multipart form, for the OpenAPI document (uploads.py reads it)."""

    avatar: bytes = Field(description="A JPEG, PNG, WebP or GIF image")
