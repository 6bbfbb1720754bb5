"""The durable job runner on its own, against a real PostgreSQL: keys, payloads, leases, bounds."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import functools
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from anime_common import (
    Database,
    ServiceUnavailableError,
    ValidationError,
    asyncpg_dsn,
)
from anime_devstack.ports import free_port
from anime_library.app import job_kinds
from anime_library.favorites import repository as favorites_repository
from anime_library.favorites import service as favorites
from anime_library.favorites.repository import FavoriteRow
from anime_library.jobs import repository as job_repository
from anime_library.jobs.runner import (
    Handler,
    Job,
    JobKind,
    JobRunner,
    JobStatus,
    Work,
    describe_error,
    is_transient,
)
from anime_library.jobs.schemas import JobOut
from anime_library.watch import repository as watch_repository
from anime_library.watch.repository import ProgressRow

from .conftest import library_settings

pytestmark = pytest.mark.anyio

USER = uuid.UUID("00000000-0000-4000-8000-000000000001")
ANIME = uuid.UUID("00000000-0000-4000-8000-0000000000a1")


class Gate:
    """A progress handler that records its payloads and, when closed, waits to be let through."""

    def __init__(self, *, closed: bool = False) -> None:
        self.calls: list[list[Any]] = []
        self.entered = asyncio.Event()
        self.opened = asyncio.Event()
        if not closed:
            self.opened.set()

    async def __call__(self, *, connection: asyncpg.Connection, payloads: Sequence[Any]) -> None:
        self.calls.append(list(payloads))
        self.entered.set()
        await self.opened.wait()
        await job_repository.write_payloads(
            connection=connection, write=watch_repository.WRITE_PROGRESS, payloads=payloads
        )


def make_runner(
    database: Database,
    database_url: str,
    pool: Any,
    *,
    extra: Sequence[JobKind] = (),
    listen: Any = None,
    **options: Any,
) -> JobRunner:
    settings = library_settings(database_url)
    defaults: dict[str, Any] = {
        "workers": 2,
        "max_open": 1000,
        "retry_backoff": 0.001,
        "poll_interval": 0.05,
    }
    return JobRunner(
        pool=pool,
        listen=listen or functools.partial(asyncpg.connect, asyncpg_dsn(database_url)),
        kinds=[*job_kinds(settings), *extra],
        **(defaults | options),
    )


@asynccontextmanager
async def runner_for(
    database: Database, database_url: str, *, start: bool = True, **options: Any
) -> AsyncIterator[JobRunner]:
    pool = await job_repository.create_pool(
        library_settings(database_url), application_name="test-jobs"
    )
    runner = make_runner(database, database_url, pool, **options)
    if start:
        runner.start()
    try:
        yield runner
    finally:
        await runner.shutdown(grace=5)
        await runner.close()


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


async def finished(runner: JobRunner, *jobs: Job) -> list[Job]:
    """Each job as stored once it has finished."""
    done = []
    async with asyncio.timeout(20):
        for job in jobs:
            while True:
                current = await runner.get(job.id)
                assert current is not None
                if current.finished:
                    done.append(current)
                    break
                await asyncio.sleep(0.01)
    return done


async def settle(runner: JobRunner) -> None:
    """One job run to its end: what the start-up left (the listener's wake-up of every
    worker, for whatever was notified before it listened) is spent."""
    warm = Work(watch_repository.WRITE_PROGRESS, progress(1, episode=999))
    await finished(runner, await runner.submit("watch-progress:settle", warm))


async def wait_until(database: Database, sql: str, expected: Any) -> None:
    async with asyncio.timeout(20):
        while (await rows(database, sql)) != expected:  # noqa: ASYNC110 - polls the database
            await asyncio.sleep(0.02)


async def test_a_job_is_committed_before_submit_returns_and_then_succeeds(
    database: Database, database_url: str
) -> None:
    async with runner_for(database, database_url) as runner:
        job = await runner.submit(
            "favorite:add:x", Work(favorites_repository.ADD_FAVORITES, favorite()), owner=USER
        )
        # Durable before the 202: another connection already sees it.
        stored = await rows(database, "SELECT id, key, owner FROM library.jobs")
        assert stored == [(job.id, "favorite:add:x", USER)]
        assert job.status in (JobStatus.QUEUED, JobStatus.RUNNING)
        (done,) = await finished(runner, job)
        shape = JobOut.of(done).model_dump()
        assert shape["status"] == "succeeded"
        assert shape["error"] is None
        assert shape["finished_at"] >= shape["created_at"]
        assert set(shape) == {"id", "key", "status", "error", "created_at", "finished_at"}
        assert done.owner == USER
        assert len(await rows(database, "SELECT * FROM library.favorites")) == 1
        assert runner.committed == 1
        assert await runner.get(uuid.uuid4()) is None


async def test_concurrent_submits_are_one_statement_and_one_key_one_job(
    database: Database, database_url: str
) -> None:
    async with runner_for(database, database_url, start=False, group_window=0.05) as runner:
        submits = [
            runner.submit(
                f"watch-progress:{n}", Work(watch_repository.WRITE_PROGRESS, progress(n, episode=n))
            )
            for n in range(1, 101)
        ]
        same = [
            runner.submit("favorite:add:k", Work(favorites_repository.ADD_FAVORITES, favorite()))
        ] * 3
        jobs = await asyncio.gather(*submits, *same)
        # One group, one INSERT: every row carries the same inserting transaction.
        assert await rows(
            database, "SELECT count(*), count(DISTINCT xmin::text) FROM library.jobs"
        ) == [(101, 1)]
        assert len({job.id for job in jobs[100:]}) == 1
        again = await runner.submit(
            "favorite:add:k", Work(favorites_repository.ADD_FAVORITES, favorite())
        )
        assert again.id == jobs[100].id  # still open: the same job, its first payload
        assert again.payload == jobs[100].payload
        runner.start()
        done = await finished(runner, *jobs)
        assert {job.status for job in done} == {JobStatus.SUCCEEDED}
        assert len(await rows(database, "SELECT * FROM library.watch_progress")) == 100
        third = await runner.submit(
            "favorite:add:k", Work(favorites_repository.ADD_FAVORITES, favorite())
        )
        assert third.id != again.id  # once finished, the key is free again


async def test_a_job_that_succeeded_since_the_callers_read_is_the_answer(
    database: Database, database_url: str
) -> None:
    add = Work(favorites_repository.ADD_FAVORITES, favorite())
    async with runner_for(database, database_url) as runner:
        (first,) = await finished(runner, await runner.submit("favorite:add:k", add))
        # A caller that read before `first` existed (or while it was open) is
        # answered by it: it did what was asked, and nothing new is queued.
        before = first.created_at - datetime.timedelta(microseconds=1)
        again = await runner.submit("favorite:add:k", add, done_after=before)
        assert (again.id, again.status, again.payload) == (first.id, first.status, add.payload)
        # A caller that saw it finish asks for a new job.
        later = await runner.submit("favorite:add:k", add, done_after=first.created_at)
        assert later.id != first.id
        assert await rows(database, "SELECT count(*) FROM library.jobs") == [(2,)]
        with pytest.raises(ValueError, match="first payload stands"):
            await runner.submit("k", add, replace=True, done_after=before)


def test_an_add_is_answered_by_the_job_it_saw_open_not_by_one_it_saw_finished() -> None:
    """What `add_favorite` passes as `done_after`, against the rule just above."""
    now = datetime.datetime.now(datetime.UTC)

    def seen(status: str) -> job_repository.JobRow:
        return job_repository.JobRow(
            id=uuid.uuid4(), key="k", status=status, error=None, created_at=now,
            finished_at=None, owner=None, payload=None,
        )  # fmt: skip

    assert favorites._unseen_after(None) < now  # nothing seen: any job since counts
    assert favorites._unseen_after(seen("queued")) < now  # seen open: it counts too
    assert favorites._unseen_after(seen("running")) < now
    assert favorites._unseen_after(seen("succeeded")) == now  # seen done: only later ones
    assert favorites._unseen_after(seen("failed")) == now


async def test_the_newest_payload_replaces_a_queued_one(
    database: Database, database_url: str
) -> None:
    gate = Gate()
    kind = JobKind("gate", gate, ProgressRow)
    async with runner_for(database, database_url, start=False, extra=[kind]) as runner:
        job = await runner.submit("watch-progress:k", Work(gate, progress(10)), replace=True)
        again = await runner.submit("watch-progress:k", Work(gate, progress(20)), replace=True)
        assert again.id == job.id
        runner.start()
        await finished(runner, job)
    assert [[row.position_seconds for row in call] for call in gate.calls] == [[20]]


async def test_a_submit_while_running_schedules_exactly_one_follow_up(
    database: Database, database_url: str
) -> None:
    gate = Gate(closed=True)
    kind = JobKind("gate", gate, ProgressRow)
    # No poll to speak of: nothing notifies the follow-up, its worker claims it next.
    async with runner_for(database, database_url, extra=[kind], poll_interval=60) as runner:
        await settle(runner)
        job = await runner.submit("watch-progress:k", Work(gate, progress(10)), replace=True)
        await gate.entered.wait()
        assert (await runner.get(job.id)).status is JobStatus.RUNNING  # type: ignore[union-attr]
        for position in (20, 30, 40):
            later = await runner.submit(
                "watch-progress:k", Work(gate, progress(position)), replace=True
            )
            assert later.id == job.id
        gate.opened.set()
        (done,) = await finished(runner, job)
        assert done.status is JobStatus.SUCCEEDED
    assert [[row.position_seconds for row in call] for call in gate.calls] == [[10], [40]]
    stored = await rows(
        database, "SELECT position_seconds FROM library.watch_progress WHERE episode = 1"
    )
    assert stored == [(40,)]


async def test_twenty_rapid_updates_end_with_the_last_position(
    database: Database, database_url: str
) -> None:
    async with runner_for(database, database_url, group_window=0) as runner:
        jobs = []
        for position in range(1, 21):
            work = Work(watch_repository.WRITE_PROGRESS, progress(float(position * 10)))
            jobs.append(await runner.submit("watch-progress:u:a:1", work, replace=True))
        await finished(runner, *jobs)
    stored = await rows(database, "SELECT position_seconds FROM library.watch_progress")
    assert stored == [(200,)]


async def test_a_failing_job_is_failed_with_its_error_and_leaves_no_row(
    database: Database, database_url: str
) -> None:
    async def insert_then_fail(*, connection: asyncpg.Connection, payloads: Sequence[Any]) -> None:
        await job_repository.write_payloads(
            connection=connection, write=favorites_repository.ADD_FAVORITES, payloads=payloads
        )
        raise ValueError("the anime vanished")

    kind = JobKind("bad", insert_then_fail, FavoriteRow)
    async with runner_for(database, database_url, extra=[kind]) as runner:
        job = await runner.submit("favorite:add:bad", Work(insert_then_fail, favorite()))
        (done,) = await finished(runner, job)
    assert done.status is JobStatus.FAILED
    assert done.error == "ValueError: the anime vanished"
    assert done.finished_at is not None
    assert await rows(database, "SELECT * FROM library.favorites") == []


async def test_one_bad_job_in_a_batch_fails_alone(database: Database, database_url: str) -> None:
    payloads = [progress(5, episode=1), progress(5, episode=2, percent=150), progress(5, episode=3)]
    async with runner_for(database, database_url, start=False, workers=1, batch_size=50) as runner:
        jobs = await asyncio.gather(
            *(
                runner.submit(
                    f"watch-progress:{row.episode}", Work(watch_repository.WRITE_PROGRESS, row)
                )
                for row in payloads
            )
        )
        runner.start()
        done = await finished(runner, *jobs)
    assert [job.status for job in done] == [
        JobStatus.SUCCEEDED,
        JobStatus.FAILED,
        JobStatus.SUCCEEDED,
    ]
    # The database's own check rejected it; the text names the kind, not the SQL.
    assert done[1].error == "Database error (CheckViolationError)"
    stored = await rows(database, "SELECT episode FROM library.watch_progress ORDER BY episode")
    assert stored == [(1,), (3,)]


async def test_progress_is_checked_again_where_it_is_written(
    database: Database, database_url: str
) -> None:
    bad = ProgressRow(
        user_id=USER,
        anime_id=ANIME,
        episode=0,
        position_seconds=None,
        progress_percent=None,
        completed=False,
        last_watched_at=datetime.datetime.now(datetime.UTC),
    )
    async with runner_for(database, database_url) as runner:
        job = await runner.submit("watch-progress:bad", Work(watch_repository.WRITE_PROGRESS, bad))
        (done,) = await finished(runner, job)
    assert done.status is JobStatus.FAILED
    assert done.error == "Database error (CheckViolationError)"


async def test_a_payload_the_write_cannot_read_fails_its_job_alone(
    database: Database, database_url: str
) -> None:
    good = dataclasses.asdict(progress(10, episode=1))
    unreadable = [None, "text", good | {"episode": "two"}, good | {"position_seconds": "far"}]
    async with runner_for(database, database_url, start=False, workers=1) as runner:
        jobs = await asyncio.gather(
            runner.submit("watch-progress:good", Work(watch_repository.WRITE_PROGRESS, good)),
            *(
                runner.submit(f"watch-progress:bad:{n}", Work(watch_repository.WRITE_PROGRESS, bad))
                for n, bad in enumerate(unreadable)
            ),
        )
        runner.start()
        done = await finished(runner, *jobs)
    assert [job.status for job in done] == [JobStatus.SUCCEEDED] + [JobStatus.FAILED] * 4
    assert {job.error for job in done[1:]} == {
        "Database error (InvalidParameterValueError)",  # not a JSON object
        "Database error (InvalidTextRepresentationError)",  # a field of the wrong type
    }
    assert await rows(database, "SELECT episode, position_seconds FROM library.watch_progress") == [
        (1, 10)
    ]


async def test_a_write_runs_without_jobs_for_payloads_given_to_it(
    database: Database, database_url: str
) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await job_repository.write_payloads(
            connection=connection,
            write=watch_repository.WRITE_PROGRESS,
            payloads=[progress(5, episode=1), progress(6, episode=2)],
        )
        # A write of no steps writes nothing, and needs no statement.
        await job_repository.write_payloads(
            connection=connection, write=favorites_repository.REMOVE_NOTHING, payloads=[None]
        )
    finally:
        await connection.close()
    stored = await rows(
        database, "SELECT episode, position_seconds FROM library.watch_progress ORDER BY 1"
    )
    assert stored == [(1, 5), (2, 6)]
    assert await rows(database, "SELECT count(*) FROM library.jobs") == [(0,)]


class Serialization(Exception):
    sqlstate = "40001"


async def test_transient_errors_are_retried_with_backoff_up_to_a_bound(
    database: Database, database_url: str
) -> None:
    attempts: list[str] = []

    def flaky(key: str, failures: int) -> Handler:
        async def handler(*, connection: asyncpg.Connection, payloads: Sequence[Any]) -> None:
            attempts.append(key)
            if attempts.count(key) <= failures:
                raise Serialization("could not serialize access")
            await job_repository.write_payloads(
                connection=connection, write=watch_repository.WRITE_PROGRESS, payloads=payloads
            )

        return handler

    # Two kinds, so a worker that claims both jobs at once still runs them apart
    # (a transient error retries the whole group of one kind).
    recovering, hopeless_handler = flaky("recovers", 2), flaky("hopeless", 100)
    kinds = [
        JobKind("recovers", recovering, ProgressRow),
        JobKind("hopeless", hopeless_handler, ProgressRow),
    ]
    async with runner_for(database, database_url, extra=kinds, retry_attempts=3) as runner:
        recovers = await runner.submit("k1", Work(recovering, progress(1, episode=1)))
        hopeless = await runner.submit("k2", Work(hopeless_handler, progress(1, episode=2)))
        done = await finished(runner, recovers, hopeless)
    assert [job.status for job in done] == [JobStatus.SUCCEEDED, JobStatus.FAILED]
    assert attempts.count("recovers") == 3
    assert attempts.count("hopeless") == 4  # the first try and three retries
    assert done[1].error == "Serialization: could not serialize access"


async def test_an_unreachable_database_is_waited_for_not_failed(
    database: Database, database_url: str
) -> None:
    calls: list[int] = []

    async def outage(*, connection: asyncpg.Connection, payloads: Sequence[Any]) -> None:
        calls.append(1)
        if len(calls) <= 6:  # well past the retry bound
            raise ConnectionResetError("connection lost")
        await job_repository.write_payloads(
            connection=connection, write=watch_repository.WRITE_PROGRESS, payloads=payloads
        )

    kind = JobKind("outage", outage, ProgressRow)
    async with runner_for(database, database_url, extra=[kind], retry_attempts=2) as runner:
        job = await runner.submit("watch-progress:o", Work(outage, progress(7)))
        (done,) = await finished(runner, job)
    assert done.status is JobStatus.SUCCEEDED
    assert len(calls) == 7


async def test_a_full_queue_refuses_with_retry_after_and_records_nothing(
    database: Database, database_url: str
) -> None:
    async with runner_for(database, database_url, start=False, max_open=2) as runner:
        for episode in (1, 2):
            await runner.submit(
                f"watch-progress:{episode}",
                Work(watch_repository.WRITE_PROGRESS, progress(1, episode=1)),
            )
        with pytest.raises(ServiceUnavailableError) as refused:
            await runner.submit(
                "watch-progress:3", Work(watch_repository.WRITE_PROGRESS, progress(1))
            )
        assert refused.value.headers == {"Retry-After": "1"}
        # An open key takes no room.
        await runner.submit("watch-progress:2", Work(watch_repository.WRITE_PROGRESS, progress(2)))
        assert await rows(database, "SELECT count(*) FROM library.jobs") == [(2,)]
        counts = await runner.counts()
        assert (counts.queued, counts.running, counts.failed) == (2, 0, 0)
        assert counts.lag_seconds > 0


async def test_a_submit_behind_the_group_in_flight_keeps_its_own_timeout(
    database: Database, database_url: str
) -> None:
    """The next group waits for the one in flight; its submits' time counts from their arrival."""
    locker = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        # Writes to library.jobs wait for this lock: the first group's INSERT hangs.
        await locker.execute("BEGIN; LOCK TABLE library.jobs IN EXCLUSIVE MODE")
        async with runner_for(database, database_url, start=False, submit_timeout=1.0) as runner:
            loop = asyncio.get_running_loop()
            first = asyncio.create_task(
                runner.submit(
                    "watch-progress:1", Work(watch_repository.WRITE_PROGRESS, progress(1))
                )
            )
            await asyncio.sleep(0.3)  # the first group is in flight, blocked by the lock
            sent = loop.time()
            with pytest.raises(ServiceUnavailableError):
                await runner.submit(
                    "watch-progress:2", Work(watch_repository.WRITE_PROGRESS, progress(2))
                )
            waited = loop.time() - sent
            with pytest.raises(ServiceUnavailableError):
                await first
        # Before: it was sent once the first timed out, and waited a whole timeout more (≈1.7 s).
        assert waited < 1.5
    finally:
        await locker.close()
    assert await rows(database, "SELECT count(*) FROM library.jobs") == [(0,)]


async def test_an_unreachable_database_refuses_submits_with_a_503(
    database: Database, database_url: str
) -> None:
    nowhere = database_url.rsplit("@", 1)[0] + f"@127.0.0.1:{free_port()}/nowhere"
    pool = await job_repository.create_pool(library_settings(nowhere), application_name="test-jobs")
    runner = make_runner(database, database_url, pool)
    try:
        with pytest.raises(ServiceUnavailableError) as refused:
            await runner.submit(
                "watch-progress:x", Work(watch_repository.WRITE_PROGRESS, progress(1))
            )
        assert refused.value.headers == {"Retry-After": "1"}
    finally:
        await runner.shutdown(grace=1)
        await runner.close()
    assert await rows(database, "SELECT count(*) FROM library.jobs") == [(0,)]


async def test_finished_jobs_are_pruned_after_the_retention_period(
    database: Database, database_url: str
) -> None:
    gate = Gate(closed=True)
    kind = JobKind("gate", gate, ProgressRow)
    async with runner_for(database, database_url, extra=[kind], retention=0.3) as runner:
        done = await runner.submit("k", Work(favorites_repository.REMOVE_NOTHING, None))
        failed = await runner.submit(
            "watch-progress:bad", Work(watch_repository.WRITE_PROGRESS, None)
        )
        await finished(runner, done, failed)
        running = await runner.submit("watch-progress:slow", Work(gate, progress(1)))
        await gate.entered.wait()
        # Succeeded and failed ones go; an open one never does, however old.
        await wait_until(database, "SELECT count(*) FROM library.jobs", [(1,)])
        assert await runner.get(done.id) is None
        assert await runner.get(failed.id) is None
        assert await runner.get(running.id) is not None
        gate.opened.set()


async def test_add_and_remove_of_one_lane_keep_their_order(
    database: Database, database_url: str
) -> None:
    lane = f"favorite:{USER}:{ANIME}"
    pair = favorites_repository.FavoritePair(user_id=USER, anime_id=ANIME)
    async with runner_for(database, database_url, workers=4, batch_size=1) as runner:
        for _ in range(3):
            add = await runner.submit(
                "add", Work(favorites_repository.ADD_FAVORITES, favorite(), lane=lane)
            )
            await finished(runner, add)
            jobs = [
                await runner.submit(
                    "remove", Work(favorites_repository.REMOVE_FAVORITES, pair, lane=lane)
                ),
                await runner.submit(
                    "add-again", Work(favorites_repository.ADD_FAVORITES, favorite(), lane=lane)
                ),
                await runner.submit(
                    "remove-again", Work(favorites_repository.REMOVE_FAVORITES, pair, lane=lane)
                ),
            ]
            await finished(runner, *jobs)
            assert await rows(database, "SELECT * FROM library.favorites") == []


async def test_a_job_whose_worker_died_runs_again_and_lands_once(
    database: Database, database_url: str
) -> None:
    row = progress(33)
    async with runner_for(database, database_url, start=False) as runner:
        job = await runner.submit("watch-progress:dead", Work(watch_repository.WRITE_PROGRESS, row))
    # A worker of a process that died: it claimed the job, wrote the row, never committed
    # the job's outcome. Its lease runs out.
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        claimed = await job_repository.claim(
            connection=connection, worker="dead:1:0", lease_seconds=0.2, limit=10
        )
        assert [item.id for item in claimed] == [job.id]
        await job_repository.write_payloads(
            connection=connection, write=watch_repository.WRITE_PROGRESS, payloads=[row]
        )
    finally:
        await connection.close()
    async with runner_for(database, database_url, lease=5) as runner:
        (done,) = await finished(runner, job)
    assert done.status is JobStatus.SUCCEEDED
    assert await rows(database, "SELECT id, attempts FROM library.jobs") == [(job.id, 2)]
    # The handler is an idempotent upsert: the second run left one row, unchanged.
    assert await rows(database, "SELECT position_seconds FROM library.watch_progress") == [(33,)]


async def test_a_job_that_kills_every_worker_is_failed_at_last(
    database: Database, database_url: str
) -> None:
    async with runner_for(database, database_url, start=False) as runner:
        job = await runner.submit(
            "watch-progress:poison", Work(watch_repository.WRITE_PROGRESS, None)
        )
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        for attempt in range(3):
            await job_repository.claim(
                connection=connection, worker=f"dead:{attempt}", lease_seconds=0.01, limit=1
            )
            await asyncio.sleep(0.02)
            await job_repository.requeue_expired(connection=connection, max_attempts=3, error="x")
    finally:
        await connection.close()
    async with runner_for(database, database_url, start=False) as runner:
        stored = await runner.get(job.id)
    assert stored is not None
    assert (stored.status, stored.error) == (JobStatus.FAILED, "x")


async def test_a_notification_wakes_the_workers_of_another_runner(
    database: Database, database_url: str
) -> None:
    # No poll to speak of: only LISTEN/NOTIFY can bring the job to the running one.
    async with (
        runner_for(database, database_url, poll_interval=60) as worker,
        runner_for(database, database_url, start=False) as other,
    ):
        await asyncio.sleep(0.2)  # the listener is connected
        job = await other.submit(
            "watch-progress:n", Work(watch_repository.WRITE_PROGRESS, progress(1))
        )
        async with asyncio.timeout(5):
            (done,) = await finished(worker, job)
        assert done.status is JobStatus.SUCCEEDED
        assert worker.committed == 1


@pytest.mark.parametrize(
    ("workers", "lane"),
    [(1, None), (2, "lane")],
    ids=["notified-while-every-worker-was-busy", "next-of-a-lane"],
)
async def test_a_job_due_behind_a_running_one_runs_without_the_poll(
    database: Database, database_url: str, workers: int, lane: str | None
) -> None:
    """No poll to speak of. With one worker, the second job's notification comes while
    it is busy; with two and a lane, the idle one's claim skips the second (the lane's
    first is open). Either way the worker done with the first must claim it."""
    gate = Gate(closed=True)
    kind = JobKind("gate", gate, ProgressRow)
    options: dict[str, Any] = {"workers": workers, "poll_interval": 60, "extra": [kind]}
    async with runner_for(database, database_url, **options) as runner:
        await settle(runner)
        first = await runner.submit("watch-progress:1", Work(gate, progress(10), lane=lane))
        await gate.entered.wait()
        work = Work(watch_repository.WRITE_PROGRESS, progress(5, episode=2), lane=lane)
        second = await runner.submit("watch-progress:2", work)
        await asyncio.sleep(0.2)  # notified, and nobody could take it
        assert (await runner.get(second.id)).status is JobStatus.QUEUED  # type: ignore[union-attr]
        gate.opened.set()
        async with asyncio.timeout(5):
            done = await finished(runner, first, second)
    assert [job.status for job in done] == [JobStatus.SUCCEEDED, JobStatus.SUCCEEDED]


async def test_jobs_that_come_while_a_batch_runs_share_the_next_claim(
    database: Database, database_url: str
) -> None:
    """A worker notified while its batch ran claims after the claim delay, not at
    once, so what comes during the batch and the delay after it is one batch."""
    gate = Gate(closed=True)
    kind = JobKind("gate", gate, ProgressRow)
    options = {"workers": 1, "poll_interval": 60, "claim_delay": 0.3, "extra": [kind]}
    async with runner_for(database, database_url, **options) as runner:
        await settle(runner)
        first = await runner.submit("watch-progress:1", Work(gate, progress(10)))
        await gate.entered.wait()
        second = await runner.submit("watch-progress:2", Work(gate, progress(5, episode=2)))
        gate.opened.set()
        await asyncio.sleep(0.1)  # the first batch is done; the worker waits its delay
        third = await runner.submit("watch-progress:3", Work(gate, progress(5, episode=3)))
        await finished(runner, first, second, third)
    assert [len(payloads) for payloads in gate.calls] == [1, 2]


async def test_the_poll_runs_jobs_when_nobody_can_listen(
    database: Database, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def refuse() -> asyncpg.Connection:
        raise ConnectionRefusedError("no listener today")

    with caplog.at_level(logging.WARNING, logger="anime_library.jobs"):
        async with (
            runner_for(database, database_url, listen=refuse, poll_interval=0.05) as worker,
            runner_for(database, database_url, start=False) as other,
        ):
            job = await other.submit(
                "watch-progress:p", Work(watch_repository.WRITE_PROGRESS, progress(1))
            )
            (done,) = await finished(worker, job)
    assert done.status is JobStatus.SUCCEEDED
    assert "job listener cannot connect" in caplog.text


async def test_shutdown_refuses_submits_and_leaves_queued_jobs_queued(
    database: Database, database_url: str
) -> None:
    gate = Gate(closed=True)
    kind = JobKind("gate", gate, ProgressRow)
    async with runner_for(database, database_url, extra=[kind], workers=1, batch_size=1) as runner:
        first = await runner.submit("watch-progress:1", Work(gate, progress(1)))
        await gate.entered.wait()
        second = await runner.submit("watch-progress:2", Work(gate, progress(1, episode=2)))
        asyncio.get_running_loop().call_later(0.2, gate.opened.set)
        assert await runner.shutdown(grace=5) == 0
        with pytest.raises(ServiceUnavailableError):
            await runner.submit("watch-progress:3", Work(gate, progress(1, episode=3)))
        assert not runner.accepting
    statuses = await rows(database, "SELECT key, status FROM library.jobs ORDER BY key")
    assert statuses == [("watch-progress:1", "succeeded"), ("watch-progress:2", "queued")]
    del first, second


async def test_shutdown_past_the_grace_queues_the_batch_in_hand_again(
    database: Database, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    gate = Gate(closed=True)
    kind = JobKind("gate", gate, ProgressRow)
    with caplog.at_level(logging.WARNING, logger="anime_library.jobs"):
        async with runner_for(database, database_url, extra=[kind], workers=1) as runner:
            await runner.submit("watch-progress:stuck", Work(gate, progress(1)))
            await gate.entered.wait()
            assert await runner.shutdown(grace=0.1) == 1
    assert "1 job(s) of its batches not done" in caplog.text
    stored = await rows(database, "SELECT status, lease_owner, attempts FROM library.jobs")
    assert stored == [("queued", None, 0)]
    assert await rows(database, "SELECT * FROM library.watch_progress") == []


async def test_runner_settings_and_start_are_checked(database: Database, database_url: str) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        make_runner(database, database_url, None, workers=0)
    async with runner_for(database, database_url) as runner:
        with pytest.raises(RuntimeError, match="already started"):
            runner.start()

        async def unknown(*, connection: asyncpg.Connection, payloads: Sequence[Any]) -> None: ...

        with pytest.raises(ValueError, match="no job kind"):
            await runner.submit("k", Work(unknown, None))


def test_payloads_round_trip_through_json() -> None:
    import orjson

    kind = JobKind("watch-progress", watch_repository.WRITE_PROGRESS, ProgressRow)
    row = progress(12.5, percent=None)
    assert kind.load(orjson.dumps(row).decode()) == row
    assert JobKind("nothing", favorites_repository.REMOVE_NOTHING).load("null") is None


def test_transient_errors_and_error_texts() -> None:
    assert is_transient(ConnectionResetError())
    assert is_transient(RuntimeError("wrapped")) is False
    wrapped = RuntimeError("outer")
    wrapped.__cause__ = Serialization()
    assert is_transient(wrapped)
    assert describe_error(ValidationError("Invalid watch progress")) == "Invalid watch progress"
    assert describe_error(KeyError()) == "KeyError"
    # The server's message may quote values: only the kind of error is shown.
    leaky = asyncpg.exceptions.UniqueViolationError("duplicate key value (key)=(secret)")
    assert describe_error(leaky) == "Database error (UniqueViolationError)"
    assert len(describe_error(ValueError("x" * 1000))) == 300


async def test_a_lease_is_renewed_while_its_job_runs(database: Database, database_url: str) -> None:
    gate = Gate(closed=True)
    kind = JobKind("gate", gate, ProgressRow)
    async with runner_for(database, database_url, extra=[kind], lease=0.3) as runner:
        job = await runner.submit("watch-progress:long", Work(gate, progress(1)))
        await gate.entered.wait()
        # Wait until the lease was renewed past three leases of the first: a renewal that
        # failed would have handed the job out again (a second attempt, a second call).
        lease = "SELECT lease_expires_at FROM library.jobs"
        [(first,)] = await rows(database, lease)
        for _ in range(500):
            if (await rows(database, lease))[0][0] >= first + datetime.timedelta(seconds=0.9):
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("the lease was not renewed")
        gate.opened.set()
        (done,) = await finished(runner, job)
    assert done.status is JobStatus.SUCCEEDED
    assert len(gate.calls) == 1
    assert await rows(database, "SELECT attempts FROM library.jobs") == [(1,)]


async def test_a_job_of_a_kind_nobody_knows_fails_with_that_error(
    database: Database, database_url: str
) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        (row,) = await job_repository.submit(
            connection=connection,
            jobs=[
                job_repository.NewJob(
                    id=uuid.uuid4(), key="k", kind="retired", owner=None, lane=None,
                    payload="null", replace=False,
                )
            ],
            max_open=10,
            timeout=5,
        )  # fmt: skip
    finally:
        await connection.close()
    async with runner_for(database, database_url) as runner:
        (done,) = await finished(
            runner, Job(row.id, "k", JobStatus.QUEUED, None, row.created_at, None)
        )
    assert (done.status, done.error) == (JobStatus.FAILED, "LookupError: unknown kind retired")


async def test_workers_outlive_a_database_they_cannot_reach(
    database: Database, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    nowhere = database_url.rsplit("@", 1)[0] + f"@127.0.0.1:{free_port()}/nowhere"
    pool = await job_repository.create_pool(library_settings(nowhere), application_name="test-jobs")
    runner = make_runner(database, database_url, pool, poll_interval=0.05)
    with caplog.at_level(logging.WARNING, logger="anime_library.jobs"):
        runner.start()
        await asyncio.sleep(0.3)
        assert await runner.shutdown(grace=1) == 0
        await runner.close()
    assert "cannot claim" in caplog.text
    assert "job upkeep skipped" in caplog.text


async def test_the_queues_statements_read_indexes_by_plain_index_scans(database_url: str) -> None:
    # PostgreSQL caches a generic plan for asyncpg's prepared statements, made on
    # whatever the table held then (here: nothing, as on a fresh deploy); a plan that
    # scans library.jobs would be kept while the table grows to its retention. A
    # bitmap scan would read every dead index entry since the last vacuum
    # (`repository._SESSION_SETTINGS`): the queue's own pool plans none.
    pool = await job_repository.create_pool(
        library_settings(database_url), application_name="test-jobs"
    )
    try:
        async with pool.acquire() as connection:
            await connection.execute("SET plan_cache_mode = force_generic_plan")
            arrays = ", ".join(["'{}'"] * 6)
            statements = {
                "renew": (job_repository._RENEW, "'{}', 'w', 1"),
                "succeed": (job_repository._SUCCEED, "'{}', 'w'"),
                "release": (job_repository._RELEASE, "'{}', 'w', 1, 0"),
                "claim": (job_repository._CLAIM, "'w', 1, 10"),
                "requeue": (job_repository._REQUEUE_EXPIRED, "3, 'x'"),
                "prune": (job_repository._PRUNE, "1, 10"),
                "submit": (job_repository._SUBMIT_REPLACING, f"{arrays}, 10, '{{}}'"),
                "submit_kept": (job_repository._SUBMIT_KEEPING, f"{arrays}, 10, '{{}}'"),
            }
            for name, (sql, arguments) in statements.items():
                await connection.execute(f"PREPARE {name} AS {sql}")
                plan = "\n".join(
                    row[0] for row in await connection.fetch(f"EXPLAIN EXECUTE {name}({arguments})")
                )
                assert "Seq Scan" not in plan, (name, plan)
                assert "Bitmap" not in plan, (name, plan)
    finally:
        await pool.close()
