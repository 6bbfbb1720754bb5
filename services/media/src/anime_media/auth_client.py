"""Auth's internal avatar endpoint, and what each way of failing means for an upload."""

from __future__ import annotations

import logging
import uuid

import httpx
from pydantic import ValidationError as PydanticValidationError

from anime_common import (
    AppError,
    InternalError,
    NotFoundError,
    PeerAnswerError,
    ServiceClient,
    TokenVerifier,
)
from anime_media.schemas import UserOut

logger = logging.getLogger("anime_media.auth")

SERVICE_NAME = "media"


class AuthClient:
    """Sets a user's `avatar` at auth, with a short-lived service token."""

    def __init__(self, *, http: httpx.AsyncClient, base_url: str, verifier: TokenVerifier) -> None:
        self._auth = ServiceClient(
            http=http,
            base_url=base_url,
            service="account service",
            caller=SERVICE_NAME,
            verifier=verifier,
        )

    async def set_avatar(self, *, user_id: uuid.UUID, avatar: str | None) -> UserOut:
        """The updated User, or an AppError saying why not (503/504 when auth is unreachable).

        A `PeerTimeoutError`, or a `PeerUnavailableError` whose `may_have_applied`
        is set, means auth may hold the new path all the same.
        """
        response = await self._auth.put(
            f"/internal/users/{user_id}/avatar", json={"avatar": avatar}
        )
        if response.status_code == 200:
            try:
                return UserOut.model_validate_json(response.content)
            except PydanticValidationError:
                logger.error("auth answered an unexpected User shape")
                raise PeerAnswerError(self._auth.service) from None
        if response.status_code == 404:
            raise NotFoundError("User not found")
        # 401/403/422: our token or our request was refused, a bug or a key mismatch.
        logger.error("auth refused the avatar update with %s", response.status_code)
        raise InternalError()

    async def restore_avatar(self, *, user_id: uuid.UUID, avatar: str | None) -> None:
        """Best effort: put back the previous avatar after a change that could not complete."""
        try:
            await self.set_avatar(user_id=user_id, avatar=avatar)
        except AppError as exc:
            # Auth may now point at files that are about to be removed: a broken image until
            # the user uploads again. Logged loudly so it can be repaired from media.avatars.
            logger.error(
                "could not restore the avatar of user %s at auth (%s): %s",
                user_id,
                exc.code,
                exc.message,
            )
