"""The job runner on its own, against a real PostgreSQL: keys, payloads, failures, bounds, drain."""

from __future__ import annotations

import asyncio
import datetime
import logging
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from anime_common import Database, ServiceUnavailableError, ValidationError
from anime_library import repository, service
from anime_library.jobs import Job, JobRunner, JobStatus, Work, describe_error, is_transient
from anime_library.repository import FavoriteRow, ProgressRow

pytestmark = pytest.mark.anyio

USER = uuid.UUID("00000000-0000-4000-8000-000000000001")
ANIME = uuid.UUID("00000000-0000-4000-8000-0000000000a1")


def runner_for(database: Database, **options: Any) -> JobRunner:
    settings: dict[str, Any] = {"workers": 2, "max_queued": 100, "retry_backoff": 0.001}
    return JobRunner(transaction=database.transaction, **(settings | options))


def progress(position: float, *, episode: int = 1, percent: float | None = None) -> ProgressRow:
    return ProgressRow(
        user_id=USER,
        anime_id=ANIME,
        episode=episode,
        position_seconds=position,
        progress_percent=percent,
        completed=False,
        last_watched_at=datetime.datetime.now(datetime.UTC),
    )


def favorite(anime_id: uuid.UUID = ANIME) -> FavoriteRow:
    return FavoriteRow(
        id=uuid.uuid4(),
        user_id=USER,
        anime_id=anime_id,
        created_at=datetime.datetime.now(datetime.UTC),
    )


async def rows(database: Database, sql: str) -> list[Any]:
    async with database.engine.connect() as connection:
        return list((await connection.execute(text(sql))).all())


async def finished(*jobs: Job) -> None:
    async with asyncio.timeout(10):
        for job in jobs:
            await job.done.wait()


class Gate:
    """A handler that records its payloads and, when closed, waits to be let through."""

    def __init__(self, *, closed: bool = False) -> None:
        self.calls: list[list[Any]] = []
        self.entered = asyncio.Event()
        self.opened = asyncio.Event()
        if not closed:
            self.opened.set()

    async def __call__(self, *, session: AsyncSession, payloads: Sequence[Any]) -> None:
        self.calls.append(list(payloads))
        self.entered.set()
        await self.opened.wait()
        await repository.upsert_progress(session=session, rows=payloads)


async def test_a_job_runs_in_its_own_transaction_and_reports_success(database: Database) -> None:
    runner = runner_for(database)
    runner.start()
    job = runner.submit("favorite:add:x", Work(service.write_favorites, favorite()), owner="u")
    assert job.status is JobStatus.QUEUED
    assert job.to_dict()["status"] == "queued"
    await finished(job)
    shape = job.to_dict()
    assert shape["status"] == "succeeded"
    assert shape["error"] is None
    assert shape["finished_at"] >= shape["created_at"]
    assert set(shape) == {"id", "key", "status", "error", "created_at", "finished_at"}
    assert runner.get(job.id) is job
    assert len(await rows(database, "SELECT * FROM library.favorites")) == 1
    assert runner.committed == 1
    assert await runner.shutdown(grace=1) == []


async def test_the_same_key_while_open_is_the_same_job(database: Database) -> None:
    runner = runner_for(database)
    first = runner.submit("favorite:add:k", Work(service.write_favorites, favorite()))
    second = runner.submit("favorite:add:k", Work(service.write_favorites, favorite()))
    assert second is first
    assert runner.pending == 1
    runner.start()
    await finished(first)
    # Only the first payload was ever written; the key is free again afterwards.
    assert len(await rows(database, "SELECT * FROM library.favorites")) == 1
    third = runner.submit("favorite:add:k", Work(service.write_favorites, favorite()))
    assert third is not first
    await finished(third)
    await runner.shutdown(grace=1)


async def test_the_newest_payload_replaces_a_queued_one(database: Database) -> None:
    runner = runner_for(database)
    gate = Gate()
    job = runner.submit("watch-progress:k", Work(gate, progress(10)), replace=True)
    again = runner.submit("watch-progress:k", Work(gate, progress(20)), replace=True)
    assert again is job
    runner.start()
    await finished(job)
    assert [[row.position_seconds for row in call] for call in gate.calls] == [[20]]
    assert job.runs == 1
    await runner.shutdown(grace=1)


async def test_a_submit_while_running_schedules_exactly_one_follow_up(database: Database) -> None:
    runner = runner_for(database)
    gate = Gate(closed=True)
    runner.start()
    job = runner.submit("watch-progress:k", Work(gate, progress(10)), replace=True)
    await gate.entered.wait()
    assert job.status is JobStatus.RUNNING
    for position in (20, 30, 40):
        assert (
            runner.submit("watch-progress:k", Work(gate, progress(position)), replace=True) is job
        )
    assert runner.pending == 1  # one follow-up, however many submits
    gate.opened.set()
    await finished(job)
    assert [[row.position_seconds for row in call] for call in gate.calls] == [[10], [40]]
    assert job.to_dict()["status"] == "succeeded"
    stored = await rows(database, "SELECT position_seconds FROM library.watch_progress")
    assert stored == [(40,)]
    await runner.shutdown(grace=1)


async def test_twenty_rapid_updates_end_with_the_last_position(database: Database) -> None:
    runner = runner_for(database)
    runner.start()
    jobs = []
    for position in range(1, 21):
        work = Work(service.write_progress, progress(float(position * 10)))
        jobs.append(runner.submit("watch-progress:u:a:1", work, replace=True))
        if position % 5 == 0:
            await asyncio.sleep(0)  # let a worker pick some up mid-stream
    await finished(*jobs)
    stored = await rows(database, "SELECT position_seconds FROM library.watch_progress")
    assert stored == [(200,)]
    await runner.shutdown(grace=1)


async def test_a_failing_job_is_failed_with_its_error_and_leaves_no_row(
    database: Database,
) -> None:
    async def insert_then_fail(*, session: AsyncSession, payloads: Sequence[Any]) -> None:
        await repository.insert_favorites(session=session, rows=payloads)
        raise ValueError("the anime vanished")

    runner = runner_for(database)
    runner.start()
    job = runner.submit("favorite:add:bad", Work(insert_then_fail, favorite()))
    await finished(job)
    assert job.status is JobStatus.FAILED
    assert job.error == "ValueError: the anime vanished"
    assert job.to_dict()["finished_at"] is not None
    assert await rows(database, "SELECT * FROM library.favorites") == []
    await runner.shutdown(grace=1)


async def test_one_bad_job_in_a_batch_fails_alone(database: Database) -> None:
    async def upsert_unchecked(*, session: AsyncSession, payloads: Sequence[Any]) -> None:
        await repository.upsert_progress(session=session, rows=payloads)

    runner = runner_for(database, workers=1, batch_size=50)
    jobs = [
        runner.submit(f"watch-progress:{episode}", Work(upsert_unchecked, row))
        for episode, row in enumerate(
            [progress(5, episode=1), progress(5, episode=2, percent=150), progress(5, episode=3)],
            start=1,
        )
    ]
    runner.start()
    await finished(*jobs)
    assert [job.status for job in jobs] == [
        JobStatus.SUCCEEDED,
        JobStatus.FAILED,
        JobStatus.SUCCEEDED,
    ]
    # The database's own check rejected it; the text names the kind, not the SQL.
    assert jobs[1].error == "Database error (CheckViolationError)"
    stored = await rows(database, "SELECT episode FROM library.watch_progress ORDER BY episode")
    assert stored == [(1,), (3,)]
    await runner.shutdown(grace=1)


async def test_progress_is_checked_again_where_it_is_written(database: Database) -> None:
    runner = runner_for(database)
    runner.start()
    bad = ProgressRow(
        user_id=USER,
        anime_id=ANIME,
        episode=0,
        position_seconds=None,
        progress_percent=None,
        completed=False,
        last_watched_at=datetime.datetime.now(datetime.UTC),
    )
    job = runner.submit("watch-progress:bad", Work(service.write_progress, bad))
    await finished(job)
    assert job.status is JobStatus.FAILED
    assert job.error == "Invalid watch progress"
    await runner.shutdown(grace=1)


async def test_transient_errors_are_retried_with_backoff_then_give_up(database: Database) -> None:
    attempts: list[int] = []

    def flaky(failures: int) -> Any:
        async def handler(*, session: AsyncSession, payloads: Sequence[Any]) -> None:
            attempts.append(1)
            if len(attempts) <= failures:
                raise ConnectionResetError("connection lost")
            await repository.insert_favorites(session=session, rows=payloads)

        return handler

    runner = runner_for(database, retry_attempts=3)
    runner.start()
    recovers = runner.submit("favorite:add:flaky", Work(flaky(2), favorite()))
    await finished(recovers)
    assert recovers.status is JobStatus.SUCCEEDED
    assert len(attempts) == 3

    attempts.clear()
    gives_up = runner.submit("favorite:add:down", Work(flaky(10), favorite(uuid.uuid4())))
    await finished(gives_up)
    assert gives_up.status is JobStatus.FAILED
    assert len(attempts) == 4  # the first try and three retries
    assert gives_up.error == "ConnectionResetError: connection lost"
    await runner.shutdown(grace=1)


async def test_a_full_queue_refuses_and_records_nothing(database: Database) -> None:
    runner = runner_for(database, max_queued=2)
    runner.start()
    gate = Gate(closed=True)
    running = runner.submit("watch-progress:1", Work(gate, progress(1)), replace=True)
    await gate.entered.wait()
    runner.submit("watch-progress:2", Work(gate, progress(2, episode=2)))
    runner.submit("watch-progress:1", Work(gate, progress(3)), replace=True)  # the follow-up
    with pytest.raises(ServiceUnavailableError):
        runner.submit("watch-progress:3", Work(gate, progress(4, episode=3)))
    assert runner.pending == 2
    # A follow-up needs a slot too; an existing key without payload change does not.
    runner.submit("watch-progress:2", Work(gate, progress(2, episode=2)))
    gate.opened.set()
    await finished(running)
    later = runner.submit("watch-progress:3", Work(gate, progress(4, episode=3)))
    await finished(later)
    assert later.status is JobStatus.SUCCEEDED
    await runner.shutdown(grace=1)


async def test_finished_jobs_are_kept_for_a_bounded_time_and_number(database: Database) -> None:
    runner = runner_for(database, retention=0.2, max_retained=2)
    runner.start()
    jobs = [runner.submit(f"k{n}", Work(service.remove_nothing, None)) for n in range(3)]
    await finished(*jobs)
    assert runner.get(jobs[0].id) is None  # over the count
    assert runner.get(jobs[2].id) is jobs[2]
    await asyncio.sleep(0.3)
    assert runner.get(jobs[2].id) is None  # over the time
    await runner.shutdown(grace=1)


async def test_add_and_remove_of_one_lane_keep_their_order(database: Database) -> None:
    runner = runner_for(database, workers=4, batch_size=1)
    runner.start()
    jobs = []
    for _ in range(5):
        lane = f"favorite:{USER}:{ANIME}"
        jobs.append(runner.submit("add", Work(service.write_favorites, favorite(), lane=lane)))
        await jobs[-1].done.wait()
        jobs.append(
            runner.submit("remove", Work(service.remove_favorites, (USER, ANIME), lane=lane))
        )
        jobs.append(
            runner.submit("add-again", Work(service.write_favorites, favorite(), lane=lane))
        )
        jobs.append(
            runner.submit("remove-again", Work(service.remove_favorites, (USER, ANIME), lane=lane))
        )
        await finished(*jobs)
        assert await rows(database, "SELECT * FROM library.favorites") == []
    await runner.shutdown(grace=1)


async def test_shutdown_drains_queued_work_and_refuses_new(database: Database) -> None:
    runner = runner_for(database, workers=2, batch_size=10, max_queued=500)
    runner.start()
    jobs = [
        runner.submit(f"watch-progress:{n}", Work(service.write_progress, progress(n, episode=n)))
        for n in range(1, 201)
    ]
    assert await runner.shutdown(grace=10) == []
    assert all(job.status is JobStatus.SUCCEEDED for job in jobs)
    assert len(await rows(database, "SELECT * FROM library.watch_progress")) == 200
    with pytest.raises(ServiceUnavailableError):
        runner.submit("watch-progress:late", Work(service.write_progress, progress(1)))


async def test_shutdown_logs_by_key_what_it_could_not_drain(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    runner = runner_for(database, workers=1)
    gate = Gate(closed=True)
    runner.start()
    stuck = runner.submit("watch-progress:stuck", Work(gate, progress(1)))
    waiting = runner.submit("watch-progress:waiting", Work(gate, progress(1, episode=2)))
    await gate.entered.wait()
    with caplog.at_level(logging.ERROR, logger="anime_library.jobs"):
        left = await runner.shutdown(grace=0.1)
    assert left == ["watch-progress:stuck", "watch-progress:waiting"]
    assert "watch-progress:stuck, watch-progress:waiting" in caplog.text
    assert stuck.status is JobStatus.FAILED
    assert waiting.status is JobStatus.FAILED
    assert stuck.error == "Not done: the service stopped before it ran"
    assert await rows(database, "SELECT * FROM library.watch_progress") == []


async def test_runner_settings_and_start_are_checked(database: Database) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        runner_for(database, workers=0)
    runner = runner_for(database)
    early = runner.submit("k", Work(service.remove_nothing, None))  # waits for the workers
    runner.start()
    assert runner.accepting
    with pytest.raises(RuntimeError, match="already started"):
        runner.start()
    await finished(early)
    await runner.shutdown(grace=1)
    assert not runner.accepting


def test_transient_errors_and_error_texts() -> None:
    class Serialization(Exception):
        sqlstate = "40001"

    assert is_transient(ConnectionResetError())
    assert is_transient(RuntimeError("wrapped")) is False
    wrapped = RuntimeError("outer")
    wrapped.__cause__ = Serialization()
    assert is_transient(wrapped)
    assert describe_error(ValidationError("Invalid watch progress")) == "Invalid watch progress"
    assert describe_error(KeyError()) == "KeyError"
    assert len(describe_error(ValueError("x" * 1000))) == 300
