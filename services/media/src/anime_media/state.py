"""What the media routes share for the life of the process: the folder, the image pool, limits."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

import httpx
from starlette.requests import Request

from anime_common import Database, TokenVerifier, service_state
from anime_media.auth_client import AuthClient
from anime_media.imaging import AvatarSpec
from anime_media.settings import MediaSettings
from anime_media.storage import AvatarStore

P = ParamSpec("P")
T = TypeVar("T")


class MediaState:
    """Built in the lifespan; the pool and the upload slots exist only while the app runs."""

    def __init__(
        self,
        settings: MediaSettings,
        *,
        database: Database,
        http: httpx.AsyncClient,
        verifier: TokenVerifier,
    ) -> None:
        self.settings = settings
        self.database = database
        assert settings.AUTH_SERVICE_URL is not None  # checked by MediaSettings
        # One for the process: it keeps its signed service token between uploads.
        self.auth = AuthClient(http=http, base_url=settings.AUTH_SERVICE_URL, verifier=verifier)
        self.store = AvatarStore(settings.avatars_dir)
        self.spec = AvatarSpec(
            size=settings.AVATAR_SIZE,
            thumbnail_size=settings.AVATAR_THUMBNAIL_SIZE,
            quality=settings.AVATAR_WEBP_QUALITY,
            max_pixels=settings.AVATAR_MAX_PIXELS,
        )
        self._pool: ThreadPoolExecutor | None = None
        self._uploads: asyncio.Semaphore | None = None

    def start(self) -> None:
        self.store.prepare()
        self._pool = ThreadPoolExecutor(
            max_workers=self.settings.IMAGE_WORKERS, thread_name_prefix="media-image"
        )
        self._uploads = asyncio.Semaphore(self.settings.UPLOAD_CONCURRENCY)

    def stop(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            # Work already running finishes (its request is being answered); nothing new starts.
            pool.shutdown(wait=True, cancel_futures=True)

    @property
    def uploads(self) -> asyncio.Semaphore:
        if self._uploads is None:
            raise RuntimeError("the media service has not started")
        return self._uploads

    async def run(self, function: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run blocking image or file work in the bounded pool, off the event loop."""
        if self._pool is None:
            raise RuntimeError("the media service has not started")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(function, *args, **kwargs))


def get_state(request: Request) -> MediaState:
    return service_state(request, MediaState)
