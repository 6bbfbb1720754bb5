"""Auth throughput through the gateway: login, refresh and `GET /users/me`.

    uv run python bench/auth/run.py [--duration 5] [--users 32]

Starts the whole stack (anime_devstack: throwaway PostgreSQL, the five
services, the edge app, Traefik) with auth's production argon2 defaults,
registers `--users` accounts, then for each of login, refresh and /users/me
runs closed-loop workers at concurrency 1 and 16 for `--duration` seconds:
each worker sends its next request as soon as the previous one answered.
Refresh workers chain their own tokens (each answer's refresh token is the next
request's), as real clients do. Prints the argon2 parameters and the time of
one hash on this machine first.

The load generator is Python (httpx, asyncio) on the same machine as the stack:
it competes for the same cores, so the figures are a floor, not a ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from anime_devstack.load import LoadResult, closed_loop

ROOT = Path(__file__).resolve().parents[2]
CONCURRENCIES = (1, 16)
PASSWORD = "bench password, long enough"  # noqa: S105 - accounts made for the run


def hash_report() -> str:
    """The production argon2 parameters and the time of one hash with them, here."""
    from anime_auth.passwords import PasswordHasher
    from anime_auth.settings import AuthSettings

    settings = AuthSettings(SECRET_KEY="b" * 48, DB_HOST="unused")
    hasher = PasswordHasher(settings)
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        hasher.hash_sync(PASSWORD)
        timings.append(time.perf_counter() - started)
    return (
        f"{hasher.description}; one hash: median {statistics.median(timings) * 1000:.0f} ms "
        f"(min {min(timings) * 1000:.0f}, max {max(timings) * 1000:.0f}) over 5; "
        f"at most {settings.PASSWORD_HASH_CONCURRENCY} at once"
    )


async def bench(gateway: str, seconds: float, users: int) -> dict[str, dict[int, LoadResult]]:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=gateway, timeout=30, limits=limits, trust_env=False
    ) as client:
        emails = [f"bench-{uuid.uuid4().hex[:10]}@example.com" for _ in range(users)]
        registered = await asyncio.gather(
            *(
                client.post("/auth/register", json={"email": email, "password": PASSWORD})
                for email in emails
            )
        )
        assert all(response.status_code == 201 for response in registered), registered[0].text
        access = [response.json()["access_token"] for response in registered]
        refresh = [response.json()["refresh_token"] for response in registered]

        async def login(client: httpx.AsyncClient, number: int) -> None:
            response = await client.post(
                "/auth/login", json={"email": emails[number % users], "password": PASSWORD}
            )
            assert response.status_code == 200, response.text

        async def rotate(client: httpx.AsyncClient, number: int) -> None:
            response = await client.post(
                "/auth/refresh", json={"refresh_token": refresh[number % users]}
            )
            assert response.status_code == 200, response.text
            refresh[number % users] = response.json()["refresh_token"]

        async def me(client: httpx.AsyncClient, number: int) -> None:
            response = await client.get(
                "/users/me", headers={"Authorization": f"Bearer {access[number % users]}"}
            )
            assert response.status_code == 200, response.text

        results: dict[str, dict[int, LoadResult]] = {}
        for name, step in (("login", login), ("refresh", rotate), ("GET /users/me", me)):
            await closed_loop(step, 4, 1.0, client)  # warm up connections and caches
            results[name] = {c: await closed_loop(step, c, seconds, client) for c in CONCURRENCIES}
        return results


def report(results: dict[str, dict[int, LoadResult]], seconds: float) -> None:
    print(f"\nclosed loop, {seconds:g}s per run, {os.cpu_count()} CPUs, through the gateway\n")
    print(f"{'endpoint':<14} {'conc':>4} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7}")
    for name, by_concurrency in results.items():
        for concurrency, sample in by_concurrency.items():
            print(
                f"{name:<14} {concurrency:>4} {sample.rps:>9.1f} {sample.p50_ms:>9.1f} "
                f"{sample.p99_ms:>9.1f} {sample.errors:>7}"
            )


@contextmanager
def auth_stack(work: Path, *, full: bool) -> Iterator[str]:
    """The stack from anime_devstack; by default only auth and the edge app are started.

    The other services play no part in these requests; leaving them out keeps
    their CPU (and their health) out of the figures. The routing table still
    needs their URLs: they point at a closed port.
    """
    from anime_devstack.config import StackConfig, default_services
    from anime_devstack.ports import free_ports
    from anime_devstack.stack import Stack

    # The gateway's per-address limit on /auth/login|register|refresh would throttle a
    # load generator that is one address; raise it (the app's own checks stay on).
    environ = {**os.environ, "AUTH_RATE_LIMIT_AVERAGE": "100000", "AUTH_RATE_LIMIT_BURST": "100000"}
    if full:
        config = StackConfig.for_tests(work, root=ROOT, environ=environ)
    else:
        names = ("auth", "edge")
        ports = dict(zip(names, free_ports(len(names)), strict=True))
        services = tuple(spec for spec in default_services(ports) if spec.name in names)
        unused = {
            spec.url_env: "http://127.0.0.1:9"
            for spec in default_services()
            if spec.name not in names
        }
        config = StackConfig.for_tests(
            work, root=ROOT, services=services, environ={**environ, **unused}
        )
    print(f"starting PostgreSQL, {', '.join(s.name for s in config.services)}, Traefik ...")
    with Stack(config) as stack:
        yield stack.gateway_url


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run (5)")
    parser.add_argument("--users", type=int, default=32, help="accounts to spread load over (32)")
    parser.add_argument(
        "--full-stack",
        action="store_true",
        help="run all five services (default: auth and the edge app only, behind Traefik)",
    )
    args = parser.parse_args()

    print(f"argon2: {hash_report()}", flush=True)
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="bench-auth-") as tmp,
        auth_stack(Path(tmp) / "stack", full=args.full_stack) as gateway,
    ):
        results = asyncio.run(bench(gateway, args.duration, args.users))
    report(results, args.duration)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if any(sample.errors for samples in results.values() for sample in samples.values()):
        sys.exit("some requests failed (see the errors column)")


if __name__ == "__main__":
    main()
