"""``python -m anime_devstack run`` refuses a taken gateway port before starting anything."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from anime_devstack.cli import main
from anime_devstack.config import find_repo_root

# DATABASE_URL and SECRET_KEY keep the command from touching .local/.
NO_LOCAL_STATE = {"DATABASE_URL": "postgresql://x:y@127.0.0.1:1/x", "SECRET_KEY": "k" * 48}


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_taken_gateway_port_exits_with_a_clear_message(taken_port: int) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "anime_devstack", "run", "--gateway-port", str(taken_port)],
        capture_output=True,
        text=True,
        env=os.environ | NO_LOCAL_STATE,
        cwd=find_repo_root(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert f"port {taken_port} (gateway) is already in use" in result.stderr
    assert "GATEWAY_PORT" in result.stderr
    assert "ready:" not in result.stdout


def test_run_in_process_restores_signal_handlers(
    taken_port: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name, value in NO_LOCAL_STATE.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GATEWAY_PORT", str(taken_port))
    monkeypatch.chdir(find_repo_root())
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with caplog.at_level(logging.INFO, logger="anime_devstack"):
        assert main(["run"]) == 1
    assert f"port {taken_port} (gateway)" in caplog.text
    assert {sig: signal.getsignal(sig) for sig in before} == before
