"""Settings of the proxy service: the common ones plus its own."""

from __future__ import annotations

from typing import ClassVar

from anime_common import CommonSettings


class ProxySettings(CommonSettings):
    SERVICE_NAME: ClassVar[str] = "proxy"
    # The proxy keeps its cache in memory and owns no tables.
    REQUIRES_DATABASE: ClassVar[bool] = False

    PORT: int = 8005
