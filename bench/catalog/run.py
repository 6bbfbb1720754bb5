"""Catalog load benchmark on a large synthetic catalog, through the gateway and direct.

    uv run python bench/catalog/run.py [--titles 50000] [--duration 5] [--check]

Starts the stack (anime_devstack: throwaway PostgreSQL, the services, Traefik),
loads the demo set plus `--titles` synthetic anime (`python -m anime_catalog
generate`), then runs wrk at concurrency 1 and 32, through the gateway and
straight at the catalog, on:

- `GET /anime` first page and a deep page (`offset=40000`, or 80% of the
  catalog when it is smaller),
- `GET /anime/{id}`,
- search (`catalog_queries.py`): typo'd titles of the catalog's own anime, the same
  titles exact, and a mix of both with fixed queries (common words, short
  prefixes, native script); at least half of the mix carries typos,

and the listing's first page on a bare Starlette+asyncpg app running the same
SQL (`bare_app.py`), in the same run. Then a quality figure: the share of
generated typo queries (one edit of each kind, >= 500) whose anime is in the
first five results, with the misses listed.

Targets: search p95 <= 20 ms at c=1 direct and <= 25 ms through the gateway;
typo queries' p95 <= 2x exact queries' (c=1, direct, same run); top-5 hit rate
>= 95%; the deep page no slower than 3x the first page (median latency, c=1);
the service's listing >= 50% of the bare app's throughput (c=32, direct).
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
from catalog_queries import KINDS, Query, exact_queries, typo_queries

from anime_catalog.search_text import search_key
from anime_common import asyncpg_dsn
from anime_devstack.ports import free_port
from anime_devstack.stack import wait_for_ok
from anime_devstack.wrk import WrkResult, ensure_wrk, rotate, run_wrk

ROOT = Path(__file__).resolve().parents[2]
CONCURRENCIES = (1, 32)
# Fixed queries of the mix: common words, short prefixes, scripts, demo typos.
SEARCH_QUERIES = [
    "naruto", "naruot", "one piece", "ванпис", "shingeki", "進撃の巨人", "атака титанов",
    "frieren", "steins gate", "kimetsu", "demon slayer", "jjk", "evangelon", "totoro",
    "dragon", "академия", "kaze no", "shadow blade", "prin", "ночь", "psyhco", "blecah",
    "kagyua", "госопжа", "no", "ka", "dragon king", "atack on titna", "one peice",
]  # fmt: skip
# Distinct queries per wrk run: the service caches a search for 10 s, and a
# run must measure the database search, not the cache (c=1 makes about
# 300 requests a second).
QUERIES_PER_RUN = 2500
QUALITY_QUERIES = 700  # 100 of each kind


def search_paths(queries: list[str]) -> list[str]:
    return [f"/search/anime?q={quote(query)}" for query in queries]


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
            total, deep, results, quality = measure(stack, args)
    ok = report(total, deep, results, args)
    ok = report_quality(quality) and ok
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.check and not ok:
        sys.exit(1)


def catalog_sample(client: httpx.Client, total: int, rng: random.Random) -> list[dict[str, Any]]:
    """Anime of the whole catalog, a few pages from random places (the titles queries use)."""
    anime: list[dict[str, Any]] = []
    for offset in rng.sample(range(0, max(total - 100, 1)), 120):
        anime += client.get("/anime", params={"limit": 100, "offset": offset}).json()
    return anime


def measure(
    stack: Any, args: argparse.Namespace
) -> tuple[int, int, dict[str, WrkResult], dict[str, list[tuple[Query, list[str]]]]]:
    """(anime in the catalog, the deep page's offset, the runs by name, search quality by kind)."""
    gateway, direct = stack.gateway_url, stack.service_url("catalog")
    rng = random.Random(16)  # noqa: S311 - made-up queries, not secrets
    with httpx.Client(base_url=direct, timeout=30, trust_env=False) as client:
        total = int(client.get("/anime").headers["x-total-count"])
        some_id = client.get("/anime", params={"offset": total // 2, "limit": 1}).json()[0]["id"]
        anime = catalog_sample(client, total, rng)
    deep = min(40_000, int(total * 0.8))
    # Each search run gets queries of its own (see QUERIES_PER_RUN).
    pools = {
        "typo": [q.text for q in typo_queries(rng, anime, 3 * QUERIES_PER_RUN)],
        "exact": [q.text for q in exact_queries(rng, anime, 3 * QUERIES_PER_RUN)],
    }
    mixes = [
        SEARCH_QUERIES + pools["typo"][i::3][: QUERIES_PER_RUN // 2]
        + pools["exact"][i::3][: QUERIES_PER_RUN // 2 - len(SEARCH_QUERIES)]
        for i in range(3)
    ]  # fmt: skip
    for mix in mixes:
        rng.shuffle(mix)
    workloads: dict[str, list[list[str]]] = {
        "list first page": [["/anime?limit=20"]],
        f"list offset {deep}": [[f"/anime?limit=20&offset={deep}"]],
        "anime by id": [[f"/anime/{some_id}"]],
        # One list per run (c=1 direct, c=1 gateway, c=32 direct and gateway share the third).
        "search mix": [search_paths(mix) for mix in mixes],
        "search typo": [search_paths(pools["typo"][i::3]) for i in range(3)],
        "search exact": [search_paths(pools["exact"][i::3]) for i in range(3)],
    }
    port = free_port()
    plain_dsn = asyncpg_dsn(stack.database_url)
    bare = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("bare_app.py")), "--dsn", plain_dsn,
         "--port", str(port)],
        env=os.environ | {"PYTHONPATH": str(ROOT / "services/catalog/src")},
    )  # fmt: skip
    results: dict[str, WrkResult] = {}
    try:
        wait_for_ok(f"http://127.0.0.1:{port}/anime")
        # Warm up: connection pools, plan caches, the count cache, PostgreSQL's
        # buffers; searches on queries no measured run uses.
        warm_up = search_paths(
            [q.text for q in typo_queries(random.Random(61), anime, 300)]  # noqa: S311
            + [q.text for q in exact_queries(random.Random(62), anime, 300)]  # noqa: S311
        )
        for paths in (*(runs[0] for runs in workloads.values() if len(runs) == 1), warm_up):
            sample(direct, paths, 32, 2)
        sample(f"http://127.0.0.1:{port}", ["/anime?limit=20"], 32, 2)
        for concurrency in CONCURRENCIES:
            for name, runs in workloads.items():
                if concurrency > 1 and name in ("search typo", "search exact"):
                    continue  # their targets are at c=1
                for index, (where, base) in enumerate((("direct", direct), ("gateway", gateway))):
                    paths = runs[min(index if concurrency == 1 else 2, len(runs) - 1)]
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
    quality = search_quality(direct, typo_queries(random.Random(5), anime, QUALITY_QUERIES))  # noqa: S311
    return total, deep, results, quality


def search_quality(base: str, queries: list[Query]) -> dict[str, list[tuple[Query, bool, bool]]]:
    """Per kind of typo, each query with (its anime in the first five, a title-holder there).

    A title-holder is an anime with the query's source title among its own:
    the synthetic catalog has dozens of anime titled just "Attack" or
    "Принцесса", and any of them is a right answer to a typo of that title.
    """
    found: dict[str, list[tuple[Query, bool, bool]]] = {kind: [] for kind in KINDS}
    with httpx.Client(base_url=base, timeout=30, trust_env=False) as client:
        for query in queries:
            response = client.get("/search/anime", params={"q": query.text, "limit": 5})
            response.raise_for_status()
            results = response.json()
            source = search_key(query.title)
            holder = any(source in {search_key(name) for name in _names(item)} for item in results)
            found[query.kind].append(
                (query, query.anime_id in {item["id"] for item in results}, holder)
            )
    return found


def _names(anime: dict[str, Any]) -> list[str]:
    fields = ("title", "title_original", "title_en", "title_native")
    return [anime[name] for name in fields if anime.get(name)] + list(anime.get("synonyms") or ())


def report(total: int, deep: int, results: dict[str, WrkResult], args: argparse.Namespace) -> bool:
    print(f"\ncatalog of {total} anime; wrk {args.duration}s per run; {os.cpu_count()} CPUs\n")
    print(f"{'workload':<48} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for key, s in results.items():
        print(f"{key:<48} {s.rps:>8.0f} {s.p50_ms:>8.2f} {s.p95_ms:>8.2f} {s.p99_ms:>8.2f}")
    search_p95 = results["search mix | direct | c=1"].p95_ms
    search_p95_gw = results["search mix | gateway | c=1"].p95_ms
    typo_p95 = results["search typo | direct | c=1"].p95_ms
    exact_p95 = results["search exact | direct | c=1"].p95_ms
    first = results["list first page | direct | c=1"].p50_ms
    deep_ms = results[f"list offset {deep} | direct | c=1"].p50_ms
    ratio = (
        results["list first page | direct | c=32"].rps
        / results["list first page | bare app | c=32"].rps
    )
    checks = [
        (f"search mix p95 at c=1 <= 20 ms direct: {search_p95:.2f} ms", search_p95 <= 20),
        (f"search mix p95 at c=1 <= 25 ms through the gateway: {search_p95_gw:.2f} ms",
         search_p95_gw <= 25),
        (f"typo p95 <= 2x exact p95 at c=1: {typo_p95:.2f} ms vs {exact_p95:.2f} ms "
         f"({typo_p95 / exact_p95:.2f}x)", typo_p95 <= 2 * exact_p95),
        (f"deep page (offset {deep}) <= 3x the first page at c=1: {deep_ms:.2f} ms vs "
         f"{first:.2f} ms ({deep_ms / first:.1f}x)", deep_ms <= 3 * first),
        (f"listing >= 50% of the bare app's throughput at c=32: {ratio:.0%}", ratio >= 0.5),
    ]  # fmt: skip
    print()
    for label, passed in checks:
        print(f"[{'PASS' if passed else 'MISS'}] {label}")
    return all(passed for _, passed in checks)


def report_quality(quality: dict[str, list[tuple[Query, bool, bool]]]) -> bool:
    """Print the top-5 hit rates per kind of typo and overall, then every miss."""
    print(
        "\nsearch quality: the typo'd title's anime (or an anime of that very title) in the top 5"
    )
    print(f"  {'kind':<28} {'hits':>9} {'rate':>7} {'this anime':>11}")
    hits = strict = total = 0
    misses: list[Query] = []
    for kind, answers in quality.items():
        found = sum(holder or own for _, own, holder in answers)
        own = sum(own for _, own, _ in answers)
        hits, strict, total = hits + found, strict + own, total + len(answers)
        misses += [query for query, own, holder in answers if not (own or holder)]
        print(f"  {kind:<28} {found:>4}/{len(answers):<4} {found / max(len(answers), 1):>7.1%}"
              f" {own / max(len(answers), 1):>11.1%}")  # fmt: skip
    rate = hits / max(total, 1)
    print(f"  {'all':<28} {hits:>4}/{total:<4} {rate:>7.1%} {strict / max(total, 1):>11.1%}")
    print(f"\nmisses ({len(misses)}):")
    for query in misses:
        print(f"  [{query.kind}] {query.text!r} <- {query.title!r}")
    passed = rate >= 0.95 and total >= 500
    print(f"\n[{'PASS' if passed else 'MISS'}] top-5 hit rate on {total} typo queries >= 95%: "
          f"{rate:.1%}")  # fmt: skip
    return passed


if __name__ == "__main__":
    main()
