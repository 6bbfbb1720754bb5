"""The library service's ASGI app."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg
from starlette.applications import Starlette

from anime_common import (
    AppContext,
    Migrations,
    asyncpg_dsn,
    create_read_pool,
    create_service_app,
)
from anime_library.catalog_client import CatalogClient
from anime_library.favorites import repository as favorites
from anime_library.favorites.service import kept_favorites
from anime_library.jobs import repository as jobs_repository
from anime_library.jobs.runner import JobKind, JobRunner
from anime_library.metrics import sample_job_queue
from anime_library.routes import routes
from anime_library.settings import LibrarySettings
from anime_library.state import LibraryState
from anime_library.views import repository as views
from anime_library.watch import repository as watch

# How stale the job queue's metrics may be (one cheap count over library.jobs each time).
METRICS_SAMPLE_SECONDS = 5.0

MIGRATIONS = Migrations(script_location="anime_library:migrations", schema="library")

logger = logging.getLogger("anime_library.app")


def job_kinds(settings: LibrarySettings) -> Sequence[JobKind]:
    """Every job the library runs, by the name stored with it (any replica runs any job)."""
    return (
        JobKind("favorite-add", favorites.ADD_FAVORITES, favorites.FavoriteRow),
        JobKind("favorite-remove", favorites.REMOVE_FAVORITES, favorites.FavoritePair),
        JobKind("favorite-remove-nothing", favorites.REMOVE_NOTHING),
        JobKind("watch-progress", watch.WRITE_PROGRESS, watch.ProgressRow),
        JobKind("view", views.record_views(settings.VIEW_DEDUPE_SECONDS), views.ViewRow),
    )


async def create_runner(settings: LibrarySettings) -> JobRunner:
    """The job runner of one process, with a pool of its own (close it after `shutdown`)."""
    pool = await jobs_repository.create_pool(settings, application_name="library-jobs")
    listen = functools.partial(
        asyncpg.connect,
        asyncpg_dsn(settings.database_url),
        timeout=settings.DB_CONNECT_TIMEOUT,
        server_settings={"application_name": "library-job-listener"},
    )
    return JobRunner(
        pool=pool,
        listen=listen,
        kinds=job_kinds(settings),
        workers=settings.JOB_WORKERS,
        max_open=settings.JOB_MAX_OPEN,
        batch_size=settings.JOB_BATCH_SIZE,
        group_window=settings.JOB_GROUP_SECONDS,
        group_max=settings.JOB_GROUP_MAX,
        submit_timeout=settings.JOB_SUBMIT_TIMEOUT_SECONDS,
        lease=settings.JOB_LEASE_SECONDS,
        poll_interval=settings.JOB_POLL_SECONDS,
        claim_delay=settings.JOB_CLAIM_DELAY_SECONDS,
        retry_attempts=settings.JOB_RETRY_ATTEMPTS,
        retry_backoff=settings.JOB_RETRY_BACKOFF_SECONDS,
        retention=settings.JOB_RETENTION_SECONDS,
    )


def create_app(settings: LibrarySettings) -> Starlette:
    @asynccontextmanager
    async def lifespan(context: AppContext) -> AsyncIterator[LibraryState]:
        database = context.database
        runner = await create_runner(settings)
        reader = await create_read_pool(settings, application_name="library-reader")
        catalog = CatalogClient(
            http=context.http,
            base_url=settings.CATALOG_SERVICE_URL,
            verifier=context.verifier,
            ttl=settings.CATALOG_CACHE_SECONDS,
            max_entries=settings.CATALOG_CACHE_ENTRIES,
        )
        runner.start()
        metrics = asyncio.create_task(
            sample_job_queue(runner, every=METRICS_SAMPLE_SECONDS), name="library-job-metrics"
        )
        try:
            yield LibraryState(
                settings=settings,
                database=database,
                reader=reader,
                catalog=catalog,
                runner=runner,
                favorites_kept=kept_favorites(reader),
            )
        finally:
            metrics.cancel()
            # uvicorn runs this after SIGTERM, once open requests are answered:
            # nothing new is accepted, the batches in hand get the grace period,
            # and queued jobs stay in library.jobs for the next process.
            try:
                left = await runner.shutdown(grace=settings.JOB_DRAIN_SECONDS)
                logger.info(
                    "job runner stopped: %d committed, %d of its batches queued again",
                    runner.committed,
                    left,
                )
            finally:
                await runner.close()
                await catalog.aclose()
                await reader.close()

    return create_service_app(
        name="library", settings=settings, routes=routes, migrations=MIGRATIONS, lifespan=lifespan
    )
