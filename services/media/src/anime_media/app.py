"""The media service's ASGI app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from anime_common import AppContext, Migrations, create_service_app
from anime_media.imaging import refuse_decompression_bombs, warm_up
from anime_media.routes import routes
from anime_media.settings import MediaSettings
from anime_media.state import MediaState

MIGRATIONS = Migrations(script_location="anime_media:migrations", schema="media")


def create_app(settings: MediaSettings) -> Starlette:
    @asynccontextmanager
    async def lifespan(context: AppContext) -> AsyncIterator[MediaState]:
        refuse_decompression_bombs()
        state = MediaState(
            settings, database=context.database, http=context.http, verifier=context.verifier
        )
        state.start()
        await state.run(warm_up)
        try:
            yield state
        finally:
            await asyncio.to_thread(state.stop)

    return create_service_app(
        name="media", settings=settings, routes=routes, migrations=MIGRATIONS, lifespan=lifespan
    )
