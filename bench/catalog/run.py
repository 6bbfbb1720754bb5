"""Catalog load benchmark on a large synthetic catalog, through the gateway and direct.

    uv run python bench/catalog/run.py [--titles 50000] [--duration 5] [--check]

Starts the stack (anime_devstack: throwaway PostgreSQL, the services, Traefik),
loads the demo set plus `--titles` synthetic anime (`python -m anime_catalog
generate`), then runs wrk at concurrency 1 and 32, through the gateway and
straight at the catalog, on:

- `GET /anime` first page and a deep page (`offset=40000`, or 80% of the
  catalog when it is smaller),
- `GET /anime/{id}`,
- a mixed set of search queries (exact, prefix, typos, Cyrillic, native),

and the listing's first page on a bare Starlette+asyncpg app running the same
SQL (`bare_app.py`), in the same run. Targets: search p95 <= 30 ms at c=1; the
deep page no slower than 3x the first page (median latency, c=1); the service's
listing >= 50% of the bare app's throughput (c=32, direct).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from anime_devstack.ports import free_port
from anime_devstack.stack import wait_for_ok
from anime_devstack.wrk import WrkResult, ensure_wrk, rotate, run_wrk

ROOT = Path(__file__).resolve().parents[2]
CONCURRENCIES = (1, 32)
SEARCH_QUERIES = [
    "naruto", "naruot", "one piece", "ванпис", "shingeki", "進撃の巨人", "атака титанов",
    "frieren", "steins gate", "kimetsu", "demon slayer", "jjk", "evangelon", "totoro",
    "dragon", "академия", "kaze no", "shadow blade", "prin", "ночь",
]  # fmt: skip


def search_queries(count: int = 500, seed: int = 7) -> list[str]:
    """The fixed queries plus made-up ones (romaji-like words, prefixes, typos), all distinct.

    Distinct queries keep the service's cache of popular searches from answering
    most of the run: this measures the database search, the worst case.
    """
    from anime_catalog.demo import _romaji_word

    rng = random.Random(seed)  # noqa: S311 - made-up queries, not secrets
    queries = list(dict.fromkeys(SEARCH_QUERIES))
    while len(queries) < count:
        word = _romaji_word(rng)
        kind = rng.random()
        if kind < 0.3:
            query = word[: rng.randint(3, max(3, len(word)))]  # a prefix
        elif kind < 0.6:
            at = rng.randrange(len(word))
            query = word[:at] + word[at + 1 :] + rng.choice("aeiou")  # a typo
        else:
            query = f"{word} {rng.choice(('no', 'wa', 'to'))} {_romaji_word(rng)}"
        if len(query.strip()) >= 2 and query not in queries:
            queries.append(query)
    return queries


def sample(base: str, paths: list[str], concurrency: int, seconds: int) -> WrkResult:
    """wrk GETs the paths in turn, on the base URL."""
    return run_wrk(base, concurrency=concurrency, seconds=seconds, prelude=rotate(paths))


def load_catalog(database_url: str, titles: int) -> None:
    env = os.environ | {"DATABASE_URL": database_url}
    for command in (["seed-demo"], ["generate", "--titles", str(titles)]):
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "anime_catalog", *command], env=env, check=True)
        print(f"  {' '.join(command)}: {time.monotonic() - started:.1f}s", flush=True)


def stack_config(work: Path) -> Any:
    """The stack with only what this benchmark uses: auth (the gateway's /health), catalog, edge.

    The other services' URLs point at a closed port: their routes are never hit.
    """
    from anime_devstack.config import StackConfig, default_services
    from anime_devstack.ports import free_ports

    names = ("auth", "catalog", "edge")
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    services = tuple(spec for spec in default_services(ports) if spec.name in names)
    unused = {
        f"{name.upper()}_SERVICE_URL": "http://127.0.0.1:9"
        for name in ("library", "media", "proxy")
    }
    return StackConfig.for_tests(work, root=ROOT, services=services, environ=os.environ | unused)


def main() -> None:
    from anime_devstack.stack import Stack

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--titles", type=int, default=50_000)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (5)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    ensure_wrk()

    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-catalog-") as tmp:
        config = stack_config(Path(tmp) / "stack")
        print("starting the stack ...", flush=True)
        with Stack(config) as stack:
            assert stack.database_url is not None
            print(f"loading the demo set and {args.titles} synthetic anime ...", flush=True)
            load_catalog(stack.database_url, args.titles)
            total, deep, results = measure(stack, args)
    ok = report(total, deep, results, args)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.check and not ok:
        sys.exit(1)


def measure(stack: Any, args: argparse.Namespace) -> tuple[int, int, dict[str, WrkResult]]:
    """(anime in the catalog, the deep page's offset, the runs by name)."""
    gateway, direct = stack.gateway_url, stack.service_url("catalog")
    with httpx.Client(base_url=direct, timeout=30, trust_env=False) as client:
        total = int(client.get("/anime").headers["x-total-count"])
        some_id = client.get("/anime", params={"offset": total // 2, "limit": 1}).json()[0]["id"]
    deep = min(40_000, int(total * 0.8))
    workloads = {
        "list first page": ["/anime?limit=20"],
        f"list offset {deep}": [f"/anime?limit=20&offset={deep}"],
        "anime by id": [f"/anime/{some_id}"],
        "search mix": [f"/search/anime?q={quote(query)}" for query in search_queries()],
    }
    port = free_port()
    plain_dsn = stack.database_url.replace("postgresql+asyncpg://", "postgresql://")
    bare = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("bare_app.py")), "--dsn", plain_dsn,
         "--port", str(port)],
        env=os.environ | {"PYTHONPATH": str(ROOT / "services/catalog/src")},
    )  # fmt: skip
    results: dict[str, WrkResult] = {}
    try:
        wait_for_ok(f"http://127.0.0.1:{port}/anime")
        # Warm up: connection pools, plan caches, the count cache, PostgreSQL's buffers.
        for paths in workloads.values():
            sample(direct, paths, 32, 2)
        sample(f"http://127.0.0.1:{port}", ["/anime?limit=20"], 32, 2)
        for concurrency in CONCURRENCIES:
            for name, paths in workloads.items():
                for where, base in (("direct", direct), ("gateway", gateway)):
                    key = f"{name} | {where} | c={concurrency}"
                    results[key] = sample(base, paths, concurrency, args.duration)
                    print(f"  {key}: {results[key].rps:.0f} req/s", flush=True)
            key = f"list first page | bare app | c={concurrency}"
            results[key] = sample(
                f"http://127.0.0.1:{port}", ["/anime?limit=20"], concurrency, args.duration
            )
            print(f"  {key}: {results[key].rps:.0f} req/s", flush=True)
    finally:
        bare.terminate()
        bare.wait(timeout=15)
    return total, deep, results


def report(total: int, deep: int, results: dict[str, WrkResult], args: argparse.Namespace) -> bool:
    print(f"\ncatalog of {total} anime; wrk {args.duration}s per run; {os.cpu_count()} CPUs\n")
    print(f"{'workload':<48} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for key, s in results.items():
        print(f"{key:<48} {s.rps:>8.0f} {s.p50_ms:>8.2f} {s.p95_ms:>8.2f} {s.p99_ms:>8.2f}")
    search_p95 = results["search mix | direct | c=1"].p95_ms
    search_p95_gw = results["search mix | gateway | c=1"].p95_ms
    first = results["list first page | direct | c=1"].p50_ms
    deep_ms = results[f"list offset {deep} | direct | c=1"].p50_ms
    ratio = (
        results["list first page | direct | c=32"].rps
        / results["list first page | bare app | c=32"].rps
    )
    checks = [
        (f"search p95 at c=1 <= 30 ms: {search_p95:.2f} ms direct, {search_p95_gw:.2f} ms "
         "through the gateway", max(search_p95, search_p95_gw) <= 30),
        (f"deep page (offset {deep}) <= 3x the first page at c=1: {deep_ms:.2f} ms vs "
         f"{first:.2f} ms ({deep_ms / first:.1f}x)", deep_ms <= 3 * first),
        (f"listing >= 50% of the bare app's throughput at c=32: {ratio:.0%}", ratio >= 0.5),
    ]  # fmt: skip
    print()
    for label, passed in checks:
        print(f"[{'PASS' if passed else 'MISS'}] {label}")
    return all(passed for _, passed in checks)


if __name__ == "__main__":
    main()
