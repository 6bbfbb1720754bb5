"""Settings of the auth service: the common ones plus its own."""

from __future__ import annotations

from typing import ClassVar

from anime_common import CommonSettings


class AuthSettings(CommonSettings):
    SERVICE_NAME: ClassVar[str] = "auth"

    PORT: int = 8001
