"""What the durable job costs per write, in the library's process and in PostgreSQL.

    uv run python bench/library/job_cost.py [--seconds 30] [--keys 190]

The stack bench (`run.py`) judges the targets, but its share of the floor
moves by several points between runs on these shared cores, more than most
changes to the runner. This one leaves out HTTP, Traefik and wrk: the
service's `JobRunner` (its settings, its workers) in this process, on a
throwaway PostgreSQL, and 32 clients that each stand in for a request (a
random pause, `--request-us` of CPU), then submit a watch-progress write
over `--keys` hot keys and wait for its job, as the route does. The pauses
give the groups about the size they have at c=32 through the gateway (~11
jobs), and the workers' batches follow from the runner's own rules: a job's
cost depends on both. Printed per 5 s slice: jobs submitted per second, the library's CPU per
job beyond the stand-in work, PostgreSQL's (every process of the cluster,
the autovacuum workers that came and went included) and the mean group and
batch sizes. The figures still move with the machine (one run to the
next: 100-170 µs in the library, 130-200 in PostgreSQL, the slower runs
also the ones with fewer jobs/s), so compare two versions of the runner
in alternating runs, several of each.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import functools
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from library_database import fresh_library_database

from anime_devstack.postgres import LocalPostgres, postmaster_pid
from anime_library.app import create_runner
from anime_library.jobs import repository
from anime_library.jobs.runner import JobRunner, Work
from anime_library.watch.repository import WRITE_PROGRESS, ProgressRow

CLIENTS = 32  # the stack bench's concurrency
SLICE_SECONDS = 5
PAUSE_SECONDS = 0.008  # the most a client waits between writes: groups of ~11 at c=32
_TICK = os.sysconf("SC_CLK_TCK")


def cluster_cpu_seconds(pgdata: Path) -> float:
    """CPU time of a PostgreSQL cluster: its postmaster, live children and reaped ones."""
    postmaster = postmaster_pid(pgdata)
    if postmaster is None:
        raise RuntimeError("PostgreSQL is not running")
    fields = _stat(postmaster)
    # utime, stime, then cutime and cstime: children the postmaster has reaped.
    total = sum(int(value) for value in fields[11:15])
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            child = _stat(int(entry.name))
        except OSError:
            continue  # gone meanwhile: its time is in the postmaster's cutime now
        if int(child[1]) == postmaster:  # ppid
            total += int(child[11]) + int(child[12])
    return total / _TICK


def _stat(pid: int) -> list[str]:
    # The fields after the parenthesised command name, which may hold spaces.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def count_calls(counts: Counter[str]) -> None:
    """Count the runner's group statements and finished batches, and the jobs in them."""

    def wrap(name: str, size: Callable[[dict[str, Any]], int]) -> None:
        original = getattr(repository, name)

        @functools.wraps(original)
        async def counted(*args: Any, **kwargs: Any) -> Any:
            result = await original(*args, **kwargs)
            counts[name] += 1
            counts[f"{name}:jobs"] += size(kwargs)
            return result

        setattr(repository, name, counted)

    wrap("submit", lambda kwargs: len(kwargs["jobs"]))
    wrap("write_and_succeed", lambda kwargs: len(kwargs["ids"]))


async def client(
    runner: JobRunner, index: int, *, keys: int, request_seconds: float, done: list[int]
) -> None:
    users = [uuid.UUID(int=user + 1) for user in range(CLIENTS)]
    anime = [uuid.UUID(int=(1 << 64) + key) for key in range(keys)]
    rng = random.Random(index)  # noqa: S311 - load shape, not secrets
    key = index
    while True:
        await asyncio.sleep(rng.uniform(0, PAUSE_SECONDS))
        started = time.perf_counter()
        while time.perf_counter() - started < request_seconds:
            pass  # the request's own work, which spaces the submits as a route does
        key = (key + CLIENTS) % keys
        row = ProgressRow(
            user_id=users[key % CLIENTS],
            anime_id=anime[key],
            episode=1,
            position_seconds=60.0,
            progress_percent=None,
            completed=False,
            last_watched_at=datetime.datetime.now(datetime.UTC),
        )
        await runner.submit(
            f"watch-progress:{row.user_id}:{row.anime_id}:1",
            Work(WRITE_PROGRESS, row),
            owner=row.user_id,
            replace=True,
        )
        done[0] += 1


async def measure(postgres: LocalPostgres, *, seconds: int, keys: int, request_us: float) -> None:
    settings = await fresh_library_database(postgres.url(), prefix="bench_job_cost")
    runner = await create_runner(settings)
    runner.start()
    counts: Counter[str] = Counter()
    count_calls(counts)
    done = [0]
    clients = [
        asyncio.create_task(
            client(runner, index, keys=keys, request_seconds=request_us / 1e6, done=done)
        )
        for index in range(CLIENTS)
    ]
    await asyncio.sleep(SLICE_SECONDS)  # warm-up: pools, plans, caches
    print(
        f"{'slice':>6} {'jobs/s':>7} {'library µs/job':>15} {'PostgreSQL µs/job':>18}"
        f" {'group':>6} {'batch':>6}"
    )
    sums = [0, 0.0, 0.0]
    for slice_index in range(seconds // SLICE_SECONDS):
        before = (done[0], time.process_time(), cluster_cpu_seconds(postgres.pgdata))
        calls_before = counts.copy()
        wall = time.perf_counter()
        await asyncio.sleep(SLICE_SECONDS)
        wall = time.perf_counter() - wall
        jobs = done[0] - before[0]
        library = time.process_time() - before[1] - jobs * request_us / 1e6
        database = cluster_cpu_seconds(postgres.pgdata) - before[2]
        calls = counts - calls_before
        sums = [sums[0] + jobs, sums[1] + library, sums[2] + database]
        print(
            f"{slice_index * SLICE_SECONDS:>5}s {jobs / wall:>7.0f} {1e6 * library / jobs:>15.1f}"
            f" {1e6 * database / jobs:>18.1f} {_ratio(calls, 'submit'):>6.1f}"
            f" {_ratio(calls, 'write_and_succeed'):>6.1f}"
        )
    print(f"{'all':>6} {'':>7} {1e6 * sums[1] / sums[0]:>15.1f} {1e6 * sums[2] / sums[0]:>18.1f}")
    for task in clients:
        task.cancel()
    await asyncio.gather(*clients, return_exceptions=True)
    await runner.shutdown(grace=5)
    await runner.close()


def _ratio(calls: Counter[str], name: str) -> float:
    return calls[f"{name}:jobs"] / calls[name] if calls[name] else 0.0


async def main(*, seconds: int, keys: int, request_us: float) -> None:
    with LocalPostgres() as postgres:
        await measure(postgres, seconds=seconds, keys=keys, request_us=request_us)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=30, help="measured seconds (30)")
    parser.add_argument("--keys", type=int, default=190, help="distinct progress keys (190)")
    parser.add_argument(
        "--request-us", type=float, default=250.0, help="CPU µs of each stand-in request (250)"
    )
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    asyncio.run(main(seconds=args.seconds, keys=args.keys, request_us=args.request_us))
    print(f"load average after: {os.getloadavg()[0]:.2f}")
