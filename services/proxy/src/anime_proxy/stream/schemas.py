"""The query of `/m3u8-proxy`: what the player's first URL and our own links carry."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StreamQuery(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    url: str = Field(min_length=1, max_length=8192, description="The upstream URL (encoded)")
    referer: str | None = Field(
        default=None, max_length=2048, description="The Referer the upstream expects"
    )
    exp: int | None = Field(default=None, description="Expiry of a signed link (epoch seconds)")
    sig: str | None = Field(default=None, max_length=64, description="Signature of a link")
