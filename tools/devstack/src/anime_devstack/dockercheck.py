"""Whether a Docker engine answers, decided quickly and without ever hanging."""

from __future__ import annotations

import functools
import importlib
import os
import threading
import warnings
from pathlib import Path
from typing import Any

_DEFAULT_SOCKETS = (Path("/var/run/docker.sock"), Path.home() / ".docker" / "run" / "docker.sock")


def _probe(timeout: float, answer: list[bool]) -> None:
    # Under pytest's "warnings are errors", a deprecation inside the SDK must
    # not read as "no Docker".
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            # The SDK testcontainers uses, so both agree; it ships no type hints.
            docker: Any = importlib.import_module("docker")
            client = docker.from_env(timeout=int(max(1, timeout)))
            try:
                answer.append(bool(client.ping()))
            finally:
                client.close()
        except Exception:  # noqa: BLE001 - any failure means "no usable engine"
            return


@functools.cache
def docker_available(timeout: float = 2.0) -> bool:
    """True when a Docker engine answers a ping within ``timeout`` seconds."""
    if not os.environ.get("DOCKER_HOST") and not any(p.exists() for p in _DEFAULT_SOCKETS):
        return False
    answer: list[bool] = []
    # The SDK's own timeout does not cover every transport (ssh://, a stuck
    # daemon accepting but not answering); a daemon thread bounds the wait.
    worker = threading.Thread(target=_probe, args=(timeout, answer), daemon=True)
    worker.start()
    worker.join(timeout + 1.0)
    return bool(answer and answer[0])
