"""What the catalog accepts and answers (API.md, Catalog section)."""

from __future__ import annotations

import datetime
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from anime_common import HIANIME_ID, PageParams, RowOut

AnimeKind = Literal["tv", "tv_short", "movie", "ova", "ona", "special", "music"]
AnimeStatus = Literal["announced", "ongoing", "released"]
Season = Literal["winter", "spring", "summer", "fall"]
AnimeSort = Literal["-created_at", "-score", "-year", "title"]

MAX_BATCH_IDS = 500
MIN_QUERY_LENGTH = 2
# The columns' ranges (INTEGER, SMALLINT): past them a value is a 422 here, not a 500
# from the database.
MAX_INT = 2_147_483_647
MAX_SMALLINT = 32_767


# --- responses (rows of our own database: `RowOut.from_row`, not validated again) ---


class AnimeOut(RowOut):
    id: uuid.UUID
    slug: str
    title: str
    title_original: str | None
    title_en: str | None
    title_native: str | None
    synonyms: list[str]
    description: str | None
    kind: AnimeKind | None
    status: AnimeStatus | None
    year: int | None
    season: Season | None
    genres: list[str]
    episodes_total: int | None
    poster: str | None
    score: float | None
    anilist_id: int | None
    mal_id: int | None
    hianime_id: str | None
    created_at: datetime.datetime
    updated_at: datetime.datetime


class ReleaseOut(RowOut):
    id: uuid.UUID
    anime_id: uuid.UUID
    title: str
    kind: str | None
    season_number: int | None
    year: int | None
    status: str | None
    episodes_total: int | None
    created_at: datetime.datetime


class EpisodeOut(RowOut):
    id: uuid.UUID
    release_id: uuid.UUID
    number: int
    title: str | None
    duration_seconds: int | None
    air_date: datetime.date | None
    hianime_episode_id: str | None


class EpisodeLookupOut(EpisodeOut):
    anime_id: uuid.UUID


class HianimeEpisodeOut(BaseModel):
    episode_id: uuid.UUID
    hianime_episode_id: str


# --- query strings ---


class AnimeListQuery(PageParams):
    genre: str | None = Field(default=None, min_length=1, max_length=64)
    year: int | None = Field(default=None, ge=1900, le=2100)
    status: AnimeStatus | None = None
    kind: AnimeKind | None = None
    sort: AnimeSort = "-created_at"

    @field_validator("genre")
    @classmethod
    def _lower_genre(cls, value: str | None) -> str | None:
        # Genres are stored in lower case ("slice of life").
        return value.strip().lower() if value is not None else None


class ReleaseListQuery(PageParams):
    anime_id: uuid.UUID | None = None


class EpisodeListQuery(PageParams):
    """Without `limit`, every episode of the release (the frontend reads the list whole)."""

    release_id: uuid.UUID
    limit: int | None = Field(default=None, ge=1, le=100)  # type: ignore[assignment]


class SearchQuery(PageParams):
    q: str = Field(min_length=MIN_QUERY_LENGTH, max_length=200)

    @field_validator("q")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        value = value.strip()
        if len(value) < MIN_QUERY_LENGTH:
            raise ValueError(f"must be at least {MIN_QUERY_LENGTH} characters")
        return value


# --- internal bodies ---


class EpisodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: int = Field(ge=0, le=MAX_INT)
    title: str | None = None
    duration_seconds: int | None = Field(default=None, ge=0, le=MAX_INT)
    air_date: datetime.date | None = None
    hianime_episode_id: str | None = Field(default=None, min_length=1, max_length=200)


class ReleaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=500)
    kind: AnimeKind | None = None
    season_number: int | None = Field(default=None, ge=0, le=MAX_SMALLINT)
    year: int | None = Field(default=None, ge=1900, le=2100)
    status: AnimeStatus | None = None
    episodes_total: int | None = Field(default=None, ge=0, le=MAX_INT)
    # None: leave the stored episodes alone; a list: upsert these numbers.
    episodes: list[EpisodeIn] | None = None


class AnimeIn(BaseModel):
    """An anime to create or update, keyed by `anilist_id` or `hianime_id`."""

    model_config = ConfigDict(extra="forbid")

    slug: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]{0,199}$")
    title: str = Field(min_length=1, max_length=500)
    title_original: str | None = None
    title_en: str | None = None
    title_native: str | None = None
    synonyms: list[str] = Field(default_factory=list, max_length=50)
    description: str | None = None
    kind: AnimeKind | None = None
    status: AnimeStatus | None = None
    year: int | None = Field(default=None, ge=1900, le=2100)
    season: Season | None = None
    genres: list[str] = Field(default_factory=list, max_length=30)
    episodes_total: int | None = Field(default=None, ge=0, le=MAX_INT)
    poster: str | None = None
    score: float | None = Field(default=None, ge=0, le=10)
    anilist_id: int | None = Field(default=None, ge=1, le=MAX_INT)
    mal_id: int | None = Field(default=None, ge=1, le=MAX_INT)
    hianime_id: str | None = Field(default=None, pattern=HIANIME_ID.pattern)
    releases: list[ReleaseIn] | None = None

    @model_validator(mode="after")
    def _has_key(self) -> AnimeIn:
        if self.anilist_id is None and self.hianime_id is None:
            raise ValueError("anilist_id or hianime_id is required")
        return self


class IdsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[uuid.UUID] = Field(max_length=MAX_BATCH_IDS)


class ExternalIdsIn(BaseModel):
    """AniList and MyAnimeList ids to find in the catalog (an import matches by id first)."""

    model_config = ConfigDict(extra="forbid")

    anilist_ids: list[Annotated[int, Field(ge=1, le=MAX_INT)]] = Field(
        default_factory=list, max_length=MAX_BATCH_IDS
    )
    mal_ids: list[Annotated[int, Field(ge=1, le=MAX_INT)]] = Field(
        default_factory=list, max_length=MAX_BATCH_IDS
    )
