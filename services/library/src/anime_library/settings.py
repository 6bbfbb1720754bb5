"""Settings of the library service: the common ones plus its own."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from anime_common import CommonSettings


class LibrarySettings(CommonSettings):
    SERVICE_NAME: ClassVar[str] = "library"

    PORT: int = 8003

    # The catalog's internal endpoints (never routed by Traefik), and how long a
    # lookup may be reused: titles and posters change rarely, episode counts seldom,
    # and an answer that would refuse a request is asked again first. At 30 s the
    # background reloads of busy entries cost the enqueue path a third of its
    # throughput while they ran (bench/library).
    CATALOG_SERVICE_URL: str = "http://127.0.0.1:8002"
    CATALOG_CACHE_SECONDS: float = Field(default=300.0, ge=0)
    CATALOG_CACHE_ENTRIES: int = Field(default=10_000, ge=1)

    # The job runner (jobs.py, library.jobs): workers per process, the bound on
    # open jobs (queued or running, over every replica), batches per claim.
    # Two, not four: each notification wakes an idle worker, so four took one
    # group-commit's jobs each; two take what gathered while they were busy, in
    # fewer and bigger batches: 36% of the floor's req/s for progress writes
    # against 33% with four, in three paired runs (bench/library/README.md).
    JOB_WORKERS: int = Field(default=2, ge=1, le=64)
    JOB_MAX_OPEN: int = Field(default=10_000, ge=1)
    JOB_BATCH_SIZE: int = Field(default=200, ge=1, le=5_000)
    # Group commit: a submit waits at most this long for others to share its
    # INSERT (0: the submits of the same event-loop turn), and a group of
    # JOB_GROUP_MAX goes at once. At c=32 a 2 ms wait cost 35-40% of the
    # throughput of 0, which already groups what arrives together (bench/library).
    JOB_GROUP_SECONDS: float = Field(default=0.0, ge=0, le=0.1)
    JOB_GROUP_MAX: int = Field(default=500, ge=1, le=10_000)
    # A submit the database has not taken within this is a 503.
    JOB_SUBMIT_TIMEOUT_SECONDS: float = Field(default=5.0, gt=0)
    # A claimed job is its worker's for this long (renewed while it runs): when
    # the process dies, the job runs again this long after it was last renewed.
    JOB_LEASE_SECONDS: float = Field(default=30.0, gt=0)
    # The fallback when a notification is missed; also how often leases are checked.
    JOB_POLL_SECONDS: float = Field(default=1.0, gt=0)
    # A worker woken by a notification, or notified while its batch ran, waits
    # this long before it claims, so the jobs of the next few groups share its
    # claim and its transaction. 15 ms, not 5: progress writes at 35.0% of the
    # floor's req/s against 33.2%, three paired runs with two workers
    # (bench/library); a job lands ~10-15 ms later for it.
    JOB_CLAIM_DELAY_SECONDS: float = Field(default=0.015, ge=0, le=0.1)
    JOB_RETRY_ATTEMPTS: int = Field(default=3, ge=0, le=20)
    JOB_RETRY_BACKOFF_SECONDS: float = Field(default=0.1, ge=0)
    # Finished jobs (GET /jobs/{id}) are deleted this long after they finished.
    JOB_RETENTION_SECONDS: float = Field(default=600.0, gt=0)
    # Within uvicorn's SHUTDOWN_GRACE_SECONDS budget: after SIGTERM the batch in
    # hand gets this long to commit; queued jobs stay for the next process.
    JOB_DRAIN_SECONDS: float = Field(default=8.0, ge=0)

    # Collections (collections/service.py): bounds per user and per collection. At
    # most 500 items keeps a collection's titles one catalog batch call.
    COLLECTION_MAX_ITEMS: int = Field(default=500, ge=1, le=500)
    COLLECTIONS_PER_USER: int = Field(default=200, ge=1)
    # Views (views/service.py): a user's view of an anime/episode counts once per window.
    VIEW_DEDUPE_SECONDS: float = Field(default=3600.0, ge=0)
