"""argon2id hashing off the event loop, with a cap on how many hashes run at once."""

from __future__ import annotations

from functools import cached_property

import anyio
from passlib.context import CryptContext  # type: ignore[import-untyped]

from anime_auth.metrics import PASSWORD_HASH_SECONDS
from anime_auth.settings import AuthSettings

_HASH_TIME = PASSWORD_HASH_SECONDS.labels("hash")
_VERIFY_TIME = PASSWORD_HASH_SECONDS.labels("verify")


class PasswordHasher:
    """Hash and verify in worker threads; at most `PASSWORD_HASH_CONCURRENCY` at a time.

    Each argon2 hash holds ARGON2_MEMORY_KIB of memory and a core for a while:
    the limiter turns a burst of logins into a queue instead of an out-of-memory
    kill, and the event loop keeps serving everything else meanwhile.
    """

    def __init__(self, settings: AuthSettings) -> None:
        self.memory_kib = settings.ARGON2_MEMORY_KIB
        self.time_cost = settings.ARGON2_TIME_COST
        self.parallelism = settings.ARGON2_PARALLELISM
        self._concurrency = settings.PASSWORD_HASH_CONCURRENCY
        self._context = CryptContext(
            schemes=["argon2"],
            argon2__type="ID",
            argon2__memory_cost=self.memory_kib,
            argon2__rounds=self.time_cost,
            argon2__parallelism=self.parallelism,
        )
        self._limiter: anyio.CapacityLimiter | None = None
        self._dummy_hash: str | None = None

    @cached_property
    def description(self) -> str:
        return f"argon2id m={self.memory_kib} KiB, t={self.time_cost}, p={self.parallelism}"

    def _limit(self) -> anyio.CapacityLimiter:
        # Created on first use: a limiter belongs to the event loop that runs it.
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._concurrency)
        return self._limiter

    def hash_sync(self, password: str) -> str:
        password_hash: str = self._context.hash(password)
        return password_hash

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self._timed_hash, password, limiter=self._limit())

    def _timed_hash(self, password: str) -> str:
        with _HASH_TIME.time():
            password_hash: str = self._context.hash(password)
        return password_hash

    def _timed_verify(self, password: str, password_hash: str | None) -> bool:
        with _VERIFY_TIME.time():
            matches: bool = self._context.verify(password, password_hash)
        return matches

    def _timed_verify_and_update(
        self, password: str, password_hash: str
    ) -> tuple[bool, str | None]:
        with _VERIFY_TIME.time():
            outcome: tuple[bool, str | None] = self._context.verify_and_update(
                password, password_hash
            )
        return outcome

    async def warm_up(self) -> None:
        """Make the dummy hash now, so not even the first unknown-account login takes longer."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash("dummy password, never matches anything")

    async def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        """(matches, new hash when the stored one was made with other parameters).

        Without a stored hash (unknown account) a dummy hash of the same
        parameters is verified instead, so the answer takes the same time.
        """
        if password_hash is None:
            await self.warm_up()
            await anyio.to_thread.run_sync(
                self._timed_verify, password, self._dummy_hash, limiter=self._limit()
            )
            return False, None
        return await anyio.to_thread.run_sync(
            self._timed_verify_and_update, password, password_hash, limiter=self._limit()
        )
