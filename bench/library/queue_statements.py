"""PostgreSQL's time per job in the queue's statements, as `library.jobs` fills up.

    uv run python bench/library/queue_statements.py [--rounds 5] [--jobs-per-round 5000]

On a throwaway PostgreSQL (no stack, nothing else running on it), the job
lifecycle the runner drives: group-committed submits of 11 watch-progress jobs,
then claims of up to 17 and their `succeeded` update, until the queue is empty;
finished jobs stay (as for the retention period). The workers start on a
backlog of 550 queued jobs (a restart, a deploy), on which PostgreSQL makes
the plans asyncpg's prepared statements keep. Once with the queue's own
pool (`repository.create_pool`: no bitmap scans) and once with a plain read
pool, each on a fresh database, so the planner's statistics say the table is
small, as on a fresh deploy before its first ANALYZE. Prints the CPU time of
the one PostgreSQL backend that ran the statements, per job, for each round:
flat means the statements' cost does not grow with the jobs gone through.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import uuid
from collections.abc import Awaitable, Callable

from library_database import fresh_library_database

from anime_common import ReadPool, create_read_pool
from anime_devstack.postgres import LocalPostgres
from anime_devstack.proc import cpu_seconds
from anime_library.jobs import repository
from anime_library.jobs.repository import NewJob

GROUP = 11  # jobs per group-committed submit (bench/library: ~11 at c=32)
BATCH = 17  # jobs per claim (bench/library: ~17 at c=32)
BACKLOG = 550  # jobs queued when the workers start


async def lifecycle_rounds(
    pool: ReadPool, *, rounds: int, jobs_per_round: int
) -> list[tuple[float, float]]:
    """(submit µs/job, claim+finish µs/job) of PostgreSQL's time, per round."""
    async with pool.acquire() as connection:
        pid = await connection.fetchval("SELECT pg_backend_pid()")
        user = uuid.uuid4()
        payload = (
            f'{{"user_id": "{user}", "anime_id": "{uuid.uuid4()}", "episode": 1,'
            ' "position_seconds": 61.0, "progress_percent": 4.2, "completed": false,'
            f' "last_watched_at": "{datetime.datetime.now(datetime.UTC).isoformat()}"}}'
        )

        async def submit(groups: int) -> None:
            for _ in range(groups):
                jobs = [
                    NewJob(
                        id=uuid.uuid4(),
                        key=f"watch-progress:{uuid.uuid4()}",
                        kind="watch-progress",
                        owner=user,
                        lane=None,
                        payload=payload,
                        replace=True,
                    )
                    for _ in range(GROUP)
                ]
                await repository.submit(
                    connection=connection, jobs=jobs, max_open=100_000, timeout=30
                )

        async def work() -> None:
            while batch := await repository.claim(
                connection=connection, worker="bench", lease_seconds=30, limit=BATCH
            ):
                async with connection.transaction():
                    await repository.mark_succeeded(
                        connection=connection, worker="bench", ids=[job.id for job in batch]
                    )

        async def timed(step: Callable[[], Awaitable[None]]) -> float:
            before = cpu_seconds(pid)
            await step()
            after = cpu_seconds(pid)
            if before is None or after is None:
                raise RuntimeError(f"PostgreSQL's backend {pid} went away")
            return after - before

        # The workers start on a backlog (a restart, a deploy): the plans their
        # statements keep are made on a table of some hundred queued jobs.
        await submit(BACKLOG // GROUP)
        await work()
        results = []
        for _ in range(rounds):
            spent = [0.0, 0.0]
            done = 0
            while done < jobs_per_round:
                spent[0] += await timed(lambda: submit(3))
                spent[1] += await timed(work)
                done += 3 * GROUP
            results.append((1e6 * spent[0] / done, 1e6 * spent[1] / done))
        return results


async def measure(
    postgres: LocalPostgres, *, queue_pool: bool, rounds: int, jobs_per_round: int
) -> list[tuple[float, float]]:
    settings = await fresh_library_database(
        postgres.url(), prefix="bench_queue", DB_POOL_SIZE=1, DB_MAX_OVERFLOW=0
    )
    pool = await (
        repository.create_pool(settings, application_name="bench-queue")
        if queue_pool
        else create_read_pool(settings, application_name="bench-queue")
    )
    try:
        return await lifecycle_rounds(pool, rounds=rounds, jobs_per_round=jobs_per_round)
    finally:
        await pool.close()


async def main(rounds: int, jobs_per_round: int) -> None:
    with LocalPostgres() as postgres:
        results = {
            label: await measure(
                postgres, queue_pool=queue_pool, rounds=rounds, jobs_per_round=jobs_per_round
            )
            for label, queue_pool in (("queue pool", True), ("plain pool", False))
        }
    print(f"PostgreSQL CPU µs per job, rounds of {jobs_per_round} jobs (submit / claim+finish):")
    print(f"  {'jobs so far':>11}" + "".join(f" {label:>22}" for label in results))
    for index in range(rounds):
        cells = "".join(
            f" {rows[index][0]:>10.1f} / {rows[index][1]:>7.1f}" for rows in results.values()
        )
        print(f"  {(index + 1) * jobs_per_round:>11}{cells}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs-per-round", type=int, default=5000)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.jobs_per_round))
