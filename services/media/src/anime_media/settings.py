"""Settings of the media service: the common ones plus its own."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Self

from pydantic import Field, model_validator

from anime_common import CommonSettings

MIB = 1024 * 1024


class MediaSettings(CommonSettings):
    SERVICE_NAME: ClassVar[str] = "media"

    PORT: int = 8004
    # Media sets each user's `avatar` through auth's internal endpoint, so it always
    # needs auth (and polls its revocations through the same URL).
    AUTH_SERVICE_URL: str | None = "http://127.0.0.1:8001"

    # Files live in MEDIA_ROOT/avatars; scripts/run and the e2e stack set MEDIA_ROOT.
    MEDIA_ROOT: Path = Path(".local/media")
    # The uploaded file itself; the body may carry this plus a little multipart framing.
    AVATAR_MAX_BYTES: int = Field(default=5 * MIB, ge=1024, le=64 * MIB)
    # Decoded size is what costs memory (4 bytes a pixel for RGBA): 24 MP (a 6000x4000
    # photo) stays under ~100 MB decoded, and every camera up to 24 MP is accepted.
    AVATAR_MAX_PIXELS: int = Field(default=24_000_000, ge=10_000)
    # The square avatar's side, and the thumbnail's; smaller sources are not upscaled.
    AVATAR_SIZE: int = Field(default=512, ge=32, le=2048)
    AVATAR_THUMBNAIL_SIZE: int = Field(default=128, ge=16, le=512)
    AVATAR_WEBP_QUALITY: int = Field(default=82, ge=1, le=100)
    # Threads decoding and encoding images. Pillow releases the GIL, so one per core;
    # each holds at most one decoded image, which bounds memory too.
    IMAGE_WORKERS: int = Field(default=2, ge=1, le=16)
    # Uploads being received or processed at once (each holds its file in memory, up
    # to AVATAR_MAX_BYTES); past that a new upload gets 503 with Retry-After.
    UPLOAD_CONCURRENCY: int = Field(default=8, ge=1, le=256)

    @model_validator(mode="after")
    def _check_sizes(self) -> Self:
        if self.AVATAR_THUMBNAIL_SIZE > self.AVATAR_SIZE:
            raise ValueError("AVATAR_THUMBNAIL_SIZE must not exceed AVATAR_SIZE")
        if not self.AUTH_SERVICE_URL:
            raise ValueError("AUTH_SERVICE_URL is required: media sets avatars through auth")
        return self

    @property
    def avatars_dir(self) -> Path:
        return self.MEDIA_ROOT.absolute() / "avatars"
