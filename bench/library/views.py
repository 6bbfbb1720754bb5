"""Views benchmark: the view job's statement, and the counts read on a large table.

    uv run python bench/library/views.py [--views 1000000] [--queries 2000]

1. A throwaway PostgreSQL (anime_devstack), the library schema by its migrations.
2. `--views` views written the way the job runner writes them: batches of 200
   (`JOB_BATCH_SIZE`) through `views.repository.record_views`, one statement
   per batch (`jobs.repository.write_payloads`, without the jobs' own rows);
   20,000 users, 2,000 anime with a skewed popularity (the most watched
   anime gets a fifth of all views), episodes 1-24, times over the last 90
   days. Reported: views recorded per second.
3. `GET /views/stats`'s query (`views.repository.view_counts`) for the most
   watched anime and random ones, p50/p99 over `--queries` runs, before and
   after the load; and, for scale, what counting the same views row by row
   would cost (`count(*)` over an indexed table of every counted view, the
   design the issue rules out).

Claim (issue 9): the counts cost the same however many views there are.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg

from anime_common import Database, asyncpg_dsn, create_engine, load_settings, migrate
from anime_devstack.postgres import LocalPostgres
from anime_library.app import MIGRATIONS
from anime_library.jobs.repository import write_payloads
from anime_library.settings import LibrarySettings
from anime_library.views.repository import ViewRow, record_views, view_counts

BATCH = 200
USERS = 20_000
ANIME = 2_000
DAYS = 90


def skewed_anime(anime: list[uuid.UUID], rng: random.Random) -> uuid.UUID:
    """A fifth of all views go to the first anime, the rest spread evenly."""
    return anime[0] if rng.random() < 0.2 else rng.choice(anime)


async def timed(runs: int, query: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await query()
        samples.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49], cuts[98]


async def measure_counts(
    database: Database, anime: list[uuid.UUID], runs: int, rng: random.Random
) -> dict[str, tuple[float, float]]:
    since = datetime.datetime.now(datetime.UTC).date() - datetime.timedelta(days=6)
    results = {}
    async with database.engine.connect() as connection:
        for label, pick in (
            ("most watched", lambda: anime[0]),
            ("random", lambda: rng.choice(anime)),
        ):

            async def query(pick: Callable[[], uuid.UUID] = pick) -> object:
                return await view_counts(connection=connection, anime_id=pick(), since=since)

            results[label] = await timed(runs, query)
    return results


async def run(url: str, *, views: int, queries: int) -> None:
    settings = load_settings(LibrarySettings, DATABASE_URL=url, SECRET_KEY="b" * 64)
    database = Database(create_engine(settings, application_name="bench-views"))
    await migrate(database.engine, MIGRATIONS)
    rng = random.Random(9)  # noqa: S311 - reproducible synthetic data
    users = [uuid.uuid4() for _ in range(USERS)]
    anime = [uuid.uuid4() for _ in range(ANIME)]
    now = datetime.datetime.now(datetime.UTC)

    before = await measure_counts(database, anime, queries, rng)
    raw = await asyncpg.connect(asyncpg_dsn(url))
    await raw.execute("CREATE TABLE bench_views (anime_id uuid, viewed_at timestamptz)")

    written = 0
    started = time.perf_counter()
    while written < views:
        rows = [
            ViewRow(
                user_id=rng.choice(users),
                anime_id=skewed_anime(anime, rng),
                episode=rng.randint(1, 24),
                viewed_at=now - datetime.timedelta(seconds=rng.uniform(0, DAYS * 86400)),
            )
            for _ in range(min(BATCH, views - written))
        ]
        await write_payloads(connection=raw, write=record_views(3600), payloads=rows)
        written += len(rows)
    elapsed = time.perf_counter() - started
    counted = await raw.fetchval("SELECT sum(views) FROM library.anime_view_totals")
    print(f"recorded {written:,} views in {elapsed:.1f} s: {written / elapsed:,.0f} views/s "
          f"({counted:,} counted after the one-hour dedupe)")  # fmt: skip

    # The alternative ruled out: one row per counted view, counted at read time.
    await raw.execute("INSERT INTO bench_views SELECT anime_id, counted_at FROM library.view_marks")
    await raw.execute("CREATE INDEX ON bench_views (anime_id, viewed_at)")
    await raw.execute("VACUUM ANALYZE bench_views")
    after = await measure_counts(database, anime, queries, rng)

    async def naive() -> object:
        return await raw.fetchrow(
            "SELECT count(*), count(*) FILTER (WHERE viewed_at >= now() - interval '7 days')"
            " FROM bench_views WHERE anime_id = $1",
            anime[0],
        )

    naive_cost = await timed(max(queries // 20, 20), naive)
    await raw.close()
    await database.dispose()

    print("\n| `GET /views/stats` query | p50 ms | p99 ms |\n|---|---:|---:|")
    for label in before:
        print(f"| {label} anime, empty tables | {before[label][0]:.3f} | {before[label][1]:.3f} |")
    for label in after:
        print(f"| {label} anime, after {written:,} views | {after[label][0]:.3f} | "
              f"{after[label][1]:.3f} |")  # fmt: skip
    print(f"| most watched anime, count(*) over every view (ruled out) | {naive_cost[0]:.3f} | "
          f"{naive_cost[1]:.3f} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--views", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=2_000)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    with LocalPostgres() as cluster:
        asyncio.run(run(cluster.url("postgres"), views=args.views, queries=args.queries))
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
