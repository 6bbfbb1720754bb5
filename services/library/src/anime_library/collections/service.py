"""The rules of collections: a user's named lists of anime, private unless made public.

Unlike favorites and progress, collection writes are synchronous: the answer
carries the collection as committed (201 on create), because the frontend
shows it at once and a name conflict must be a 409, not a failed job.

- Names are unique per user, ignoring case and surrounding spaces (409).
- At most `max_items` items per collection and `per_user` collections per
  user (422); adding an item locks its collection's row, so concurrent adds
  cannot pass the bound together.
- Another user's private collection does not exist for the caller (404);
  another user's public one may be read, never changed (404 on writes too:
  a 403 would log the frontend out).
- Anime are checked with the catalog before anything is written (404).

Writes take the session of the route's transaction and never commit; the
route reads the collection back (`collection_detail`) once it is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from anime_common import ConflictError, NotFoundError, ValidationError, parse_path_id
from anime_library.anime import (
    AnimeSummary,
    anime_id_for_reading,
    anime_summary,
    utc_now,
    with_anime,
)
from anime_library.collections import repository
from anime_library.collections.repository import CollectionRow, ItemRow
from anime_library.collections.schemas import (
    CollectionDetailOut,
    CollectionIn,
    CollectionItemOut,
    CollectionOut,
    CollectionPatch,
)
from anime_library.state import LibraryState

_RESOLVE_CONCURRENCY = 4


@dataclass(frozen=True, slots=True)
class CollectionLimits:
    max_items: int
    per_user: int


def _visible(row: CollectionRow | None, viewer: uuid.UUID) -> CollectionRow:
    """A collection the viewer may read: their own, or a public one."""
    if row is None or (row.user_id != viewer and not row.is_public):
        raise NotFoundError("Collection not found")
    return row


def _owned(row: CollectionRow | None, user_id: uuid.UUID) -> CollectionRow:
    """A collection the user may change: their own."""
    if row is None or row.user_id != user_id:
        raise NotFoundError("Collection not found")
    return row


async def _check_owned(
    *, state: LibraryState, collection_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """Before asking the catalog: a collection the caller cannot change is a 404 first."""
    async with state.reader.acquire() as connection:
        _owned(
            await repository.get_collection(connection=connection, collection_id=collection_id),
            user_id,
        )


# --- rendering --------------------------------------------------------------------------


def collection_out(row: CollectionRow) -> CollectionOut:
    return CollectionOut(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        description=row.description,
        is_public=row.is_public,
        items_count=row.items_count,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _item_out(item: ItemRow, anime: AnimeSummary) -> CollectionItemOut:
    return CollectionItemOut(anime_id=item.anime_id, added_at=item.added_at, anime=anime)


async def collection_detail(
    *, state: LibraryState, collection_id: uuid.UUID
) -> CollectionDetailOut:
    """A collection with its items, as committed (after a write)."""
    async with state.reader.acquire() as connection:
        row = await repository.get_collection(connection=connection, collection_id=collection_id)
        if row is None:
            raise NotFoundError("Collection not found")  # deleted right after the write
        items = await repository.list_items(connection=connection, collection_id=collection_id)
    return await _detail(state=state, row=row, items=items)


async def _detail(
    *, state: LibraryState, row: CollectionRow, items: Sequence[ItemRow]
) -> CollectionDetailOut:
    items_out = await with_anime(state=state, rows=items, render=_item_out)
    return CollectionDetailOut(**collection_out(row).model_dump(), items=items_out)


# --- anime -------------------------------------------------------------------------------


async def _resolve_all(*, state: LibraryState, references: Sequence[str]) -> list[uuid.UUID]:
    """Catalog ids of the anime named (UUIDs in one batch call), in order, without repeats.

    Any unknown anime is a 404 naming it, before anything is written.
    """
    given = list(dict.fromkeys(references))
    as_ids: dict[str, uuid.UUID] = {}
    for reference in given:
        with contextlib.suppress(ValueError):
            as_ids[reference] = uuid.UUID(reference)
    known = await state.catalog.lookup(as_ids.values())
    others = [reference for reference in given if reference not in as_ids]
    # HiAnime ids the catalog does not know are imported from the upstream: a
    # few at a time, so one request cannot send it hundreds at once.
    slots = asyncio.Semaphore(_RESOLVE_CONCURRENCY)
    resolved = await asyncio.gather(*(_resolve_one(state, ref, slots) for ref in others))
    by_reference = dict(zip(others, resolved, strict=True))
    found: list[uuid.UUID] = []
    for reference in given:
        anime_id = as_ids.get(reference) or by_reference.get(reference)
        if anime_id is None or (reference in as_ids and anime_id not in known):
            raise NotFoundError(f"Anime not found: {reference}")
        found.append(anime_id)
    return list(dict.fromkeys(found))


async def _resolve_one(
    state: LibraryState, reference: str, slots: asyncio.Semaphore
) -> uuid.UUID | None:
    async with slots:
        return await anime_id_for_reading(state=state, reference=reference)


# --- reads -----------------------------------------------------------------------------------


async def list_collections(
    *, state: LibraryState, viewer: uuid.UUID, owner: uuid.UUID | None, limit: int, offset: int
) -> tuple[list[CollectionOut], int]:
    """The viewer's own collections, or another user's public ones."""
    user_id = owner or viewer
    async with state.reader.acquire() as connection:
        rows, total = await repository.list_collections(
            connection=connection,
            user_id=user_id,
            public_only=user_id != viewer,
            limit=limit,
            offset=offset,
        )
    return [collection_out(row) for row in rows], total


async def get_collection(
    *, state: LibraryState, viewer: uuid.UUID, raw_id: str
) -> CollectionDetailOut:
    collection_id = parse_path_id(raw_id, what="Collection")
    async with state.reader.acquire() as connection:
        row = _visible(
            await repository.get_collection(connection=connection, collection_id=collection_id),
            viewer,
        )
        items = await repository.list_items(connection=connection, collection_id=collection_id)
    return await _detail(state=state, row=row, items=items)


async def list_items(
    *, state: LibraryState, viewer: uuid.UUID, raw_id: str, limit: int, offset: int
) -> tuple[list[CollectionItemOut], int]:
    collection_id = parse_path_id(raw_id, what="Collection")
    async with state.reader.acquire() as connection:
        row = _visible(
            await repository.get_collection(connection=connection, collection_id=collection_id),
            viewer,
        )
        items = await repository.list_items(
            connection=connection, collection_id=collection_id, limit=limit, offset=offset
        )
    return await with_anime(state=state, rows=items, render=_item_out), row.items_count


# --- writes ----------------------------------------------------------------------------------


async def create_collection(
    *,
    session: AsyncSession,
    state: LibraryState,
    limits: CollectionLimits,
    user_id: uuid.UUID,
    data: CollectionIn,
) -> uuid.UUID:
    """Create it (with its anime, checked first); the new collection's id."""
    # Checked before the catalog is asked; resolving can only merge references.
    if len(set(data.anime_ids)) > limits.max_items:
        raise ValidationError.for_field(
            "anime_ids", f"a collection holds at most {limits.max_items} anime"
        )
    anime_ids = await _resolve_all(state=state, references=data.anime_ids)
    collection_id, at = uuid.uuid4(), utc_now()
    await repository.lock_user(session=session, user_id=user_id)
    if await repository.count_collections(session=session, user_id=user_id) >= limits.per_user:
        raise ValidationError.for_field("name", f"a user has at most {limits.per_user} collections")
    created = await repository.insert_collection(
        session=session,
        collection_id=collection_id,
        user_id=user_id,
        name=data.name,
        description=data.description,
        is_public=data.is_public,
        at=at,
    )
    if not created:
        raise ConflictError("You already have a collection with this name")
    await repository.add_items(
        session=session, collection_id=collection_id, anime_ids=anime_ids, at=at
    )
    return collection_id


async def update_collection(
    *, session: AsyncSession, user_id: uuid.UUID, raw_id: str, data: CollectionPatch
) -> uuid.UUID:
    """Change the fields given; the collection's id."""
    collection_id = parse_path_id(raw_id, what="Collection")
    for column in ("name", "is_public"):
        if column in data.model_fields_set and getattr(data, column) is None:
            raise ValidationError.for_field(column, "must not be null")
    _owned(await repository.lock_collection(session=session, collection_id=collection_id), user_id)
    updated = await repository.update_collection(
        session=session,
        collection_id=collection_id,
        at=utc_now(),
        name=data.name,
        description=data.description,
        set_description="description" in data.model_fields_set,
        is_public=data.is_public,
    )
    if not updated:
        raise ConflictError("You already have a collection with this name")
    return collection_id


async def delete_collection(*, session: AsyncSession, user_id: uuid.UUID, raw_id: str) -> None:
    collection_id = parse_path_id(raw_id, what="Collection")
    _owned(await repository.lock_collection(session=session, collection_id=collection_id), user_id)
    await repository.delete_collection(session=session, collection_id=collection_id)


async def add_item(
    *,
    session: AsyncSession,
    state: LibraryState,
    limits: CollectionLimits,
    user_id: uuid.UUID,
    raw_id: str,
    reference: str,
) -> tuple[CollectionItemOut, bool]:
    """Add an anime; `(item, True)` when added, `(item, False)` when it was there already."""
    collection_id = parse_path_id(raw_id, what="Collection")
    await _check_owned(state=state, collection_id=collection_id, user_id=user_id)
    anime = await state.catalog.resolve(reference)
    row = _owned(
        await repository.lock_collection(session=session, collection_id=collection_id), user_id
    )
    item = await repository.get_item(
        session=session, collection_id=collection_id, anime_id=anime.id
    )
    created = item is None
    if item is None:
        if row.items_count >= limits.max_items:
            raise ValidationError.for_field(
                "anime_id", f"this collection already holds {limits.max_items} anime"
            )
        at = utc_now()
        await repository.add_items(
            session=session, collection_id=collection_id, anime_ids=[anime.id], at=at
        )
        await repository.update_collection(session=session, collection_id=collection_id, at=at)
        item = ItemRow(anime_id=anime.id, added_at=at)
    return _item_out(item, anime_summary(anime, anime.id)), created


async def remove_item(
    *, session: AsyncSession, state: LibraryState, user_id: uuid.UUID, raw_id: str, reference: str
) -> None:
    collection_id = parse_path_id(raw_id, what="Collection")
    await _check_owned(state=state, collection_id=collection_id, user_id=user_id)
    anime_id = await anime_id_for_reading(state=state, reference=reference)
    _owned(await repository.lock_collection(session=session, collection_id=collection_id), user_id)
    removed = anime_id is not None and await repository.remove_item(
        session=session, collection_id=collection_id, anime_id=anime_id
    )
    if not removed:
        raise NotFoundError("This anime is not in the collection")
    await repository.update_collection(session=session, collection_id=collection_id, at=utc_now())
