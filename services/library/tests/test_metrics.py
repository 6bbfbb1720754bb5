"""The job queue in the metrics: every replica's jobs in library.jobs, sampled."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from anime_common import METRICS_PATH, Database
from anime_library.favorites.repository import FavoriteRow
from anime_library.jobs.runner import JobKind, JobStatus, Work
from anime_library.metrics import JOB_QUEUE, sample_job_queue_once

from .test_jobs import favorite, finished, runner_for

pytestmark = pytest.mark.anyio


def _value(name: str) -> float | None:
    return REGISTRY.get_sample_value(name)


async def test_queue_depth_running_failed_and_lag_are_reported(
    database: Database, database_url: str
) -> None:
    async def fail(*, connection: asyncpg.Connection, payloads: Sequence[Any]) -> None:
        raise ValueError("no such anime")

    kind = JobKind("bad", fail, FavoriteRow)
    try:
        async with runner_for(database, database_url, extra=[kind], start=False) as runner:
            # Not started yet: submitted jobs wait in the queue.
            first = await runner.submit("favorite:add:1", Work(fail, favorite()))
            second = await runner.submit("favorite:add:2", Work(fail, favorite()))
            await sample_job_queue_once(runner)
            assert _value("library_jobs_queued") == 2
            assert _value("library_jobs_running") == 0
            assert (_value("library_jobs_lag_seconds") or 0) > 0
            runner.start()
            done = await finished(runner, first, second)
            assert {job.status for job in done} == {JobStatus.FAILED}
            await sample_job_queue_once(runner)
            assert _value("library_jobs_failed") == 2
            assert _value("library_jobs_queued") == 0
            assert _value("library_jobs_lag_seconds") == 0
    finally:
        JOB_QUEUE.latest = None
    assert _value("library_jobs_queued") is None


async def test_the_service_serves_its_queue_metrics(
    make_library: Callable[..., Any],
) -> None:
    async with make_library() as client:
        response = await client.get(METRICS_PATH)
    assert response.status_code == 200
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {"library_jobs_queued", "library_jobs_lag_seconds", "http_requests"} <= names
