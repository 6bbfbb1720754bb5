"""The media service's ASGI app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from anime_common import Migrations, create_service_app
from anime_media.imaging import refuse_decompression_bombs, warm_up
from anime_media.kit import MediaKit
from anime_media.routes import routes
from anime_media.settings import MediaSettings

MIGRATIONS = Migrations(script_location="anime_media:migrations", schema="media")


def create_app(settings: MediaSettings) -> Starlette:
    kit = MediaKit(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        refuse_decompression_bombs()
        kit.start()
        await kit.run(warm_up)
        try:
            yield
        finally:
            await asyncio.to_thread(kit.stop)

    app = create_service_app(
        name="media", settings=settings, routes=routes, migrations=MIGRATIONS, lifespan=lifespan
    )
    app.state.media = kit
    return app
