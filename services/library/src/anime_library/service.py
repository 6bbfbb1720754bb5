"""The library's rules: what is checked before a change is queued, and what its job writes.

Requests never write: they validate (the anime through the catalog, the
numbers against its episode count and duration), submit a job (committed to
library.jobs before the answer) and answer 202. The job handlers below are the
only writers, each in the runner's transaction; any replica may run them, and
a job may run twice (its worker died), so every handler is an idempotent upsert.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from anime_common import (
    HIANIME_ID,
    Database,
    FieldError,
    NotFoundError,
    ReadPool,
    ValidationError,
    parse_path_id,
)
from anime_library import repository
from anime_library.catalog_client import AnimeInfo, CatalogClient
from anime_library.jobs import Job, JobRunner, JobStatus, Work, job_from_row
from anime_library.repository import FavoriteRow, ProgressRow
from anime_library.schemas import ProgressIn

# An episode counts as watched from here on (API.md).
COMPLETED_PERCENT = 90.0
# Favorite ids are derived from (user, anime): two identical requests, two
# replicas or a re-add after a removal all name the same favorite.
_FAVORITE_NAMESPACE = uuid.UUID("6f1c2a4e-9a43-4c55-8f0e-1d3c5b7a9e21")


@dataclass(frozen=True, slots=True)
class LibraryState:
    """The long-lived parts of the service, built in its lifespan."""

    database: Database  # writes: the job handlers' and collections' transactions
    # Reads: plain asyncpg (`anime_common.create_read_pool`), as in the catalog
    # (PERF_NOTES.md: ≈3x the reads/s of SQLAlchemy Core).
    reader: ReadPool
    catalog: CatalogClient
    runner: JobRunner


def favorite_id(*, user_id: uuid.UUID, anime_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(_FAVORITE_NAMESPACE, f"{user_id}:{anime_id}")


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


# --- job handlers: the only writers -----------------------------------------------------


async def write_favorites(*, session: AsyncSession, payloads: Sequence[Any]) -> None:
    await repository.insert_favorites(session=session, rows=payloads)


@dataclass(frozen=True, slots=True)
class FavoritePair:
    """The payload of a removal: which favorite goes."""

    user_id: uuid.UUID
    anime_id: uuid.UUID


async def remove_favorites(*, session: AsyncSession, payloads: Sequence[Any]) -> None:
    pairs: Sequence[FavoritePair] = payloads
    await repository.delete_favorites(
        session=session, pairs=[(pair.user_id, pair.anime_id) for pair in pairs]
    )


async def write_progress(*, session: AsyncSession, payloads: Sequence[Any]) -> None:
    for row in payloads:
        check_progress(row)
    await repository.upsert_progress(session=session, rows=payloads)


def check_progress(row: ProgressRow) -> None:
    """What the route validated, checked again where the row is written."""
    problems: list[FieldError] = []
    if row.episode < 1:
        problems.append({"field": "episode", "message": "must be at least 1"})
    if row.position_seconds is not None and row.position_seconds < 0:
        problems.append({"field": "position_seconds", "message": "must not be negative"})
    if row.progress_percent is not None and not 0 <= row.progress_percent <= 100:
        problems.append({"field": "progress_percent", "message": "must be between 0 and 100"})
    if row.position_seconds is None and row.progress_percent is None:
        problems.append({"field": "position_seconds", "message": "no progress given"})
    if problems:
        raise ValidationError("Invalid watch progress", fields=problems)


# --- favorites ----------------------------------------------------------------------------


def _favorite_lane(user_id: uuid.UUID, anime_id: uuid.UUID | str) -> str:
    # Add and remove of one favorite share a lane, so they land in the order sent.
    return f"favorite:{user_id}:{anime_id}"


async def add_favorite(
    *, state: LibraryState, user_id: uuid.UUID, reference: str
) -> tuple[FavoriteRow, Job]:
    """Check the anime, then queue the insert; an existing favorite keeps its id and date.

    A second add while one is open (from any replica) answers that job and the
    row it will write.
    """
    anime = await state.catalog.resolve(reference)
    row = FavoriteRow(
        id=favorite_id(user_id=user_id, anime_id=anime.id),
        user_id=user_id,
        anime_id=anime.id,
        created_at=utc_now(),
    )
    key = f"favorite:add:{user_id}:{anime.id}"
    async with state.reader.acquire() as connection:
        # A stored favorite whose removal is still open is about to go: a new add,
        # run after the removal (their lane), writes it again.
        stored, added = await repository.favorite_to_keep(
            connection=connection,
            user_id=user_id,
            anime_id=anime.id,
            add_key=key,
            removal_key=f"favorite:remove:{user_id}:{anime.id}",
        )
    if stored is not None and added is not None and added.status != JobStatus.FAILED:
        # Written (or being written) by that job: it is the answer, from any replica.
        return stored, job_from_row(added)
    job = await state.runner.submit(
        key,
        Work(write_favorites, stored or row, lane=_favorite_lane(user_id, anime.id)),
        owner=user_id,
    )
    written: FavoriteRow = job.payload
    return written, job


async def remove_favorite(*, state: LibraryState, user_id: uuid.UUID, reference: str) -> Job:
    """Queue the removal of a favorite named by its id, its anime's id or HiAnime id."""
    anime_id: uuid.UUID | None = None
    try:
        given = uuid.UUID(reference)
    except ValueError:
        given = None
    if given is not None:
        async with state.reader.acquire() as connection:
            # Stored, or still to be written by an open add.
            anime_id = await repository.favorite_anime_id(
                connection=connection, user_id=user_id, favorite_id=given
            )
        anime_id = anime_id or given
    elif HIANIME_ID.fullmatch(reference):
        try:
            anime_id = (await state.catalog.resolve(reference)).id
        except NotFoundError:
            anime_id = None
    target: uuid.UUID | str = anime_id or reference
    lane = _favorite_lane(user_id, target)
    work = (
        Work(remove_favorites, FavoritePair(user_id=user_id, anime_id=anime_id), lane=lane)
        if anime_id is not None
        else Work(remove_nothing, None, lane=lane)
    )
    return await state.runner.submit(f"favorite:remove:{user_id}:{target}", work, owner=user_id)


async def remove_nothing(*, session: AsyncSession, payloads: Sequence[Any]) -> None:
    """The job of a removal that matched no anime: succeeds, writes nothing (API.md: 202)."""


async def list_favorites(
    *, state: LibraryState, user_id: uuid.UUID, reference: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """A page of the user's favorites; with `reference`, the favorite of that anime (0 or 1)."""
    anime_id: uuid.UUID | None = None
    if reference is not None:
        anime_id = await anime_id_for_reading(state=state, reference=reference)
        if anime_id is None:
            return [], 0
    async with state.reader.acquire() as connection:
        rows, total = await repository.list_favorites(
            connection=connection, user_id=user_id, anime_id=anime_id, limit=limit, offset=offset
        )
    return await with_anime(
        state=state,
        rows=rows,
        fields=lambda row: {"id": row.id, "anime_id": row.anime_id, "created_at": row.created_at},
    ), total


def anime_summary(anime: AnimeInfo | None, anime_id: uuid.UUID) -> dict[str, Any]:
    # An anime the catalog dropped keeps its place in the list, without a title.
    if anime is None:
        return {"id": anime_id, "title": None, "poster": None}
    return anime.summary()


class HasAnime(Protocol):
    @property
    def anime_id(self) -> uuid.UUID: ...


RowT = TypeVar("RowT", bound=HasAnime)


async def with_anime(
    *, state: LibraryState, rows: Sequence[RowT], fields: Callable[[RowT], dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each row's `fields` plus its `anime` (id, title, poster): one catalog batch call."""
    anime = await state.catalog.lookup(row.anime_id for row in rows)
    return [
        {**fields(row), "anime": anime_summary(anime.get(row.anime_id), row.anime_id)}
        for row in rows
    ]


# --- watch progress ----------------------------------------------------------------------


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


async def episode_duration_within(
    *, state: LibraryState, anime_id: uuid.UUID, episode: int, position: float
) -> int | None:
    """The episode's duration (None when unknown); a 422 when `position` is past it.

    As for the count, the catalog is asked again before refusing.
    """
    duration = await state.catalog.episode_duration(anime_id=anime_id, episode=episode)
    if duration and position > duration:
        duration = await state.catalog.episode_duration(
            anime_id=anime_id, episode=episode, fresh=True
        )
        if duration and position > duration:
            raise ValidationError.for_field(
                "position_seconds", f"this episode lasts {duration} seconds"
            )
    return duration


async def record_progress(
    *, state: LibraryState, user_id: uuid.UUID, data: ProgressIn
) -> tuple[ProgressRow, Job]:
    """Validate against the catalog (API.md), then queue the upsert; the newest one wins."""
    if data.position_seconds is None and data.progress_percent is None:
        message = "position_seconds or progress_percent is required"
        raise ValidationError(
            "Invalid watch progress",
            fields=[
                {"field": "position_seconds", "message": message},
                {"field": "progress_percent", "message": message},
            ],
        )
    anime = await anime_with_episode(state=state, reference=data.anime_id, episode=data.episode)
    percent = data.progress_percent
    if data.position_seconds is not None:
        duration = await episode_duration_within(
            state=state, anime_id=anime.id, episode=data.episode, position=data.position_seconds
        )
        if percent is None and duration:
            percent = round(data.position_seconds * 100 / duration, 2)
    row = ProgressRow(
        user_id=user_id,
        anime_id=anime.id,
        episode=data.episode,
        position_seconds=data.position_seconds,
        progress_percent=percent,
        completed=percent is not None and percent >= COMPLETED_PERCENT,
        last_watched_at=utc_now(),
    )
    key = f"watch-progress:{user_id}:{anime.id}:{data.episode}"
    job = await state.runner.submit(key, Work(write_progress, row), owner=user_id, replace=True)
    return row, job


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


async def progress_of(
    *, state: LibraryState, user_id: uuid.UUID, reference: str, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    anime_id = await anime_id_for_reading(state=state, reference=reference)
    if anime_id is None:
        return [], 0
    async with state.reader.acquire() as connection:
        rows, total = await repository.progress_of_anime(
            connection=connection, user_id=user_id, anime_id=anime_id, limit=limit, offset=offset
        )
    return [
        {
            "episode": row.episode,
            "position_seconds": row.position_seconds,
            "progress_percent": row.progress_percent,
            "completed": row.completed,
            "last_watched_at": row.last_watched_at,
        }
        for row in rows
    ], total


async def continue_watching(
    *, state: LibraryState, user_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    async with state.reader.acquire() as connection:
        rows, total = await repository.continue_watching(
            connection=connection, user_id=user_id, limit=limit, offset=offset
        )
    return await with_anime(
        state=state,
        rows=rows,
        fields=lambda row: {
            "anime_id": row.anime_id,
            "episode": row.episode,
            "position_seconds": row.position_seconds,
            "progress_percent": row.progress_percent,
            "last_watched_at": row.last_watched_at,
        },
    ), total


# --- jobs ----------------------------------------------------------------------------------


async def job_of(*, state: LibraryState, user_id: uuid.UUID, raw_id: str) -> Job:
    """A job of this user, from any replica; anyone else's (or an unknown, pruned one): 404."""
    job = await state.runner.get(parse_path_id(raw_id, what="Job"))
    if job is None or job.owner != user_id:
        raise NotFoundError("Job not found")
    return job
