"""What `/favorites` accepts and answers (API.md, Library)."""

from __future__ import annotations

import datetime
import uuid

from pydantic import BaseModel, Field

from anime_common import PageParams
from anime_library.anime import AnimeReference, AnimeSummary
from anime_library.jobs.schemas import JobOut


class FavoriteIn(BaseModel):
    anime_id: str = AnimeReference


class FavoritesQuery(PageParams):
    # "Is this anime a favorite?" in one call: 0 or 1 favorite of that anime.
    anime_id: str | None = Field(default=None, min_length=1, max_length=200)


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
