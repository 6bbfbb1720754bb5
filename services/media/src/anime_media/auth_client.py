"""Auth's internal avatar endpoint, and what each way of failing means for an upload."""

from __future__ import annotations

import logging
import uuid

import httpx
from pydantic import ValidationError as PydanticValidationError

from anime_common import (
    AppError,
    BadGatewayError,
    GatewayTimeoutError,
    InternalError,
    NotFoundError,
    ServiceUnavailableError,
    TokenVerifier,
)
from anime_media.schemas import UserOut

logger = logging.getLogger("anime_media.auth")

SERVICE_NAME = "media"


class AuthOutcomeUnknownError(ServiceUnavailableError):
    """The request may have reached auth, but no answer came back: auth may hold the new path."""


class AuthTimeoutError(AuthOutcomeUnknownError, GatewayTimeoutError):
    """Auth did not answer in time (504); as above, the change may have been applied."""

    status_code = 504


class AuthClient:
    """Sets a user's `avatar` at auth, with a short-lived service token."""

    def __init__(self, *, http: httpx.AsyncClient, base_url: str, verifier: TokenVerifier) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._verifier = verifier

    async def set_avatar(self, *, user_id: uuid.UUID, avatar: str | None) -> UserOut:
        """The updated User, or an AppError saying why not (503/504 when auth is unreachable)."""
        url = f"{self._base_url}/internal/users/{user_id}/avatar"
        token = self._verifier.issue_service_token(SERVICE_NAME)
        try:
            response = await self._http.put(
                url, json={"avatar": avatar}, headers={"Authorization": f"Bearer {token}"}
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # Nothing was sent: auth certainly holds the old value.
            raise ServiceUnavailableError("The account service is unavailable") from exc
        except httpx.TimeoutException as exc:
            raise AuthTimeoutError("The account service did not answer in time") from exc
        except httpx.TransportError as exc:
            raise AuthOutcomeUnknownError("The account service is unavailable") from exc
        if response.status_code == 200:
            try:
                return UserOut.model_validate_json(response.content)
            except PydanticValidationError:
                logger.error("auth answered an unexpected User shape")
                raise BadGatewayError("The account service answered unexpectedly") from None
        if response.status_code == 404:
            raise NotFoundError("User not found")
        if response.status_code >= 500:
            raise ServiceUnavailableError("The account service is unavailable")
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
