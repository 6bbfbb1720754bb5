"""Settings of the library service: the common ones plus its own."""

from __future__ import annotations

from typing import ClassVar

from anime_common import CommonSettings


class LibrarySettings(CommonSettings):
    SERVICE_NAME: ClassVar[str] = "library"

    PORT: int = 8003
