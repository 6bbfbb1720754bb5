"""The Docker probe answers quickly, yes or no, and never hangs."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from anime_devstack import dockercheck
from anime_devstack.dockercheck import docker_available


@pytest.fixture(autouse=True)
def _fresh_answer() -> Iterator[None]:
    docker_available.cache_clear()
    yield
    docker_available.cache_clear()


class _FakeEngine(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"OK" if "_ping" in self.path else json.dumps({"ApiVersion": "1.44"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        request, _ = super().get_request()
        return request, ("local", 0)  # BaseHTTPRequestHandler expects a (host, port)


def test_no_host_and_no_socket_is_no_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(dockercheck, "_DEFAULT_SOCKETS", (Path("/nonexistent/docker.sock"),))
    assert docker_available() is False


def test_an_engine_that_answers_is_docker(
    monkeypatch: pytest.MonkeyPatch, reachable_dir: Path
) -> None:
    path = reachable_dir / "docker.sock"
    server = _UnixHTTPServer(str(path), _FakeEngine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
        assert docker_available() is True
    finally:
        server.shutdown()
        server.server_close()


def test_a_socket_that_never_answers_is_no_docker_within_the_timeout(
    monkeypatch: pytest.MonkeyPatch, reachable_dir: Path
) -> None:
    path = reachable_dir / "stuck.sock"
    with socket.socket(socket.AF_UNIX) as stuck:
        stuck.bind(str(path))
        stuck.listen()  # accepts connections, never replies
        monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
        started = time.monotonic()
        assert docker_available(timeout=1.0) is False
        assert time.monotonic() - started < 5
