"""SingleFlight: one load per key at a time, its outcome shared, never cancelled by a caller."""

from __future__ import annotations

import asyncio

import pytest

from anime_common import SingleFlight

pytestmark = pytest.mark.anyio


async def test_single_flight_shares_one_outcome_and_forgets_it() -> None:
    flights: SingleFlight[int] = SingleFlight()
    calls = 0

    async def work() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        if calls == 1:
            raise RuntimeError("boom")
        return calls

    results = await asyncio.gather(
        *(flights.run("k", work) for _ in range(10)), return_exceptions=True
    )
    assert all(isinstance(result, RuntimeError) for result in results)
    assert await flights.run("k", work) == 2
    assert len(flights) == 0


async def test_a_caller_going_away_does_not_cancel_the_shared_work() -> None:
    flights: SingleFlight[str] = SingleFlight()

    async def work() -> str:
        await asyncio.sleep(0.05)
        return "done"

    impatient = asyncio.create_task(flights.run("k", work))
    patient = asyncio.create_task(flights.run("k", work))
    await asyncio.sleep(0.01)
    impatient.cancel()
    assert await patient == "done"


async def test_start_runs_in_the_background_and_aclose_cancels_it() -> None:
    flights: SingleFlight[str] = SingleFlight()
    release = asyncio.Event()

    async def work() -> str:
        await release.wait()
        return "late"

    task = flights.start("k", work)
    assert "k" in flights
    assert flights.start("k", work) is task  # joined, not started twice
    await flights.aclose()
    assert task.cancelled()
    assert "k" not in flights
