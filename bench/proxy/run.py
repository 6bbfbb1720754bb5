"""The proxy's cache through the gateway: a cache hit against the same route with the cache
disabled, the aniwatch-api fake adding a realistic 150 ms to every upstream call.

    uv run python bench/proxy/run.py [--duration 10] [--path /api/anime/attack-on-titan-112]

Two stacks from anime_devstack, one after the other, both with `ANIME_FAKE_HIANIME=1` and
`FAKE_LATENCY_MS=150`: the first with the cache on (the route is warmed, then every
request is a hit), the second with `CACHE_ENABLED=false` (every request goes upstream,
no coalescing either). wrk at concurrency 1 and 32 against the gateway. Target: at c=1 a
hit is at least 20x faster (median latency) than a miss.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from anime_devstack.wrk import ensure_wrk, run_wrk

ROOT = Path(__file__).resolve().parents[2]
CONCURRENCIES = (1, 32)
TARGET_SPEEDUP = 20.0
UPSTREAM_LATENCY_MS = 150


@dataclass(frozen=True)
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    upstream_requests: int


@contextmanager
def proxy_stack(work: Path, *, cache: bool) -> Iterator[tuple[str, str]]:
    """(gateway URL, fake URL) of a stack whose proxy has the cache on or off."""
    from anime_devstack.config import StackConfig
    from anime_devstack.stack import Stack

    environ = {
        **os.environ,
        "ANIME_FAKE_HIANIME": "1",
        "FAKE_LATENCY_MS": str(UPSTREAM_LATENCY_MS),
        "CACHE_ENABLED": "true" if cache else "false",
        "LOG_LEVEL": "WARNING",
    }
    print(f"starting the stack (cache {'on' if cache else 'off'}) ...", flush=True)
    config = StackConfig.for_tests(work, root=ROOT, environ=environ)
    with Stack(config) as stack:
        yield stack.gateway_url, stack.service_url("hianime_fake")


def measure(work: Path, *, cache: bool, path: str, seconds: int) -> dict[int, Sample]:
    results: dict[int, Sample] = {}
    with (
        proxy_stack(work / ("hit" if cache else "miss"), cache=cache) as (gateway, fake),
        httpx.Client(timeout=10, trust_env=False) as client,
    ):
        warm = client.get(gateway + path)
        if warm.status_code != 200:
            sys.exit(f"{path}: {warm.status_code} {warm.text}")
        for concurrency in CONCURRENCIES:
            client.post(f"{fake}/_fake/reset")
            # A miss waits 150 ms upstream: wrk's 2 s default timeout would count queueing
            # as errors.
            run = run_wrk(gateway + path, concurrency=concurrency, seconds=seconds, timeout=10)
            upstream = sum(client.get(f"{fake}/_fake/stats").json()["requests"].values())
            results[concurrency] = Sample(
                rps=run.rps, p50_ms=run.p50_ms, p99_ms=run.p99_ms, upstream_requests=upstream
            )
            sample = results[concurrency]
            print(
                f"  {'hit ' if cache else 'miss'} c={concurrency:<3} {sample.rps:9.1f} req/s  "
                f"p50 {sample.p50_ms:8.2f} ms  p99 {sample.p99_ms:8.2f} ms  "
                f"upstream requests {sample.upstream_requests}",
                flush=True,
            )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--path", default="/api/anime/attack-on-titan-112")
    parser.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args()
    ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="bench-proxy-") as tmp:
        work = Path(tmp)
        hits = measure(work, cache=True, path=args.path, seconds=args.duration)
        misses = measure(work, cache=False, path=args.path, seconds=args.duration)
    print(f"\n{args.path} through the gateway, upstream fake +{UPSTREAM_LATENCY_MS} ms")
    print("| c | hit req/s | hit p50 | hit p99 | miss req/s | miss p50 | miss p99 | speedup p50 |")
    print("|---|---|---|---|---|---|---|---|")
    for concurrency in CONCURRENCIES:
        hit, miss = hits[concurrency], misses[concurrency]
        print(
            f"| {concurrency} | {hit.rps:.0f} | {hit.p50_ms:.2f} ms | {hit.p99_ms:.2f} ms "
            f"| {miss.rps:.0f} | {miss.p50_ms:.1f} ms | {miss.p99_ms:.1f} ms "
            f"| {miss.p50_ms / hit.p50_ms:.0f}x |"
        )
    speedup = misses[1].p50_ms / hits[1].p50_ms
    met = speedup >= TARGET_SPEEDUP
    verdict = "met" if met else "MISSED"
    print(f"\ntarget: hit >= {TARGET_SPEEDUP:.0f}x faster at c=1: {speedup:.0f}x, {verdict}")
    return 0 if met or not args.check else 1


if __name__ == "__main__":
    raise SystemExit(main())
