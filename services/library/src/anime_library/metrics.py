"""The library's own Prometheus metrics: the job queue in `library.jobs`, every replica's.

A scrape must not wait on the database, so the collector reports the latest sample a
background task takes (`sample_job_queue`, every few seconds); while the database cannot
be read it reports nothing rather than numbers that may be stale.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from prometheus_client import REGISTRY
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from anime_library.jobs.repository import QueueCounts
from anime_library.jobs.runner import JobRunner

logger = logging.getLogger("anime_library.metrics")


class _JobQueueCollector(Collector):
    def __init__(self) -> None:
        self.latest: QueueCounts | None = None

    def describe(self) -> Iterable[Metric]:
        return self._families(None)

    def collect(self) -> Iterable[Metric]:
        return self._families(self.latest)

    @staticmethod
    def _families(counts: QueueCounts | None) -> list[Metric]:
        queued = GaugeMetricFamily("library_jobs_queued", "Jobs waiting for a worker")
        running = GaugeMetricFamily("library_jobs_running", "Jobs a worker is running now")
        failed = GaugeMetricFamily(
            "library_jobs_failed", "Failed jobs still kept (JOB_RETENTION_SECONDS)"
        )
        lag = GaugeMetricFamily(
            "library_jobs_lag_seconds", "How long the oldest due queued job has waited"
        )
        if counts is not None:
            queued.add_metric([], counts.queued)
            running.add_metric([], counts.running)
            failed.add_metric([], counts.failed)
            lag.add_metric([], counts.lag_seconds)
        return [queued, running, failed, lag]


JOB_QUEUE = _JobQueueCollector()
REGISTRY.register(JOB_QUEUE)


async def sample_job_queue_once(runner: JobRunner) -> None:
    try:
        JOB_QUEUE.latest = await runner.counts()
    except Exception as exc:  # noqa: BLE001 - an outage only pauses the metrics
        logger.debug("job queue metrics unavailable: %s", type(exc).__name__)
        JOB_QUEUE.latest = None


async def sample_job_queue(runner: JobRunner, *, every: float) -> None:
    """Sample the queue for the metrics until cancelled."""
    try:
        while True:
            await sample_job_queue_once(runner)
            await asyncio.sleep(every)
    finally:
        JOB_QUEUE.latest = None
