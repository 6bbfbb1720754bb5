"""What `/collections` accepts and answers (API.md, Collections)."""

from __future__ import annotations

import datetime
import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, WithJsonSchema

from anime_common import PageParams
from anime_library.anime import AnimeReference, AnimeSummary


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
