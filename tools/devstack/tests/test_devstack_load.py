"""anime_devstack.load: workers, latencies and errors of a closed loop (no server needed)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from anime_devstack.load import closed_loop

pytestmark = pytest.mark.anyio


async def test_every_worker_runs_and_failures_are_errors_not_requests(
    capsys: pytest.CaptureFixture[str],
) -> None:
    seen: set[int] = set()
    calls = 0

    async def step(client: httpx.AsyncClient, number: int) -> None:
        nonlocal calls
        calls += 1
        seen.add(number)
        await asyncio.sleep(0.002)
        if calls % 4 == 0:
            raise httpx.ConnectError("refused")
        assert number < 3, "worker 3 always fails"

    async with httpx.AsyncClient() as client:
        result = await closed_loop(step, 4, 0.2, client, show_errors=2)
    assert seen == {0, 1, 2, 3}
    assert result.requests > 0
    assert result.errors > 0
    assert result.requests + result.errors == calls
    assert 2 <= result.p50_ms <= result.p99_ms
    assert result.rps == pytest.approx(result.requests / result.seconds)
    assert capsys.readouterr().out.count("error:") == 2


async def test_a_loop_without_successes_reports_zero_latency() -> None:
    async def step(client: httpx.AsyncClient, number: int) -> None:
        await asyncio.sleep(0.001)
        raise AssertionError("always")

    async with httpx.AsyncClient() as client:
        result = await closed_loop(step, 2, 0.05, client)
    assert (result.requests, result.p50_ms, result.p99_ms) == (0, 0.0, 0.0)
    assert result.errors > 0
