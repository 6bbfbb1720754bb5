"""Settings of the media service: the common ones plus its own."""

from __future__ import annotations

from typing import ClassVar

from anime_common import CommonSettings


class MediaSettings(CommonSettings):
    SERVICE_NAME: ClassVar[str] = "media"

    PORT: int = 8004
