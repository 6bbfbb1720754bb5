"""The job runner's queue in the metrics, through the probe the library attaches."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession

from anime_common import METRICS_PATH, Database
from anime_library.jobs import JobStatus, Work
from anime_library.metrics import attach_job_runner_metrics, in_memory_runner_probe

from .test_jobs import favorite, finished, runner_for

pytestmark = pytest.mark.anyio


def _value(name: str) -> float | None:
    return REGISTRY.get_sample_value(name)


async def test_queue_depth_running_failed_and_lag_are_reported(database: Database) -> None:
    async def fail(*, session: AsyncSession, payloads: Sequence[Any]) -> None:
        raise ValueError("no such anime")

    runner = runner_for(database)
    attach_job_runner_metrics(in_memory_runner_probe(runner))
    try:
        # Not started yet: submitted jobs wait in the queue.
        first = runner.submit("favorite:add:1", Work(fail, favorite()))
        runner.submit("favorite:add:2", Work(fail, favorite()))
        assert _value("library_jobs_queued") == 2
        assert _value("library_jobs_running") == 0
        lag = _value("library_jobs_lag_seconds")
        assert lag is not None
        assert lag > 0
        failed_before = _value("library_jobs_failed_total")
        runner.start()
        await finished(first)
        assert first.status is JobStatus.FAILED
        await runner.shutdown(grace=1)
        assert _value("library_jobs_failed_total") == (failed_before or 0) + 2
        assert _value("library_jobs_queued") == 0
        assert _value("library_jobs_lag_seconds") == 0
    finally:
        attach_job_runner_metrics(None)
    assert _value("library_jobs_queued") is None


async def test_the_service_serves_its_queue_metrics(
    make_library: Callable[..., Any],
) -> None:
    async with make_library() as client:
        response = await client.get(METRICS_PATH)
    assert response.status_code == 200
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {"library_jobs_queued", "library_jobs_lag_seconds", "http_requests"} <= names
