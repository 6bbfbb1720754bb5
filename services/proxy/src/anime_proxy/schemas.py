"""What the proxy accepts: every query value is validated here, before any upstream call."""

from __future__ import annotations

import datetime
import re
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from anime_common import HIANIME_ID

# HiAnime ids are slugs ending in a number (`attack-on-titan-112`): only these characters
# ever reach an upstream URL, so no `/`, `..`, `?` or `%` can change where a request goes.
EPISODE_ID = re.compile(
    r"^(?P<anime>" + HIANIME_ID.pattern.strip("^$") + r")\?ep=(?P<ep>[0-9]{1,10})$"
)
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
# Search filter values are kebab words (`sub-&-dub`, `pg-13`, `r+`) or CSV of them (genres).
_FILTER = r"^[a-z0-9&+-]{1,40}$"
_FILTER_LIST = r"^[a-z0-9&+-]{1,40}(,[a-z0-9&+-]{1,40}){0,40}$"

Category = Literal["sub", "dub", "raw"]


def normalize_date(value: Any) -> Any:
    """`YYYY-MM-DD` or `M/D/YYYY` (the frontend's `toLocaleDateString`) to ISO; else invalid."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if match := _ISO_DATE.fullmatch(text):
        year, month, day = (int(part) for part in match.groups())
    elif match := _US_DATE.fullmatch(text):
        month, day, year = (int(part) for part in match.groups())
    else:
        raise ValueError("must be a date as YYYY-MM-DD or M/D/YYYY")
    try:
        return datetime.date(year, month, day).isoformat()
    except ValueError:
        raise ValueError("is not a calendar date") from None


# As documented: the two shapes normalize_date accepts (the calendar check is its own).
_DATE_SCHEMA = {"type": "string", "pattern": r"^(\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{4})$"}
IsoDate = Annotated[str, BeforeValidator(normalize_date), WithJsonSchema(_DATE_SCHEMA)]


class _Query(BaseModel):
    # Unknown parameters are ignored, never forwarded: only what is declared reaches upstream.
    model_config = ConfigDict(extra="ignore", frozen=True)

    def upstream_params(self) -> dict[str, str]:
        return {
            key: str(value)
            for key, value in self.model_dump(by_alias=True, exclude_none=True).items()
        }


class ScheduleQuery(_Query):
    date: IsoDate | None = None
    # Minutes, like JavaScript's getTimezoneOffset (aniwatch-api's default is -330).
    tzOffset: int | None = Field(default=None, ge=-840, le=720)


class _TextQuery(_Query):
    q: str = Field(min_length=1, max_length=200)

    @field_validator("q")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value


class SuggestionQuery(_TextQuery):
    pass


class SearchQuery(_TextQuery):
    page: int | None = Field(default=None, ge=1, le=10_000)
    type: str | None = Field(default=None, pattern=_FILTER)
    status: str | None = Field(default=None, pattern=_FILTER)
    rated: str | None = Field(default=None, pattern=_FILTER)
    score: str | None = Field(default=None, pattern=_FILTER)
    season: str | None = Field(default=None, pattern=_FILTER)
    language: str | None = Field(default=None, pattern=_FILTER)
    sort: str | None = Field(default=None, pattern=_FILTER)
    genres: str | None = Field(default=None, pattern=_FILTER_LIST)
    start_date: IsoDate | None = None
    end_date: IsoDate | None = None


def _episode_id(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        try:
            return uuid.UUID(text)
        except ValueError:
            pass
        if EPISODE_ID.fullmatch(text):
            return text
        raise ValueError("must be a HiAnime episode id (<anime-id>?ep=<n>) or an episode UUID")
    return value


EpisodeRef = Annotated[
    uuid.UUID | str,
    BeforeValidator(_episode_id),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "uuid"},
                {"type": "string", "pattern": re.sub(r"\?P<\w+>", "", EPISODE_ID.pattern)},
            ]
        }
    ),
]


class ServersQuery(_Query):
    animeEpisodeId: EpisodeRef


class SourcesQuery(_Query):
    animeEpisodeId: EpisodeRef
    server: str | None = Field(default=None, pattern=r"^[a-z0-9-]{1,32}$")
    category: Category = "sub"


# --- the AniList import -------------------------------------------------------------

# AniList's ids and counts are GraphQL `Int`s, 32-bit signed, as are the catalog's
# columns they go to: a larger one is refused here, not by the catalog (a 502).
MAX_INT32 = 2**31 - 1


class AniListTitle(BaseModel):
    model_config = ConfigDict(extra="ignore")

    romaji: str | None = None
    english: str | None = None
    native: str | None = None


class AniListCover(BaseModel):
    model_config = ConfigDict(extra="ignore")

    extraLarge: str | None = None
    large: str | None = None
    medium: str | None = None


class AniListDate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    year: int | None = None


class AniListMedia(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int = Field(ge=1, le=MAX_INT32)
    idMal: int | None = Field(default=None, ge=1, le=MAX_INT32)
    title: AniListTitle = Field(default_factory=AniListTitle)
    coverImage: AniListCover | None = None
    description: str | None = None
    genres: list[str] | None = None
    episodes: int | None = Field(default=None, ge=0, le=MAX_INT32)
    seasonYear: int | None = None
    startDate: AniListDate | None = None
    synonyms: list[str] | None = None
    format: str | None = None


AniListStatus = Literal["CURRENT", "PLANNING", "COMPLETED", "DROPPED", "PAUSED", "REPEATING"]


class AniListEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: AniListStatus | None = None
    media: AniListMedia


class AniListList(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = None
    status: AniListStatus | None = None
    entries: list[AniListEntry] = Field(default_factory=list)


class ImportIn(BaseModel):
    """Either the user's AniList lists, or an AniList user name to fetch them for."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "oneOf": [
                {"required": ["animes"], "properties": {"animes": {"type": "array"}}},
                {"required": ["username"], "properties": {"username": {"type": "string"}}},
            ]
        },
    )

    animes: list[AniListList] | None = None
    username: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")

    @field_validator("username", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_source(self) -> ImportIn:
        if (self.animes is None) == (self.username is None):
            raise ValueError("give either animes or username")
        return self


class ImportedAnime(BaseModel):
    id: str
    anime_id: uuid.UUID
    thumbnail: str | None
    title: str
    status: str


class UnmatchedAnime(BaseModel):
    anilist_id: int
    title: str
    status: str
    reason: str


class ImportOut(BaseModel):
    animes: list[ImportedAnime]
    unmatched: list[UnmatchedAnime]


class HealthOut(BaseModel):
    status: Literal["ok"]
    upstream: Literal["ok", "down"]
