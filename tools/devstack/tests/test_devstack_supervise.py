"""A crashed process comes back after a growing delay; one that keeps crashing stops the stack."""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest

from anime_devstack.proc import is_alive
from anime_devstack.stack import Stack
from anime_devstack.supervise import Supervisor

from .test_devstack_stack import config, stack

__all__ = ["config", "stack"]  # the fixtures, shared with the stack tests


def _kill(stack: Stack, name: str) -> None:
    pid = stack.pid(name)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while name not in stack.crashed():
        assert time.monotonic() < deadline, f"{name} still looks alive"
        time.sleep(0.05)
    assert not is_alive(pid)


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_killed_service_is_restarted_after_a_delay(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    clock = _Clock()
    supervisor = Supervisor(stack, limit=3, first_delay=2, clock=clock)
    old = stack.pid("catalog")
    _kill(stack, "catalog")
    with caplog.at_level("INFO", logger="anime_devstack"):
        assert supervisor.tick() is None  # crash seen: restart due in 2 s
        assert "catalog" in stack.crashed()
        clock.now += 2
        assert supervisor.tick() is None  # restarted, and healthy again
    assert stack.crashed() == []
    assert stack.pid("catalog") not in (None, old)
    assert httpx.get(f"{stack.service_url('catalog')}/health", timeout=5).status_code == 200
    assert "catalog killed by signal 9; restarting it in 2s (crash 1 of 2" in caplog.text
    assert "catalog is back" in caplog.text

    # The second crash within the window waits twice as long.
    _kill(stack, "catalog")
    with caplog.at_level("INFO", logger="anime_devstack"):
        assert supervisor.tick() is None
    assert "restarting it in 4s (crash 2 of 2" in caplog.text


def test_repeated_crashes_within_the_window_stop_the_stack(stack: Stack) -> None:
    clock = _Clock()
    supervisor = Supervisor(stack, limit=2, first_delay=0, clock=clock)
    _kill(stack, "auth")
    assert supervisor.tick() is None  # restarted at once (no delay)
    assert stack.crashed() == []
    clock.now += 10
    _kill(stack, "auth")
    reason = supervisor.tick()
    assert reason is not None
    assert reason.startswith("auth killed by signal 9: 2 crashes within 60s, giving up")


def test_crashes_outside_the_window_are_forgotten(stack: Stack) -> None:
    clock = _Clock()
    supervisor = Supervisor(stack, limit=2, first_delay=0, window=60, clock=clock)
    _kill(stack, "auth")
    assert supervisor.tick() is None
    clock.now += 61
    _kill(stack, "auth")
    assert supervisor.tick() is None
    assert stack.crashed() == []
