"""Revoked sessions, kept fresh by polling auth, so no service queries a database per request.

Auth publishes `GET /internal/revocations?since=<cursor>`:
`{"revocations": [{"session_id", "expires_at"}], "cursor"}`. Each entry stays
here until `expires_at` (the last moment an access token of that session is
valid, leeway included) has passed; then no token it covers can verify anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime

import httpx

from anime_common._errors import AppError
from anime_common._logging import routine_logs
from anime_common._security import Principal, TokenVerifier
from anime_common._service_client import ServiceClient

logger = logging.getLogger("anime_common.revocation")

REVOCATIONS_PATH = "/internal/revocations"


class RevocationPoller:
    """A `RevocationCheck` answering from memory, refreshed from auth every few seconds.

    When auth cannot be reached the last known set is kept (and a warning
    logged): a revocation already seen is never forgotten early.
    """

    def __init__(
        self,
        *,
        auth_url: str,
        verifier: TokenVerifier,
        service: str,
        interval: float = 2.0,
    ) -> None:
        self._auth_url = auth_url
        self._url = auth_url.rstrip("/") + REVOCATIONS_PATH
        self._verifier = verifier
        self._service = service
        self._interval = interval
        # session id -> unix time after which its tokens are all expired
        self._revoked: dict[str, float] = {}
        self._cursor: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self.last_success: float | None = None

    async def __call__(self, principal: Principal) -> bool:
        return principal.session_id is not None and principal.session_id in self._revoked

    @property
    def revoked_sessions(self) -> frozenset[str]:
        return frozenset(self._revoked)

    async def poll(self, client: httpx.AsyncClient) -> bool:
        """Fetch what was revoked since the last answer; False (and the old set) on failure."""
        params = {"since": self._cursor} if self._cursor else {}
        auth = ServiceClient(
            http=client,
            base_url=self._auth_url,
            service="account service",
            caller=self._service,
            verifier=self._verifier,
            # The next poll is the retry, a few seconds away; failing is logged once, below.
            retries=0,
            log_failures=False,
        )
        try:
            with routine_logs():
                response = await auth.get(REVOCATIONS_PATH, params=params)
            if response.status_code != 200:
                raise auth.unexpected(response)
            body = response.json()
            entries = [
                (str(item["session_id"]), datetime.fromisoformat(item["expires_at"]).timestamp())
                for item in body["revocations"]
            ]
            cursor = str(body["cursor"])
        except (AppError, ValueError, KeyError, TypeError) as exc:
            # One warning when polling starts failing, not one every interval while auth is down.
            log = logger.debug if self._failing else logger.warning
            log(
                "revocations not refreshed from %s (%s); keeping %d known",
                self._url,
                type(exc).__name__,
                len(self._revoked),
            )
            self._failing = True
            return False
        if self._failing:
            logger.info("revocations refreshed from %s again", self._url)
            self._failing = False
        self._revoked.update(entries)
        self._cursor = cursor
        self._expire()
        self.last_success = time.monotonic()
        return True

    def _expire(self) -> None:
        now = time.time()
        for session_id in [sid for sid, until in self._revoked.items() if until < now]:
            del self._revoked[session_id]

    async def _run(self, client: httpx.AsyncClient) -> None:
        while True:
            await self.poll(client)
            await asyncio.sleep(self._interval)

    def start(self, client: httpx.AsyncClient) -> None:
        """Poll in the background with the process's shared client until `stop`."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(client))

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
