"""The library's own Prometheus metrics: its job runner's queue, read when scraped.

The collector knows nothing of how a runner is built: it reads a `JobQueueProbe`,
a function answering a `JobQueueSnapshot`, attached once the runner exists
(`attach_job_runner_metrics`). `in_memory_runner_probe` is the probe of the
in-process `JobRunner`; another runner attaches its own probe the same way.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import REGISTRY
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from anime_library.jobs import JobRunner, JobStatus


@dataclass(frozen=True, slots=True)
class JobQueueSnapshot:
    queued: int
    running: int
    failed_total: int
    # Seconds the oldest queued job has waited since it was submitted (0 when none waits).
    lag_seconds: float


JobQueueProbe = Callable[[], JobQueueSnapshot]


class _JobQueueCollector(Collector):
    def __init__(self) -> None:
        self._probe: JobQueueProbe | None = None

    def attach(self, probe: JobQueueProbe | None) -> None:
        self._probe = probe

    def describe(self) -> Iterable[Metric]:
        return self._families(None)

    def collect(self) -> Iterable[Metric]:
        return self._families(self._probe() if self._probe is not None else None)

    @staticmethod
    def _families(snapshot: JobQueueSnapshot | None) -> list[Metric]:
        queued = GaugeMetricFamily("library_jobs_queued", "Jobs waiting for a worker")
        running = GaugeMetricFamily("library_jobs_running", "Jobs a worker is running now")
        failed = CounterMetricFamily(
            "library_jobs_failed", "Jobs that ended failed since the process started"
        )
        lag = GaugeMetricFamily(
            "library_jobs_lag_seconds", "How long the oldest queued job has waited"
        )
        if snapshot is not None:
            queued.add_metric([], snapshot.queued)
            running.add_metric([], snapshot.running)
            failed.add_metric([], snapshot.failed_total)
            lag.add_metric([], snapshot.lag_seconds)
        return [queued, running, failed, lag]


JOB_QUEUE = _JobQueueCollector()
REGISTRY.register(JOB_QUEUE)


def attach_job_runner_metrics(probe: JobQueueProbe | None) -> None:
    """Report `probe`'s snapshots from now on (None: report nothing)."""
    JOB_QUEUE.attach(probe)


def in_memory_runner_probe(runner: JobRunner) -> JobQueueProbe:
    """The probe of the in-process runner: it walks the open jobs (at most the queue bound)."""

    def probe() -> JobQueueSnapshot:
        queued_at = [job.created_at for job in runner.open_jobs() if job.status is JobStatus.QUEUED]
        running = sum(1 for job in runner.open_jobs() if job.status is JobStatus.RUNNING)
        now = datetime.datetime.now(datetime.UTC)
        lag = (now - min(queued_at)).total_seconds() if queued_at else 0.0
        return JobQueueSnapshot(
            queued=runner.pending, running=running, failed_total=runner.failed, lag_seconds=lag
        )

    return probe
