"""What the library accepts and answers (API.md, Library section)."""

from __future__ import annotations

import datetime
import uuid
from typing import Literal

from pydantic import BaseModel, Field

from anime_common import PageParams

# A catalog UUID or a HiAnime id such as `one-piece-100`.
AnimeReference = Field(min_length=1, max_length=200)


# --- requests -------------------------------------------------------------------------


class FavoriteIn(BaseModel):
    anime_id: str = AnimeReference


class ProgressIn(BaseModel):
    anime_id: str = AnimeReference
    episode: int = Field(ge=1, le=100_000)
    position_seconds: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    progress_percent: float | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)


class ProgressQuery(PageParams):
    anime_id: str = AnimeReference


class ContinueQuery(PageParams):
    pass


# --- responses (documentation; routes render dicts) -----------------------------------


class JobOut(BaseModel):
    id: uuid.UUID
    key: str
    status: Literal["queued", "running", "succeeded", "failed"]
    error: str | None
    created_at: datetime.datetime
    finished_at: datetime.datetime | None


class AnimeSummary(BaseModel):
    id: uuid.UUID
    title: str | None
    poster: str | None


class FavoriteOut(BaseModel):
    id: uuid.UUID
    anime_id: uuid.UUID
    created_at: datetime.datetime
    anime: AnimeSummary


class FavoriteAccepted(BaseModel):
    id: uuid.UUID
    anime_id: uuid.UUID
    created_at: datetime.datetime
    job: JobOut


class JobAccepted(BaseModel):
    job: JobOut


class ProgressAccepted(BaseModel):
    anime_id: uuid.UUID
    episode: int
    position_seconds: float | None
    progress_percent: float | None
    last_watched_at: datetime.datetime
    job: JobOut


class ProgressOut(BaseModel):
    episode: int
    position_seconds: float | None
    progress_percent: float | None
    completed: bool
    last_watched_at: datetime.datetime


class ContinueOut(BaseModel):
    anime_id: uuid.UUID
    episode: int
    position_seconds: float | None
    progress_percent: float | None
    last_watched_at: datetime.datetime
    anime: AnimeSummary
