"""The rules of favorites: what is checked before a change is queued, and what its job writes.

Requests never write: they validate (the anime through the catalog), submit a
job (committed to library.jobs before the answer) and answer 202. The jobs'
writes (`repository.ADD_FAVORITES`, `REMOVE_FAVORITES`) are the only writers,
each in the statement that finishes its jobs; any replica may run them, and a
job may run twice (its worker died), so every write is idempotent.
"""

from __future__ import annotations

import datetime
import uuid

from anime_common import HIANIME_ID, Batcher, NotFoundError, ReadPool
from anime_library.anime import AnimeSummary, anime_id_for_reading, utc_now, with_anime
from anime_library.favorites import repository
from anime_library.favorites.repository import FavoritePair, FavoriteRow
from anime_library.favorites.schemas import FavoriteAccepted, FavoriteOut
from anime_library.jobs.repository import JobRow
from anime_library.jobs.runner import JobStatus, Work, job_from_row
from anime_library.jobs.schemas import JobAccepted, JobOut
from anime_library.state import KeptFavorites, LibraryState

# Favorite ids are derived from (user, anime): two identical requests, two
# replicas or a re-add after a removal all name the same favorite.
_FAVORITE_NAMESPACE = uuid.UUID("6f1c2a4e-9a43-4c55-8f0e-1d3c5b7a9e21")


def favorite_id(*, user_id: uuid.UUID, anime_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(_FAVORITE_NAMESPACE, f"{user_id}:{anime_id}")


# --- requests -----------------------------------------------------------------------------


def _add_key(user_id: uuid.UUID, anime_id: uuid.UUID) -> str:
    return f"favorite:add:{user_id}:{anime_id}"


def _removal_key(user_id: uuid.UUID, anime_id: uuid.UUID | str) -> str:
    return f"favorite:remove:{user_id}:{anime_id}"


def kept_favorites(reader: ReadPool) -> KeptFavorites:
    """The stored favorite of a (user, anime) and its newest add job, batched (`Batcher`).

    Every add reads it first; under load one statement answers the adds that
    came while the last one ran (bench/library). Every pair asked gets an answer, whose
    `stored` is None when the favorite is not stored or its removal is open.
    """

    async def load(
        pairs: list[tuple[uuid.UUID, uuid.UUID]],
    ) -> dict[tuple[uuid.UUID, uuid.UUID], repository.KeptFavorite]:
        async with reader.acquire() as connection:
            return await repository.favorites_to_keep(
                connection=connection,
                pairs=pairs,
                add_keys=[_add_key(user, anime) for user, anime in pairs],
                removal_keys=[_removal_key(user, anime) for user, anime in pairs],
            )

    return Batcher(load)


def _favorite_lane(user_id: uuid.UUID, anime_id: uuid.UUID | str) -> str:
    # Add and remove of one favorite share a lane, so they land in the order sent.
    return f"favorite:{user_id}:{anime_id}"


async def add_favorite(
    *, state: LibraryState, user_id: uuid.UUID, reference: str
) -> FavoriteAccepted:
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
    # A stored favorite whose removal is still open is about to go: a new add,
    # run after the removal (their lane), writes it again.
    kept = await state.favorites_kept.get((user_id, anime.id))
    stored, added = (kept.stored, kept.newest_add) if kept is not None else (None, None)
    if stored is not None and added is not None and added.status != JobStatus.FAILED:
        # Written (or being written) by that job: it is the answer, from any replica.
        return _accepted(stored, JobOut.of(job_from_row(added)))
    job = await state.runner.submit(
        _add_key(user_id, anime.id),
        Work(repository.ADD_FAVORITES, stored or row, lane=_favorite_lane(user_id, anime.id)),
        owner=user_id,
        done_after=_unseen_after(added),
    )
    return _accepted(job.payload, JobOut.of(job))


# Earlier than any job: with no add job seen, any that succeeded since is the answer.
_BEFORE_ANY_JOB = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)


def _unseen_after(added: JobRow | None) -> datetime.datetime:
    """Add jobs created after this one did not exist, or were open, when the add read.

    Two identical adds at once: the second may read before the first job is
    stored and submit after it succeeded; that job is still its answer.
    """
    if added is None:
        return _BEFORE_ANY_JOB
    if added.status in (JobStatus.QUEUED, JobStatus.RUNNING):
        # It was open, so it counts too (PostgreSQL times are in microseconds).
        return added.created_at - datetime.timedelta(microseconds=1)
    return added.created_at


def _accepted(row: FavoriteRow, job: JobOut) -> FavoriteAccepted:
    return FavoriteAccepted(id=row.id, anime_id=row.anime_id, created_at=row.created_at, job=job)


async def remove_favorite(
    *, state: LibraryState, user_id: uuid.UUID, reference: str
) -> JobAccepted:
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
        Work(
            repository.REMOVE_FAVORITES, FavoritePair(user_id=user_id, anime_id=anime_id), lane=lane
        )
        if anime_id is not None
        else Work(repository.REMOVE_NOTHING, None, lane=lane)
    )
    job = await state.runner.submit(_removal_key(user_id, target), work, owner=user_id)
    return JobAccepted(job=JobOut.of(job))


async def list_favorites(
    *, state: LibraryState, user_id: uuid.UUID, reference: str | None, limit: int, offset: int
) -> tuple[list[FavoriteOut], int]:
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
    return await with_anime(state=state, rows=rows, render=_favorite_out), total


def _favorite_out(row: FavoriteRow, anime: AnimeSummary) -> FavoriteOut:
    return FavoriteOut(id=row.id, anime_id=row.anime_id, created_at=row.created_at, anime=anime)
