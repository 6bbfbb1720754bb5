"""What `/views` accepts and answers (API.md, Views)."""

from __future__ import annotations

import datetime
import uuid

from pydantic import BaseModel, Field

from anime_common import PageParams
from anime_library.anime import AnimeReference, AnimeSummary
from anime_library.jobs.schemas import JobOut


class ViewIn(BaseModel):
    anime_id: str = AnimeReference
    episode: int | None = Field(default=None, ge=1, le=100_000)


class ViewsQuery(PageParams):
    pass


class ViewStatsQuery(BaseModel):
    anime_id: str = AnimeReference


class ViewAccepted(BaseModel):
    anime_id: uuid.UUID
    episode: int | None
    viewed_at: datetime.datetime
    job: JobOut


class ViewOut(BaseModel):
    anime_id: uuid.UUID
    episode: int | None
    viewed_at: datetime.datetime
    anime: AnimeSummary


class ViewStatsOut(BaseModel):
    anime_id: uuid.UUID
    total: int
    last_7_days: int
