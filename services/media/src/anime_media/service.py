"""The rules of an avatar change: record, tell auth, and know what to clean up either way."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from anime_common import PeerTimeoutError, PeerUnavailableError
from anime_media import repository
from anime_media.auth_client import AuthClient
from anime_media.imaging import OUTPUT_CONTENT_TYPE, EncodedAvatar
from anime_media.models import Avatar
from anime_media.schemas import UserOut
from anime_media.storage import AvatarNames, avatar_url


@dataclass(frozen=True, slots=True)
class AvatarChange:
    """A change auth has accepted; the caller commits, then removes `previous`."""

    user: UserOut
    previous: AvatarNames | None

    @property
    def previous_url(self) -> str | None:
        return avatar_url(self.previous.file_name) if self.previous is not None else None


async def replace_avatar(
    *,
    session: AsyncSession,
    auth: AuthClient,
    user_id: uuid.UUID,
    names: AvatarNames,
    encoded: EncodedAvatar,
) -> AvatarChange:
    """Record the new files and point auth at them, inside the caller's transaction.

    Auth is called last, while this user's lock is held: if it refuses or cannot
    be reached, the transaction rolls back and nothing anywhere has changed. Two
    uploads of one user run one after the other, so each sees the other's files
    as "previous" and no file is ever left unrecorded.
    """
    await repository.lock_user_avatar(session=session, user_id=user_id)
    current = await repository.get_avatar(session=session, user_id=user_id)
    previous = (
        AvatarNames(file_name=current.file_name, thumbnail_name=current.thumbnail_name)
        if current is not None
        else None
    )
    await repository.save_avatar(
        session=session,
        avatar=Avatar(
            user_id=user_id,
            file_name=names.file_name,
            thumbnail_name=names.thumbnail_name,
            content_type=OUTPUT_CONTENT_TYPE,
            side=encoded.size,
            thumbnail_side=encoded.thumbnail_size,
            byte_size=len(encoded.avatar),
            thumbnail_byte_size=len(encoded.thumbnail),
            source_format=encoded.source_format,
            source_width=encoded.source_width,
            source_height=encoded.source_height,
        ),
    )
    try:
        user = await auth.set_avatar(user_id=user_id, avatar=avatar_url(names.file_name))
    except (PeerTimeoutError, PeerUnavailableError) as exc:
        if not exc.may_have_applied:
            raise
        # The update may have landed before the connection failed: put the old path back
        # so auth never points at the files the caller is about to remove.
        await auth.restore_avatar(
            user_id=user_id,
            avatar=avatar_url(previous.file_name) if previous is not None else None,
        )
        raise
    return AvatarChange(user=user, previous=previous)
