"""What `/watch/progress` and `/watch/continue` accept and answer (API.md, Library)."""

from __future__ import annotations

import datetime
import uuid

from pydantic import BaseModel, ConfigDict, Field

from anime_common import PageParams
from anime_library.anime import AnimeReference, AnimeSummary
from anime_library.jobs.schemas import JobOut


class ProgressIn(BaseModel):
    # API.md: at least one of position/percent (service.record_progress says which).
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {
                    "required": ["position_seconds"],
                    "properties": {"position_seconds": {"type": "number"}},
                },
                {
                    "required": ["progress_percent"],
                    "properties": {"progress_percent": {"type": "number"}},
                },
            ]
        }
    )

    anime_id: str = AnimeReference
    episode: int = Field(ge=1, le=100_000)
    position_seconds: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    progress_percent: float | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)


class ProgressQuery(PageParams):
    anime_id: str = AnimeReference


class ContinueQuery(PageParams):
    pass


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
