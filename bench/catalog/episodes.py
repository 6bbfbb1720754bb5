"""A release's whole episode list (`GET /episodes?release_id=` without `limit`), as the
frontend reads it, for a 1,200-episode release (One Piece sized) and a 28-episode one.

    uv run python bench/catalog/episodes.py [--episodes 1200] [--duration 5]

Starts auth, the catalog and Traefik (anime_devstack), creates both releases through
the catalog's internal upsert, then runs wrk at concurrency 1 and 32, direct and
through the gateway, on the whole lists and on one page of 100 for comparison. It
also counts the statements PostgreSQL runs per request (`pg_stat_database`
commits: the reader pool runs every statement in autocommit), which must be 1:
one round trip whatever the list's length, no N+1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from run import stack_config  # bench/catalog/run.py: the same three-service stack

from anime_common import CommonSettings, TokenVerifier, asyncpg_dsn, load_settings
from anime_devstack.wrk import WrkResult, ensure_wrk, run_wrk

CONCURRENCIES = (1, 32)


def create_release(direct: str, secret_key: str, *, hianime_id: str, episodes: int) -> str:
    """An anime with one release of `episodes` episodes; the release's id."""
    settings = load_settings(
        CommonSettings, SECRET_KEY=secret_key, DATABASE_URL="postgresql://unused/unused"
    )
    token = TokenVerifier(settings).issue_service_token("bench")
    episode_list = [
        {"number": n, "duration_seconds": 1440, "hianime_episode_id": f"{hianime_id}?ep={n}"}
        for n in range(1, episodes + 1)
    ]
    document = {
        "title": hianime_id,
        "hianime_id": hianime_id,
        "releases": [
            {
                "title": hianime_id,
                "season_number": 1,
                "episodes": episode_list,
            }
        ],
    }
    with httpx.Client(base_url=direct, timeout=60, trust_env=False) as client:
        made = client.post(
            "/internal/anime", json=document, headers={"Authorization": f"Bearer {token}"}
        )
        made.raise_for_status()
        releases = client.get("/releases", params={"anime_id": made.json()["id"]}).json()
    release_id: str = releases[0]["id"]
    return release_id


async def statements_per_request(database_url: str, url: str, requests: int = 200) -> float:
    """PostgreSQL commits (one per autocommit statement) per GET of `url`, on an idle stack."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    count = "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
    try:
        async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
            await client.get(url)  # the pool's connections are open before counting
            # An idle backend flushes its counters within PGSTAT_IDLE_INTERVAL (10 s).
            await asyncio.sleep(11)
            before = await connection.fetchval(count)
            for _ in range(requests):
                (await client.get(url)).raise_for_status()
            await asyncio.sleep(11)
            after = await connection.fetchval(count)
    finally:
        await connection.close()
    # This connection's own two reads are commits too.
    return float(after - before - 2) / requests


def main() -> None:
    from anime_devstack.stack import Stack

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--episodes", type=int, default=1200)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (5)")
    args = parser.parse_args()
    ensure_wrk()
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="bench-episodes-") as tmp,
        Stack(stack_config(Path(tmp) / "stack")) as stack,
    ):
        assert stack.database_url is not None
        direct, gateway = stack.service_url("catalog"), stack.gateway_url
        secret = stack.config.secret_key
        long = create_release(direct, secret, hianime_id="long-show-1", episodes=args.episodes)
        short = create_release(direct, secret, hianime_id="short-show-2", episodes=28)
        workloads = {
            f"{args.episodes} episodes, whole": f"/episodes?release_id={long}",
            f"{args.episodes} episodes, limit=100": f"/episodes?release_id={long}&limit=100",
            "28 episodes, whole": f"/episodes?release_id={short}",
        }
        with httpx.Client(base_url=direct, timeout=30, trust_env=False) as client:
            sizes = {name: len(client.get(path).content) for name, path in workloads.items()}
            counted = len(client.get(workloads[f"{args.episodes} episodes, whole"]).json())
        statements = {
            name: asyncio.run(statements_per_request(stack.database_url, direct + path))
            for name, path in workloads.items()
        }
        results: dict[str, WrkResult] = {}
        for path in workloads.values():  # warm-up: pools, plans, buffers
            run_wrk(direct + path, concurrency=32, seconds=2)
        for concurrency in CONCURRENCIES:
            for name, path in workloads.items():
                for where, base in (("direct", direct), ("gateway", gateway)):
                    key = f"{name} | {where} | c={concurrency}"
                    results[key] = run_wrk(
                        base + path, concurrency=concurrency, seconds=args.duration
                    )
                    print(f"  {key}: {results[key].rps:.0f} req/s", flush=True)
    report(args, counted, sizes, statements, results)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


def report(
    args: argparse.Namespace,
    counted: int,
    sizes: dict[str, int],
    statements: dict[str, float],
    results: dict[str, Any],
) -> None:
    print(f"\nthe whole list returned {counted} of {args.episodes} episodes; {os.cpu_count()} CPUs")
    for name, size in sizes.items():
        print(f"  {name}: {size / 1024:.1f} KiB a response, {statements[name]:.2f} statements")
    print(f"\n{'workload':<52} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for key, s in results.items():
        print(f"{key:<52} {s.rps:>8.0f} {s.p50_ms:>8.2f} {s.p95_ms:>8.2f} {s.p99_ms:>8.2f}")


if __name__ == "__main__":
    main()
