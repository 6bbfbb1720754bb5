"""Library load benchmark: enqueue latency through the gateway, and jobs committed per second.

    uv run python bench/library/run.py [--duration 10] [--jobs 20000] [--check]

1. Starts the stack (anime_devstack: throwaway PostgreSQL, auth, catalog,
   library, the edge, Traefik), loads the demo catalog, registers 32 users
   through the gateway and warms the library's catalog cache.
2. wrk on `POST /favorites` and `POST /watch/progress`, requests rotating over
   users, anime and episodes. Every favorite is added once beforehand, so each
   run measures the same thing: an add of a stored favorite (the read, the
   answer with its job); every progress write makes a job. Before each run
   the queue is drained, so no run pays for the last one's jobs. Through the gateway at
   concurrency 32 (the target) and 1 (latency without queueing), and straight
   at the library at 32 (the gateway's share); p50/p95/p99, requests/s and
   the CPU time Traefik and the service spent per request (from /proc);
   anything but a 202 (or a socket error) is counted as a failure.
   For scale, the same gateway at c=32 on `GET /health/proxy`, a route that
   does nothing (the proxy's /health touches no database and no upstream):
   the floor this machine puts under any endpoint's latency. It is also run for
   half as long just before and just after each target run, and the p99 target is
   judged against those two (the clock of these shared cores drifts by 15-20%
   within a minute of load: a floor measured a minute away can move the ratio
   more than the code does). The throughput target is judged on ten 2 s
   slices of the target and the floor interleaved (ABBA), which see the same
   minutes of that drift.
3. The job runner on its own (`anime_library.jobs.runner.JobRunner`, the service's
   settings: 2 workers, batches of 200) against a database of its own on the
   same PostgreSQL: `--jobs` distinct watch-progress upserts submitted at once
   (group-committed into library.jobs, timed as durable submits/s), then timed
   from the workers' start until the last is committed; and with batches of 1.
4. kill -9: a second library process on the stack's database, the
   watch-progress table locked so nothing it accepts can land, `--kill-writes`
   progress writes answered 202 by it, then `kill -9`; the stack's own
   library (another replica) takes its queue and, once their leases run out,
   its batches. Lost = accepted writes not in library.watch_progress after.

Targets (issue 19), ratios since this machine's floor sits near the old
absolute target: at c=32 through the gateway, enqueue p99 <= 2.5x the floor's
p99 and throughput >= 35% of the floor's; the runner commits >= 5,000 jobs/s;
kill -9 loses 0 accepted writes.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime
import functools
import json
import os
import signal
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
P99_RATIO = 2.5  # enqueue p99 at most this many times the floor's
RPS_SHARE = 0.35  # enqueue throughput at least this share of the floor's
RUNNER_TARGET = 5_000  # jobs/s committed
SLICES = 10  # interleaved slices, half the floor's and half the target's (ABBA order)
SLICE_SECONDS = 2
PASSWORD = "bench password, long enough"  # noqa: S105 - accounts made for the run


def load(base: str, prelude: str, concurrency: int, seconds: int) -> WrkResult:
    """wrk with the prelude's requests; failures are counted (the report lists them)."""
    return run_wrk(base, concurrency=concurrency, seconds=seconds, prelude=prelude, check=False)


def interleaved_share(
    gateway: str, prelude: str, floor: str, database_url: str
) -> tuple[float, float, float]:
    """(target req/s, floor req/s, share) over short slices of each in ABBA order.

    Both sides then see the same minutes of this machine's drifting clock, so the
    share moves less from run to run than one run set against its neighbours.
    The queue is drained before each slice: a floor slice must not share the
    cores with the target's jobs.
    """
    done = {"target": [0, 0.0], "floor": [0, 0.0]}
    for index in range(SLICES):
        side = "target" if index % 4 in (0, 3) else "floor"
        asyncio.run(drain(database_url))
        sample = load(gateway, prelude if side == "target" else floor, CONCURRENCY, SLICE_SECONDS)
        done[side][0] += sample.requests
        done[side][1] += sample.seconds
    target, floor_rps = (done[side][0] / done[side][1] for side in ("target", "floor"))
    return target, floor_rps, target / floor_rps


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
    """Users (bearer headers) and the demo anime, every favorite added once.

    One progress write per (anime, episode) warms the library's catalog cache.
    """
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
    asyncio.run(add_every_favorite(gateway, favorite_requests(tokens, anime)))
    return tokens, anime


async def add_every_favorite(gateway: str, requests: list[Request]) -> None:
    """Each favorite of the run stored before it, 32 adds at a time."""
    async with httpx.AsyncClient(base_url=gateway, timeout=30, trust_env=False) as client:
        for start in range(0, len(requests), 32):
            answers = await asyncio.gather(
                *(
                    client.post(r.path, headers=r.headers, content=r.body)
                    for r in requests[start : start + 32]
                )
            )
            for answer in answers:
                assert answer.status_code == 202, answer.text


async def drain(database_url: str) -> None:
    """Until the library has no open job: a run does not pay for the previous one's."""
    import asyncpg

    from anime_common import asyncpg_dsn

    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        deadline = time.perf_counter() + 120
        while await connection.fetchval(
            "SELECT count(*) FROM library.jobs WHERE status IN ('queued', 'running')"
        ):
            if time.perf_counter() > deadline:
                sys.exit("the library's queue did not drain in 120 s")
            await asyncio.sleep(0.1)
    finally:
        await connection.close()


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


async def runner_throughput(
    database_url: str, *, jobs: int, batch_size: int
) -> tuple[float, float]:
    """(durable submits/s, jobs/s committed) of the service's runner settings.

    On a database of its own: the stack's library would otherwise claim the jobs too.
    """
    from library_database import fresh_library_database

    from anime_library.app import create_runner
    from anime_library.jobs.runner import Work
    from anime_library.watch.repository import WRITE_PROGRESS, ProgressRow

    settings = await fresh_library_database(
        database_url, prefix="bench_runner", JOB_BATCH_SIZE=batch_size, JOB_MAX_OPEN=jobs
    )
    runner = await create_runner(settings)
    user, anime = uuid.uuid4(), uuid.uuid4()
    now = datetime.datetime.now(datetime.UTC)
    rows = [
        ProgressRow(
            user_id=user,
            anime_id=anime,
            episode=episode,
            position_seconds=float(episode),
            progress_percent=None,
            completed=False,
            last_watched_at=now,
        )
        for episode in range(1, jobs + 1)
    ]
    started = time.perf_counter()
    for chunk in range(0, jobs, 500):  # 500 requests waiting at once, group-committed
        await asyncio.gather(
            *(
                runner.submit(
                    f"watch-progress:{user}:{anime}:{row.episode}", Work(WRITE_PROGRESS, row)
                )
                for row in rows[chunk : chunk + 500]
            )
        )
    submits = jobs / (time.perf_counter() - started)
    started = time.perf_counter()
    runner.start()
    while runner.committed < jobs:  # noqa: ASYNC110 - the workers count as they commit
        await asyncio.sleep(0.002)
    elapsed = time.perf_counter() - started
    await runner.shutdown(grace=5)
    counts = await runner.counts()
    await runner.close()
    if counts.failed or counts.queued or counts.running:
        sys.exit(f"benchmark jobs not all done: {counts}")
    return submits, jobs / elapsed


def user_of(token: str) -> uuid.UUID:
    """The user id a bearer token names (its `sub`), to find that user's rows afterwards."""
    payload = token.removeprefix("Bearer ").split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return uuid.UUID(claims["sub"])


async def kill_9_lost(
    stack: Any, tokens: list[str], anime: list[dict[str, Any]], *, writes: int
) -> tuple[int, int, float]:
    """(accepted, lost, seconds until all landed) for a library process killed with -9."""
    import asyncpg

    from anime_common import asyncpg_dsn
    from anime_devstack.ports import free_port

    assert stack.database_url is not None
    plain = asyncpg_dsn(stack.database_url)
    port = free_port()
    env = os.environ | {
        "DATABASE_URL": stack.database_url,
        "SECRET_KEY": stack.config.secret_key,
        "CATALOG_SERVICE_URL": stack.service_url("catalog"),
        "AUTH_SERVICE_URL": stack.service_url("auth"),
        "PORT": str(port),
        "JOB_LEASE_SECONDS": "2",
        "LOG_LEVEL": "WARNING",
    }
    doomed = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "anime_library",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30, trust_env=False) as client:
            for _ in range(300):
                try:
                    if (await client.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            requests = [
                (token, item["id"], episode)
                for item in anime
                for episode in episodes_of(item)
                for token in tokens
            ][:writes]
            lock = await asyncpg.connect(plain)
            await lock.execute("BEGIN; LOCK TABLE library.watch_progress IN EXCLUSIVE MODE")
            accepted: list[tuple[uuid.UUID, uuid.UUID, int, datetime.datetime]] = []
            for start in range(0, len(requests), 32):
                answers = await asyncio.gather(
                    *(
                        client.post(
                            "/watch/progress",
                            json={"anime_id": anime_id, "episode": episode, "position_seconds": 7},
                            headers={"Authorization": token},
                        )
                        for token, anime_id, episode in requests[start : start + 32]
                    )
                )
                for (token, _, _), answer in zip(
                    requests[start : start + 32], answers, strict=True
                ):
                    if answer.status_code == 202:
                        body = answer.json()
                        accepted.append(
                            (
                                user_of(token),
                                uuid.UUID(body["anime_id"]),
                                body["episode"],
                                datetime.datetime.fromisoformat(body["last_watched_at"]),
                            )
                        )
        doomed.send_signal(signal.SIGKILL)
        await doomed.wait()
        await lock.close()  # the stack's library may write now
    finally:
        if doomed.returncode is None:
            doomed.kill()
            await doomed.wait()
    check = await asyncpg.connect(plain)
    started = time.perf_counter()
    try:
        while True:
            found = await check.fetchval(
                "SELECT count(*) FROM library.watch_progress w"
                " JOIN unnest($1::uuid[], $2::uuid[], $3::int[], $4::timestamptz[])"
                " AS a(user_id, anime_id, episode, at)"
                " ON (w.user_id, w.anime_id, w.episode) = (a.user_id, a.anime_id, a.episode)"
                " WHERE w.last_watched_at >= a.at",
                [item[0] for item in accepted],
                [item[1] for item in accepted],
                [item[2] for item in accepted],
                [item[3] for item in accepted],
            )
            if found == len(accepted) or time.perf_counter() - started > 60:
                break
            await asyncio.sleep(0.2)
    finally:
        await check.close()
    return len(accepted), len(accepted) - found, time.perf_counter() - started


def main() -> None:
    from anime_devstack.stack import Stack

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (10)")
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs for the runner run")
    parser.add_argument(
        "--kill-writes", type=int, default=1000, help="writes accepted before kill -9 (1000)"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    ensure_wrk()

    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    results: dict[str, tuple[WrkResult, dict[str, float | None]]] = {}
    # The floor just before and just after each target run: this machine's clock drifts
    # by 15-20% over a minute of load, more than the difference being measured.
    adjacent: dict[str, tuple[WrkResult, WrkResult]] = {}
    shares: dict[str, tuple[float, float, float]] = {}
    floor_seconds = max(args.duration // 2, 3)
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
            floor = workloads["GET /health/proxy (floor)"][1]
            for name, (service, prelude) in workloads.items():
                targets = {"gateway": stack.gateway_url, "direct": stack.service_url(service)}
                pids = {"traefik": stack.pid("traefik"), "service": stack.pid(service)}
                load(stack.gateway_url, prelude, CONCURRENCY, 2)  # warm-up
                runs = [("gateway", CONCURRENCY)]
                if service == "library":
                    runs += [("gateway", 1), ("direct", CONCURRENCY)]
                for where, concurrency in runs:
                    asyncio.run(drain(stack.database_url))
                    label = f"{name} {where} c={concurrency}"
                    if is_target(label):
                        before = load(stack.gateway_url, floor, CONCURRENCY, floor_seconds)
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
                    if is_target(label):
                        asyncio.run(drain(stack.database_url))
                        after = load(stack.gateway_url, floor, CONCURRENCY, floor_seconds)
                        adjacent[label] = before, after
                        shares[label] = interleaved_share(
                            stack.gateway_url, prelude, floor, stack.database_url
                        )
                        print(f"  {label}: {shares[label][2]:.0%} interleaved", flush=True)
            rates = {
                size: asyncio.run(
                    runner_throughput(
                        stack.database_url,
                        jobs=args.jobs if size > 1 else max(args.jobs // 10, 1),
                        batch_size=size,
                    )
                )
                for size in (200, 1)
            }
            print("kill -9 of a library process ...", flush=True)
            killed = asyncio.run(kill_9_lost(stack, tokens, anime, writes=args.kill_writes))
    ok = report(results, adjacent, shares, rates, killed)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.check and not ok:
        sys.exit(1)


def is_target(label: str) -> bool:
    return "(floor)" not in label and label.endswith(f"gateway c={CONCURRENCY}")


def report(
    results: dict[str, tuple[WrkResult, dict[str, float | None]]],
    adjacent: dict[str, tuple[WrkResult, WrkResult]],
    shares: dict[str, tuple[float, float, float]],
    rates: dict[int, tuple[float, float]],
    killed: tuple[int, int, float],
) -> bool:
    ok = True
    floor = next(sample for name, (sample, _) in results.items() if "(floor)" in name)
    print("\nenqueue latency (failures: socket errors and answers other than 2xx);")
    print("CPU µs per request of Traefik and of the service (library, or proxy for the floor);")
    print(f"the last two columns set p99 (target: {P99_RATIO}x) and req/s against the floor's;")
    print("a target run's against the mean of the floor runs just before and after it")
    print("(the 'floor' column), the others' against the floor row:")
    print(
        f"  {'endpoint':<44} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
        f" {'fail':>5} {'traefik':>8} {'service':>8} {'floor':>7} {'p99/fl':>7} {'rps/fl':>7}"
    )
    for name, (sample, cpu) in results.items():
        traefik, service = ("-" if us is None else f"{us:.0f}" for us in cpu.values())
        floor_rps, floor_p99 = floor.rps, floor.p99_ms
        if name in adjacent:
            floor_rps = sum(run.rps for run in adjacent[name]) / 2
            floor_p99 = sum(run.p99_ms for run in adjacent[name]) / 2
        p99_ratio = sample.p99_ms / floor_p99
        rps_share = sample.rps / floor_rps
        print(
            f"  {name:<44} {sample.rps:>7.0f} {sample.p50_ms:>7.2f} {sample.p95_ms:>7.2f}"
            f" {sample.p99_ms:>7.2f} {sample.failures:>5} {traefik:>8} {service:>8}"
            f" {floor_rps:>7.0f} {p99_ratio:>7.2f} {rps_share:>7.0%}"
        )
        if sample.failures:
            ok = False
        target = is_target(name)
        if target and p99_ratio > P99_RATIO:
            ok = False
            print(f"  MISSED: {name} p99 {p99_ratio:.2f}x the floor's > {P99_RATIO}x")
    print(
        f"\nreq/s against the floor's, interleaved ({SLICES // 2} slices of {SLICE_SECONDS} s"
        " each, ABBA order; the throughput target is judged here):"
    )
    for name, (target_rps, floor_rps, share) in shares.items():
        print(f"  {name:<44} {target_rps:>7.0f} {floor_rps:>7.0f} {share:>7.0%}")
        if share < RPS_SHARE:
            ok = False
            print(f"  MISSED: {name} {share:.0%} of the floor's req/s < {RPS_SHARE:.0%}")
    print("\njob runner (the service's workers), distinct watch-progress upserts:")
    for size, (submits, rate) in rates.items():
        print(
            f"  batches of {size:<4} {rate:>8.0f} jobs/s committed"
            f" ({submits:.0f} durable submits/s, group-committed)"
        )
    if rates[200][1] < RUNNER_TARGET:
        ok = False
        print(f"  MISSED: {rates[200][1]:.0f} jobs/s < {RUNNER_TARGET}")
    accepted, lost, seconds = killed
    print(
        f"\nkill -9: {accepted} writes accepted (202) by the killed process,"
        f" {lost} lost; all landed {seconds:.1f} s after the kill"
    )
    if lost or not accepted:
        ok = False
        print("  MISSED: accepted writes were lost")
    return ok


if __name__ == "__main__":
    main()
