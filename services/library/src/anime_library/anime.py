"""What every domain of the library asks the catalog: which anime a reference names, and
the `anime` object (id, title, poster) its answers carry beside their own rows."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from pydantic import BaseModel, Field

from anime_common import NotFoundError, ValidationError
from anime_library.catalog_client import AnimeInfo
from anime_library.state import LibraryState

# A catalog UUID or a HiAnime id such as `one-piece-100`.
AnimeReference = Field(min_length=1, max_length=200)


class AnimeSummary(BaseModel):
    id: uuid.UUID
    title: str | None
    poster: str | None


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def anime_summary(anime: AnimeInfo | None, anime_id: uuid.UUID) -> AnimeSummary:
    # An anime the catalog dropped keeps its place in the list, without a title.
    if anime is None:
        return AnimeSummary(id=anime_id, title=None, poster=None)
    return AnimeSummary(id=anime.id, title=anime.title, poster=anime.poster)


class HasAnime(Protocol):
    @property
    def anime_id(self) -> uuid.UUID: ...


RowT = TypeVar("RowT", bound=HasAnime)
OutT = TypeVar("OutT")


async def with_anime(
    *,
    state: LibraryState,
    rows: Sequence[RowT],
    render: Callable[[RowT, AnimeSummary], OutT],
) -> list[OutT]:
    """Each row rendered with its anime: one catalog batch call for all of them."""
    anime = await state.catalog.lookup(row.anime_id for row in rows)
    return [render(row, anime_summary(anime.get(row.anime_id), row.anime_id)) for row in rows]


async def anime_id_for_reading(*, state: LibraryState, reference: str) -> uuid.UUID | None:
    """A UUID is used as it is (no catalog call); a HiAnime id is resolved."""
    try:
        return uuid.UUID(reference)
    except ValueError:
        pass
    try:
        return (await state.catalog.resolve(reference)).id
    except NotFoundError:
        return None


async def anime_with_episode(
    *, state: LibraryState, reference: str, episode: int | None
) -> AnimeInfo:
    """The anime of `reference`; a 422 when `episode` is past its episode count.

    The catalog is asked again before refusing: a cached count may predate the
    episode that aired since.
    """
    anime = await state.catalog.resolve(reference)
    if episode is not None and anime.episodes_total and episode > anime.episodes_total:
        # By the same reference, so the entry it was read from is the one renewed.
        anime = await state.catalog.resolve(reference, fresh=True)
        if anime.episodes_total and episode > anime.episodes_total:
            raise ValidationError.for_field(
                "episode", f"this anime has {anime.episodes_total} episodes"
            )
    return anime
