"""Batcher: the gets that come together make one load; its answers and errors reach each."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from anime_common import Batcher

pytestmark = pytest.mark.anyio


class Squares:
    """A load that records the keys of each call and knows only non-negative numbers."""

    def __init__(self, *, fail: bool = False) -> None:
        self.calls: list[list[int]] = []
        self.fail = fail
        self.gate = asyncio.Event()
        self.gate.set()
        self.started = asyncio.Event()

    async def __call__(self, keys: list[int]) -> Mapping[int, int]:
        self.calls.append(keys)
        self.started.set()
        await self.gate.wait()
        if self.fail:
            raise RuntimeError("database unavailable")
        return {key: key * key for key in keys if key >= 0}


async def test_gets_of_one_turn_are_one_load_of_distinct_keys() -> None:
    load = Squares()
    batcher: Batcher[int, int] = Batcher(load)
    answers = await asyncio.gather(*(batcher.get(key) for key in (3, -1, 3, 4)))
    assert answers == [9, None, 9, 16]  # a key the load left out is None
    assert load.calls == [[3, -1, 4]]
    assert await batcher.get(5) == 25  # a later turn, a load of its own
    assert load.calls[1:] == [[5]]


async def test_gets_that_come_while_a_load_runs_are_the_next_load() -> None:
    load = Squares()
    load.gate.clear()
    batcher: Batcher[int, int] = Batcher(load)
    first = asyncio.ensure_future(batcher.get(1))
    await load.started.wait()
    # Three turns while the first load runs: no load of their own yet.
    later = [asyncio.ensure_future(batcher.get(key)) for key in (2, 3)]
    await asyncio.sleep(0)
    later.append(asyncio.ensure_future(batcher.get(2)))
    await asyncio.sleep(0)
    assert load.calls == [[1]]
    load.gate.set()
    assert await first == 1
    assert await asyncio.gather(*later) == [4, 9, 4]
    assert load.calls == [[1], [2, 3]]


async def test_the_next_load_follows_a_failed_one() -> None:
    gate = asyncio.Event()
    calls: list[list[int]] = []

    async def fails_first(keys: list[int]) -> Mapping[int, int]:
        calls.append(keys)
        await gate.wait()
        if len(calls) == 1:
            raise RuntimeError("database unavailable")
        return {key: key * key for key in keys}

    batcher: Batcher[int, int] = Batcher(fails_first)
    first = asyncio.ensure_future(batcher.get(1))
    await asyncio.sleep(0.01)
    second = asyncio.ensure_future(batcher.get(2))
    await asyncio.sleep(0)
    gate.set()
    with pytest.raises(RuntimeError, match="unavailable"):
        await first
    assert await second == 4
    assert calls == [[1], [2]]


async def test_a_full_batch_goes_at_once() -> None:
    load = Squares()
    batcher: Batcher[int, int] = Batcher(load, max_size=2)
    assert await asyncio.gather(*(batcher.get(key) for key in range(5))) == [0, 1, 4, 9, 16]
    assert load.calls == [[0, 1], [2, 3], [4]]


async def test_a_failed_load_fails_every_get_of_its_batch() -> None:
    batcher: Batcher[int, int] = Batcher(Squares(fail=True))
    results = await asyncio.gather(batcher.get(1), batcher.get(2), return_exceptions=True)
    assert [str(result) for result in results] == ["database unavailable"] * 2


async def test_a_caller_that_goes_away_does_not_cancel_the_others() -> None:
    load = Squares()
    load.gate.clear()
    batcher: Batcher[int, int] = Batcher(load)
    gone = asyncio.ensure_future(batcher.get(2))
    stays = asyncio.ensure_future(batcher.get(2))
    await load.started.wait()
    gone.cancel()
    load.gate.set()
    assert await stays == 4
    assert gone.cancelled()


def test_max_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_size"):
        Batcher(Squares(), max_size=0)
