"""Run an app on a loopback port in a background thread: real HTTP, nothing mocked.

The fakes run this way, and so do real services that a test talks to over HTTP.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import uvicorn
from starlette.types import ASGIApp

from anime_fakes.faults import FakeState


@dataclass(frozen=True)
class RunningFake:
    """A fake being served: where it listens, and its state to steer and inspect."""

    url: str
    state: FakeState

    def count(self, path: str) -> int:
        return self.state.count(path)

    @property
    def total(self) -> int:
        return sum(self.state.stats()["requests"].values())


@contextmanager
def serve_in_thread(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    lifespan: Literal["on", "off"] = "off",
    tls: tuple[str, str] | None = None,
) -> Iterator[str]:
    """Serve `app` until the block ends; yields its base URL (`http://127.0.0.1:<port>`).

    `lifespan="on"` for a real service, whose start-up opens its database; `tls`
    (certificate file, key file) serves https instead.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan=lifespan,
        loop="asyncio",
        access_log=False,
        # Requests stuck in an injected timeout must not hold the shutdown up.
        timeout_graceful_shutdown=1,
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[sock])), name="test-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    try:
        yield f"{'https' if tls else 'http'}://{host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
