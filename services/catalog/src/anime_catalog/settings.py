"""Settings of the catalog service: the common ones plus its own."""

from __future__ import annotations

from typing import ClassVar

from anime_common import CommonSettings


class CatalogSettings(CommonSettings):
    SERVICE_NAME: ClassVar[str] = "catalog"

    PORT: int = 8002
    # Where unknown HiAnime ids are imported from (see importer.py); unset: never import.
    PROXY_SERVICE_URL: str | None = None
