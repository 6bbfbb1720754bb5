"""What the library accepts and answers (API.md, Library section)."""

from __future__ import annotations

import datetime
import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from anime_common import PageParams

# A catalog UUID or a HiAnime id such as `one-piece-100`.
AnimeReference = Field(min_length=1, max_length=200)


# --- requests -------------------------------------------------------------------------


class FavoriteIn(BaseModel):
    anime_id: str = AnimeReference


class FavoritesQuery(PageParams):
    # "Is this anime a favorite?" in one call: 0 or 1 favorite of that anime.
    anime_id: str | None = Field(default=None, min_length=1, max_length=200)


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


def _trimmed(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ValueError("must not contain control characters")
    return value


CollectionName = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_trimmed)]
Description = Annotated[str | None, Field(default=None, max_length=2000)]


class CollectionIn(BaseModel):
    name: CollectionName
    description: Description = None
    is_public: bool = False
    anime_ids: list[Annotated[str, AnimeReference]] = Field(default_factory=list, max_length=500)


class CollectionPatch(BaseModel):
    """Only the fields given change; `description` may be set to null.

    Other fields are ignored, like everywhere: a client may send back what it read.
    """

    # Absent is "unchanged"; null is refused (422), so the document allows no null.
    name: Annotated[
        CollectionName | None,
        WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 100}),
    ] = None
    description: Description = None
    is_public: Annotated[bool | None, WithJsonSchema({"type": "boolean"})] = None


class CollectionItemIn(BaseModel):
    anime_id: str = AnimeReference


class CollectionsQuery(PageParams):
    # Another user's public collections; the caller's own id lists all of theirs.
    user_id: uuid.UUID | None = None


class ViewIn(BaseModel):
    anime_id: str = AnimeReference
    episode: int | None = Field(default=None, ge=1, le=100_000)


class ViewsQuery(PageParams):
    pass


class ViewStatsQuery(BaseModel):
    anime_id: str = AnimeReference


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


class CollectionOut(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    description: str | None
    is_public: bool
    items_count: int
    created_at: datetime.datetime
    updated_at: datetime.datetime


class CollectionItemOut(BaseModel):
    anime_id: uuid.UUID
    added_at: datetime.datetime
    anime: AnimeSummary


class CollectionDetailOut(CollectionOut):
    items: list[CollectionItemOut]


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
