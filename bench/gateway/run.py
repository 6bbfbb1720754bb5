"""What the Traefik gateway costs: one trivial endpoint, through the gateway and direct.

    uv run python bench/gateway/run.py [--duration 10] [--rounds 3] [--check]

Measures `GET /health/proxy` at the gateway (routed to the proxy service's
`/health`, which touches no database) against the proxy's own `/health`, at
concurrency 1 and 32, with wrk. Rounds alternate direct and gateway runs so
that drift on the machine hits both alike; each figure is the median over
rounds. Targets: at c=32 the gateway keeps >= 70% of direct throughput; at c=1
it adds < 1 ms to the median latency.

The stack comes from anime_devstack (throwaway PostgreSQL, the five services,
the edge app, Traefik with deploy/traefik). `--backend edge` measures without
it: the edge app stands in for every service (its `/health` is as trivial),
behind the same Traefik configuration.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from anime_devstack.ports import free_ports
from anime_devstack.stack import wait_for_ok
from anime_devstack.wrk import cpu_per_request, ensure_wrk, run_wrk

ROOT = Path(__file__).resolve().parents[2]
TRAEFIK_DIR = ROOT / "deploy" / "traefik"
CONCURRENCIES = (1, 32)
TARGET_THROUGHPUT_RATIO = 0.70
TARGET_MEDIAN_OVERHEAD_MS = 1.0


@dataclass(frozen=True)
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    # CPU time per request of Traefik and of the service (None: not measured).
    # Unlike req/s these barely move when other work shares the machine.
    traefik_us: float | None = None
    service_us: float | None = None


@dataclass(frozen=True)
class Targets:
    gateway: str
    direct: str
    what: str


# -- CPU accounting --------------------------------------------------------------------


def listener_pid(url: str) -> int | None:
    """The process listening on the URL's port (Linux `ss`), or None."""
    port = urlsplit(url).port
    if port is None or not shutil.which("ss"):
        return None
    listing = subprocess.run(
        ["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True, check=False
    ).stdout
    found = re.search(r"pid=(\d+)", listing)
    return int(found.group(1)) if found else None


# -- load tool ---------------------------------------------------------------------


def sample(
    url: str, concurrency: int, seconds: int, pids: dict[str, int | None] | None = None
) -> Sample:
    """One wrk run, with the CPU time the listed processes spent per request."""
    result, per_request = cpu_per_request(
        lambda: run_wrk(url, concurrency=concurrency, seconds=seconds), pids or {}
    )
    return Sample(
        rps=result.rps,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        traefik_us=per_request.get("traefik"),
        service_us=per_request.get("service"),
    )


# -- what to measure ------------------------------------------------------------------


@contextmanager
def devstack_targets(work: Path) -> Iterator[Targets]:
    from anime_devstack.config import StackConfig
    from anime_devstack.stack import Stack

    print("starting the stack (PostgreSQL, services, edge, Traefik) ...", flush=True)
    with Stack(StackConfig.for_tests(work / "stack", root=ROOT)) as stack:
        yield Targets(
            gateway=f"{stack.gateway_url}/health/proxy",
            direct=f"{stack.service_url('proxy')}/health",
            what="proxy /health (anime_devstack stack)",
        )


def edge_targets(work: Path) -> Iterator[Targets]:
    """The edge app behind Traefik as every service: no database, no devstack."""
    edge_port, web_port, ping_port = free_ports(3)
    edge_url = f"http://127.0.0.1:{edge_port}"
    static: dict[str, Any] = yaml.safe_load((TRAEFIK_DIR / "traefik.yml").read_text())
    # The same overrides the local launcher makes.
    static["entryPoints"]["web"]["address"] = f"127.0.0.1:{web_port}"
    static["entryPoints"]["ping"]["address"] = f"127.0.0.1:{ping_port}"
    static["providers"]["file"]["directory"] = str(TRAEFIK_DIR / "dynamic")
    config = work / "traefik.yml"
    config.write_text(yaml.safe_dump(static))
    env = os.environ | {"HOST": "127.0.0.1", "PORT": str(edge_port), "EDGE_ERRORS_URL": edge_url}
    for name in ("AUTH", "CATALOG", "LIBRARY", "MEDIA", "PROXY"):
        env[f"{name}_SERVICE_URL"] = edge_url
    env.setdefault("ALLOWED_ORIGINS", "http://localhost:3000")
    traefik = Path(sys.executable).with_name("traefik")
    with (work / "edge.log").open("wb") as edge_log, (work / "traefik.log").open("wb") as t_log:
        edge = subprocess.Popen(
            [sys.executable, "-m", "anime_edge"], env=env, stdout=edge_log, stderr=edge_log
        )
        proxy = subprocess.Popen(
            [str(traefik), f"--configFile={config}"], env=env, stdout=t_log, stderr=t_log
        )
        try:
            wait_for_ok(f"{edge_url}/health")
            wait_for_ok(f"http://127.0.0.1:{web_port}/health/proxy")
            yield Targets(
                gateway=f"http://127.0.0.1:{web_port}/health/proxy",
                direct=f"{edge_url}/health",
                what="edge app /health standing in for the proxy",
            )
        finally:
            for process in (proxy, edge):
                process.terminate()
            for process in (proxy, edge):
                process.wait(timeout=15)


# -- the run --------------------------------------------------------------------------


def measure(targets: Targets, seconds: int, rounds: int) -> dict[int, dict[str, Sample]]:
    for url in (targets.direct, targets.gateway):  # warm connections, caches, JITless paths
        sample(url, 32, 2)
    pids = {"traefik": listener_pid(targets.gateway), "service": listener_pid(targets.direct)}
    results: dict[int, dict[str, Sample]] = {}
    for concurrency in CONCURRENCIES:
        runs: dict[str, list[Sample]] = {"direct": [], "gateway": []}
        for _ in range(rounds):
            for name, url in (("direct", targets.direct), ("gateway", targets.gateway)):
                runs[name].append(sample(url, concurrency, seconds, pids))
        results[concurrency] = {name: _median(samples) for name, samples in runs.items()}
    return results


def _median_of(values: list[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def _median(samples: list[Sample]) -> Sample:
    return Sample(
        rps=statistics.median(s.rps for s in samples),
        p50_ms=statistics.median(s.p50_ms for s in samples),
        p99_ms=statistics.median(s.p99_ms for s in samples),
        traefik_us=_median_of([s.traefik_us for s in samples]),
        service_us=_median_of([s.service_us for s in samples]),
    )


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def report(
    targets: Targets, results: dict[int, dict[str, Sample]], seconds: int, rounds: int
) -> bool:
    print(f"\nendpoint: {targets.what}")
    print(f"  gateway {targets.gateway}\n  direct  {targets.direct}")
    print(f"wrk, {seconds:g}s per run, median of {rounds} rounds, {os.cpu_count()} CPUs\n")
    print(
        f"{'conc':>4}  {'target':<8} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8}"
        f"  {'CPU us/req: traefik':>19} {'service':>8}"
    )
    for concurrency, pair in results.items():
        for name in ("direct", "gateway"):
            s = pair[name]
            traefik = _us(s.traefik_us) if name == "gateway" else "-"
            print(
                f"{concurrency:>4}  {name:<8} {s.rps:>10.0f} {s.p50_ms:>8.3f} {s.p99_ms:>8.3f}"
                f"  {traefik:>19} {_us(s.service_us):>8}"
            )
    print()
    ok = True
    for concurrency, pair in results.items():
        direct, gateway = pair["direct"], pair["gateway"]
        ratio = gateway.rps / direct.rps
        added = gateway.p50_ms - direct.p50_ms
        print(
            f"c={concurrency}: gateway throughput {ratio:.0%} of direct, "
            f"median +{added:.3f} ms, p99 +{gateway.p99_ms - direct.p99_ms:.3f} ms"
        )
    c32 = results[32]["gateway"].rps / results[32]["direct"].rps
    c1 = results[1]["gateway"].p50_ms - results[1]["direct"].p50_ms
    for label, passed in (
        (
            f"c=32 throughput >= {TARGET_THROUGHPUT_RATIO:.0%} of direct: {c32:.0%}",
            c32 >= TARGET_THROUGHPUT_RATIO,
        ),
        (
            f"c=1 median overhead < {TARGET_MEDIAN_OVERHEAD_MS:g} ms: {c1:.3f} ms",
            c1 < TARGET_MEDIAN_OVERHEAD_MS,
        ),
    ):
        ok = ok and passed
        print(f"[{'PASS' if passed else 'MISS'}] {label}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (10)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating rounds per concurrency (3)"
    )
    parser.add_argument(
        "--backend",
        choices=("stack", "edge"),
        default="stack",
        help="stack: the real proxy via anime_devstack (default); edge: no database needed",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()

    ensure_wrk()
    # Other work on the machine skews both sides; say how busy it was.
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        work = Path(tmp)
        choose = devstack_targets if args.backend == "stack" else edge_targets
        with choose(work) as targets:
            results = measure(targets, args.duration, args.rounds)
    ok = report(targets, results, args.duration, args.rounds)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.check and not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
