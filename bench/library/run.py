"""Library load benchmark: enqueue latency through the gateway, and jobs committed per second.

    uv run python bench/library/run.py [--duration 10] [--jobs 20000] [--check]

1. Starts the stack (anime_devstack: throwaway PostgreSQL, auth, catalog,
   library, the edge, Traefik), loads the demo catalog, registers 32 users
   through the gateway and warms the library's catalog cache.
2. wrk on `POST /favorites` and `POST /watch/progress` (requests rotate over
   users, anime and episodes, so most make a new job): through the gateway at
   concurrency 32 (the target) and 1 (latency without queueing), and straight
   at the library at 32 (the gateway's share); p50/p95/p99, requests/s and
   the CPU time Traefik and the service spent per request (from /proc);
   anything but a 202 (or a socket error) is counted as a failure.
   For scale, the same gateway at c=32 on `GET /health/proxy`, a route that
   does nothing (the proxy's /health touches no database and no upstream):
   the floor this machine puts under any endpoint's latency.
3. The job runner on its own (`anime_library.jobs.JobRunner`, the service's
   settings: 4 workers, batches of 200) against the same PostgreSQL: `--jobs`
   distinct watch-progress upserts submitted at once, timed until the last is
   committed, and the same with batches of 1 for comparison.

Targets (issue 5): enqueue p99 <= 25 ms at c=32; >= 500 jobs/s committed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import functools
import json
import os
import secrets
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from anime_devstack.wrk import Request, WrkResult, cpu_per_request, ensure_wrk, rotate, run_wrk

ROOT = Path(__file__).resolve().parents[2]
USERS = 32
CONCURRENCY = 32
PASSWORD = "bench password, long enough"  # noqa: S105 - accounts made for the run


def load(base: str, prelude: str, concurrency: int, seconds: int) -> WrkResult:
    """wrk with the prelude's requests; failures are counted (the report lists them)."""
    return run_wrk(base, concurrency=concurrency, seconds=seconds, prelude=prelude, check=False)


def stack_config(work: Path) -> Any:
    """auth (users, /health), catalog, library, the proxy (the floor's /health) and the edge."""
    from anime_devstack.config import StackConfig, default_services
    from anime_devstack.ports import free_ports

    names = ("auth", "catalog", "library", "proxy", "edge")
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    services = tuple(spec for spec in default_services(ports) if spec.name in names)
    unused = {"MEDIA_SERVICE_URL": "http://127.0.0.1:9"}
    return StackConfig.for_tests(work, root=ROOT, services=services, environ=os.environ | unused)


def prepare(gateway: str) -> tuple[list[str], list[dict[str, Any]]]:
    """Users (bearer headers) and the demo anime; one request per anime warms the caches."""
    with httpx.Client(base_url=gateway, timeout=30, trust_env=False) as client:
        tokens = []
        for _ in range(USERS):
            email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
            response = client.post("/auth/register", json={"email": email, "password": PASSWORD})
            response.raise_for_status()
            tokens.append(f"Bearer {response.json()['access_token']}")
        anime = client.get("/anime", params={"limit": 100}).json()
        for item in anime:
            for episode in episodes_of(item):
                warm = client.post(
                    "/watch/progress",
                    json={"anime_id": item["id"], "episode": episode, "position_seconds": 1},
                    headers={"Authorization": tokens[0]},
                )
                assert warm.status_code == 202, warm.text
    return tokens, anime


def episodes_of(item: dict[str, Any]) -> range:
    """Up to three episodes that exist (a movie has one)."""
    return range(1, min(3, item["episodes_total"] or 3) + 1)


def post(path: str, token: str, body: dict[str, Any]) -> Request:
    headers = {"Authorization": token, "Content-Type": "application/json"}
    return Request(path, "POST", headers, json.dumps(body))


def favorite_requests(tokens: list[str], anime: list[dict[str, Any]]) -> list[Request]:
    return [
        post("/favorites", token, {"anime_id": item["id"]}) for item in anime for token in tokens
    ]


def progress_requests(tokens: list[str], anime: list[dict[str, Any]]) -> list[Request]:
    requests = []
    for index, item in enumerate(anime):
        for episode in episodes_of(item):
            token = tokens[(index + episode) % len(tokens)]
            body = {"anime_id": item["id"], "episode": episode, "position_seconds": 60 + index}
            requests.append(post("/watch/progress", token, body))
    return requests


async def runner_throughput(database_url: str, *, jobs: int, batch_size: int) -> float:
    """Jobs/s of the service's runner settings writing distinct progress rows."""
    from anime_common import Database, create_engine, load_settings
    from anime_library.jobs import JobRunner, Work
    from anime_library.repository import ProgressRow
    from anime_library.service import write_progress
    from anime_library.settings import LibrarySettings

    # The runner signs nothing; the key only satisfies the settings' checks.
    settings = load_settings(
        LibrarySettings, DATABASE_URL=database_url, SECRET_KEY=secrets.token_urlsafe(48)
    )
    database = Database(create_engine(settings, application_name="bench-runner"))
    runner = JobRunner(
        transaction=database.transaction,
        workers=settings.JOB_WORKERS,
        max_queued=jobs,
        batch_size=batch_size,
    )
    user, anime = uuid.uuid4(), uuid.uuid4()
    now = datetime.datetime.now(datetime.UTC)
    submitted = [
        runner.submit(
            f"watch-progress:{user}:{anime}:{episode}",
            Work(
                write_progress,
                ProgressRow(
                    user_id=user,
                    anime_id=anime,
                    episode=episode,
                    position_seconds=float(episode),
                    progress_percent=None,
                    completed=False,
                    last_watched_at=now,
                ),
            ),
        )
        for episode in range(1, jobs + 1)
    ]
    started = time.perf_counter()
    runner.start()
    for job in submitted:
        await job.done.wait()
    elapsed = time.perf_counter() - started
    await runner.shutdown(grace=5)
    await database.dispose()
    failed = sum(job.status != "succeeded" for job in submitted)
    if failed:
        sys.exit(f"{failed} benchmark jobs failed")
    return jobs / elapsed


def main() -> None:
    from anime_devstack.stack import Stack

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (10)")
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs for the runner run")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    ensure_wrk()

    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    results: dict[str, tuple[WrkResult, dict[str, float | None]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-library-") as tmp:
        print("starting the stack ...", flush=True)
        with Stack(stack_config(Path(tmp) / "stack")) as stack:
            stack.seed_demo_catalog()
            assert stack.database_url is not None
            tokens, anime = prepare(stack.gateway_url)
            print(f"{len(tokens)} users, {len(anime)} anime; measuring ...", flush=True)
            workloads = {
                "POST /favorites": ("library", rotate(favorite_requests(tokens, anime))),
                "POST /watch/progress": ("library", rotate(progress_requests(tokens, anime))),
                "GET /health/proxy (floor)": ("proxy", rotate(["/health/proxy"])),
            }
            for name, (service, prelude) in workloads.items():
                targets = {"gateway": stack.gateway_url, "direct": stack.service_url(service)}
                pids = {"traefik": stack.pid("traefik"), "service": stack.pid(service)}
                load(stack.gateway_url, prelude, CONCURRENCY, 2)  # warm-up
                runs = [("gateway", CONCURRENCY)]
                if service == "library":
                    runs += [("gateway", 1), ("direct", CONCURRENCY)]
                for where, concurrency in runs:
                    label = f"{name} {where} c={concurrency}"
                    results[label] = result, _ = cpu_per_request(
                        functools.partial(
                            load, targets[where], prelude, concurrency, args.duration
                        ),
                        # Straight at the service, Traefik has no part in the request.
                        pids if where == "gateway" else pids | {"traefik": None},
                    )
                    print(
                        f"  {label}: {result.rps:.0f} req/s, p99 {result.p99_ms:.2f} ms, "
                        f"{result.failures} failures",
                        flush=True,
                    )
            rates = {
                size: asyncio.run(
                    runner_throughput(stack.database_url, jobs=args.jobs, batch_size=size)
                )
                for size in (200, 1)
            }
    ok = report(results, rates)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.check and not ok:
        sys.exit(1)


def report(
    results: dict[str, tuple[WrkResult, dict[str, float | None]]], rates: dict[int, float]
) -> bool:
    ok = True
    print("\nenqueue latency (failures: socket errors and answers other than 2xx);")
    print("CPU µs per request of Traefik and of the service (library, or proxy for the floor):")
    print(
        f"  {'endpoint':<44} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
        f" {'fail':>5} {'traefik':>8} {'service':>8}"
    )
    for name, (sample, cpu) in results.items():
        traefik, service = ("-" if us is None else f"{us:.0f}" for us in cpu.values())
        print(
            f"  {name:<44} {sample.rps:>7.0f} {sample.p50_ms:>7.2f} {sample.p95_ms:>7.2f}"
            f" {sample.p99_ms:>7.2f} {sample.failures:>5} {traefik:>8} {service:>8}"
        )
        if sample.failures:
            ok = False
        target = "(floor)" not in name and name.endswith(f"gateway c={CONCURRENCY}")
        if target and sample.p99_ms > 25:
            ok = False
            print(f"  MISSED: {name} p99 {sample.p99_ms:.1f} ms > 25 ms")
    print("\njob runner (4 workers), distinct watch-progress upserts:")
    for size, rate in rates.items():
        print(f"  batches of {size:<4} {rate:>8.0f} jobs/s committed")
    if rates[200] < 500:
        ok = False
        print(f"  MISSED: {rates[200]:.0f} jobs/s < 500")
    return ok


if __name__ == "__main__":
    main()
