"""All SQL of the media service."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from anime_media.models import Avatar

# Namespaces the advisory lock keys of avatar changes (hashed with the user id).
_LOCK_NAMESPACE = "anime_media.avatar:"


async def lock_user_avatar(*, session: AsyncSession, user_id: uuid.UUID) -> None:
    """Serialize avatar changes of one user until the transaction ends.

    A row lock is not enough: a user's first upload has no row to lock yet.
    """
    key = func.hashtextextended(_LOCK_NAMESPACE + str(user_id), 0)
    await session.execute(select(func.pg_advisory_xact_lock(key)))


async def get_avatar(*, session: AsyncSession, user_id: uuid.UUID) -> Avatar | None:
    result = await session.execute(select(Avatar).where(Avatar.user_id == user_id))
    return result.scalar_one_or_none()


async def save_avatar(*, session: AsyncSession, avatar: Avatar) -> None:
    """Insert or replace the user's row from a transient `Avatar` (one upsert statement)."""
    values = {
        column.key: getattr(avatar, column.key)
        for column in Avatar.__table__.columns
        if column.key != "created_at"
    }
    statement = insert(Avatar).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=[Avatar.user_id],
        set_={
            **{key: statement.excluded[key] for key in values if key != "user_id"},
            "created_at": func.now(),
        },
    )
    await session.execute(statement)
