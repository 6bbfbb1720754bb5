"""The library service's ASGI app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from anime_common import Migrations, create_read_pool, create_service_app
from anime_library.catalog_client import CatalogClient
from anime_library.jobs import JobRunner
from anime_library.metrics import attach_job_runner_metrics, in_memory_runner_probe
from anime_library.routes import routes
from anime_library.service import LibraryState
from anime_library.settings import LibrarySettings

MIGRATIONS = Migrations(script_location="anime_library:migrations", schema="library")

logger = logging.getLogger("anime_library.app")


def create_app(settings: LibrarySettings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        database = app.state.database
        runner = JobRunner(
            transaction=database.transaction,
            workers=settings.JOB_WORKERS,
            max_queued=settings.JOB_QUEUE_SIZE,
            batch_size=settings.JOB_BATCH_SIZE,
            retry_attempts=settings.JOB_RETRY_ATTEMPTS,
            retry_backoff=settings.JOB_RETRY_BACKOFF_SECONDS,
            retention=settings.JOB_RETENTION_SECONDS,
            max_retained=settings.JOB_RETENTION_MAX,
        )
        reader = await create_read_pool(settings, application_name="library-reader")
        app.state.library = LibraryState(
            database=database,
            reader=reader,
            catalog=CatalogClient(
                http=app.state.http,
                base_url=settings.CATALOG_SERVICE_URL,
                verifier=app.state.token_verifier,
                ttl=settings.CATALOG_CACHE_SECONDS,
                max_entries=settings.CATALOG_CACHE_ENTRIES,
            ),
            runner=runner,
        )
        runner.start()
        attach_job_runner_metrics(in_memory_runner_probe(runner))
        try:
            yield
        finally:
            attach_job_runner_metrics(None)
            # uvicorn runs this after SIGTERM, once open requests are answered:
            # nothing new is accepted, and queued changes get the grace period to land.
            try:
                left = await runner.shutdown(grace=settings.JOB_DRAIN_SECONDS)
                logger.info(
                    "job runner stopped: %d committed, %d not drained",
                    runner.committed,
                    len(left),
                )
            finally:
                await app.state.library.catalog.aclose()
                await reader.close()

    return create_service_app(
        name="library", settings=settings, routes=routes, migrations=MIGRATIONS, lifespan=lifespan
    )
