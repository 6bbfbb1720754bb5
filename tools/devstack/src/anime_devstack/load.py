"""Closed-loop load from Python, for benchmarks whose requests wrk cannot build.

    result = await closed_loop(step, concurrency=16, seconds=10, client=client)

`concurrency` workers each call `step(client, worker_number)` back to back
until `seconds` have passed; a step that raises an httpx error or an
AssertionError counts as an error, the others as requests with their latency.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

Step = Callable[[httpx.AsyncClient, int], Awaitable[None]]


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


async def closed_loop(
    step: Step,
    concurrency: int,
    seconds: float,
    client: httpx.AsyncClient,
    *,
    show_errors: int = 0,
) -> LoadResult:
    """Run `step` from `concurrency` workers for `seconds`; print the first `show_errors`."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(number: int) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                await step(client, number)
            except (httpx.HTTPError, AssertionError) as exc:
                errors += 1
                if errors <= show_errors:
                    print(f"  error: {exc}", flush=True)
                continue
            latencies.append(time.perf_counter() - started)

    began = time.perf_counter()
    await asyncio.gather(*(worker(number) for number in range(concurrency)))
    elapsed = time.perf_counter() - began
    ordered = sorted(latencies) or [0.0]
    return LoadResult(
        requests=len(latencies),
        seconds=elapsed,
        p50_ms=ordered[len(ordered) // 2] * 1000,
        p99_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        errors=errors,
    )
