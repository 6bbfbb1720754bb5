"""Routes of the media service (`/health` and `/openapi.json` come from anime_common)."""

from __future__ import annotations

import logging
import uuid

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from anime_common import (
    JSONResponse,
    ServiceUnavailableError,
    current_principal,
    document,
    principal_user_id,
    requires,
)
from anime_media import service
from anime_media.imaging import EncodedAvatar, encode_avatar
from anime_media.schemas import AvatarUpload, UserOut
from anime_media.serving import avatar_response
from anime_media.state import MediaState, get_state
from anime_media.storage import AvatarNames
from anime_media.uploads import read_file_field

AVATAR_FIELD = "avatar"

logger = logging.getLogger("anime_media")


def _user_id(request: Request) -> uuid.UUID:
    return principal_user_id(
        current_principal(request), refusal="Only user accounts have an avatar"
    )


async def _save_files(state: MediaState, encoded: EncodedAvatar) -> AvatarNames:
    try:
        with anyio.CancelScope(shield=True):
            # Written in a thread that a cancelled await would not stop: wait for the
            # names, so the caller's clean-up always knows what to remove.
            names = await state.run(
                state.store.save, avatar=encoded.avatar, thumbnail=encoded.thumbnail
            )
    except OSError as exc:
        # A full or read-only disk; save() has removed what it wrote.
        logger.error("could not store an avatar: %s", exc)
        raise ServiceUnavailableError("Avatar storage is unavailable") from exc
    return names


@document(
    "Replace the caller's avatar: multipart/form-data with the image in the `avatar` field",
    body=AvatarUpload,
    body_media_type="multipart/form-data",
    response=UserOut,
    errors=[400, 404, 413, 415, 422, 503, 504],
    tags=["users"],
)
@requires("write:profile")
async def upload_avatar(request: Request) -> Response:
    state = get_state(request)
    user_id = _user_id(request)
    if state.uploads.locked():
        raise ServiceUnavailableError(
            "Too many uploads at once, try again shortly", headers={"Retry-After": "2"}
        )
    async with state.uploads:
        data = await read_file_field(
            request, field=AVATAR_FIELD, max_bytes=state.settings.AVATAR_MAX_BYTES
        )
        encoded = await state.run(encode_avatar, data, spec=state.spec)
        del data  # the upload is no longer needed while auth and the database are asked
        names = await _save_files(state, encoded)
        auth = state.auth
        change: service.AvatarChange | None = None
        try:
            async with get_state(request).database.transaction() as session:
                change = await service.replace_avatar(
                    session=session, auth=auth, user_id=user_id, names=names, encoded=encoded
                )
        except BaseException:
            # Shielded: a client hanging up mid-request must not skip the clean-up.
            with anyio.CancelScope(shield=True):
                if change is not None:
                    # Auth took the new path but the record did not commit: undo at auth.
                    await auth.restore_avatar(user_id=user_id, avatar=change.previous_url)
                await state.run(state.store.remove, names.files)
            raise
        if change.previous is not None:
            # Only now, with the new files in place and recorded, may the old ones go
            # (shielded: once committed, they are recorded nowhere and must not stay).
            with anyio.CancelScope(shield=True):
                await state.run(state.store.remove, change.previous.files)
    return JSONResponse(change.user)


@document("An avatar image, as stored", errors=[404], tags=["media"])
async def avatar_file(request: Request) -> Response:
    return await avatar_response(
        get_state(request).store,
        request.path_params["name"],
        method=request.method,
        if_none_match=request.headers.get("if-none-match"),
    )


routes: list[BaseRoute] = [
    Route("/users/me", upload_avatar, methods=["PATCH"]),
    Route("/media/avatars/{name}", avatar_file, methods=["GET", "HEAD"]),
]
