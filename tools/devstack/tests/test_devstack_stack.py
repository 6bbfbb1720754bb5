"""The stack machinery with stand-in services, a throwaway cluster and real Traefik."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from anime_devstack.config import ServiceSpec, StackConfig
from anime_devstack.errors import PortInUseError, ServiceError
from anime_devstack.ports import free_ports
from anime_devstack.proc import cpu_seconds, is_alive
from anime_devstack.stack import Stack
from anime_devstack.traefik import TRAEFIK_GO_ENV

FAKE = Path(__file__).with_name("fake_service.py")

STATIC = """\
entryPoints:
  web: {address: ":8080"}
  ping: {address: ":8082"}
ping: {entryPoint: ping}
providers:
  file: {directory: /etc/traefik/dynamic, watch: true}
accessLog: {format: json}
"""

DYNAMIC = """\
http:
  routers:
    everything:
      entryPoints: [web]
      rule: "PathPrefix(`/`)"
      service: auth
  services:
    auth:
      loadBalancer:
        servers: [{url: {{ env "AUTH_SERVICE_URL" | quote }}}]
"""


def _specs() -> tuple[ServiceSpec, ...]:
    url_envs = {
        "auth": "AUTH_SERVICE_URL",
        "catalog": "CATALOG_SERVICE_URL",
        "edge": "EDGE_ERRORS_URL",
    }
    ports = free_ports(len(url_envs))
    return tuple(
        ServiceSpec(name, (sys.executable, str(FAKE), name), port, url_env)
        for (name, url_env), port in zip(url_envs.items(), ports, strict=True)
    )


@pytest.fixture
def config(tmp_path: Path, reachable_dir: Path) -> StackConfig:
    """A stack config whose Traefik files are placeholders inside the test's directory."""
    traefik = tmp_path / "traefik"
    (traefik / "dynamic").mkdir(parents=True)
    (traefik / "traefik.yml").write_text(STATIC)
    (traefik / "dynamic" / "routes.yml").write_text(DYNAMIC)
    config = StackConfig.for_tests(
        reachable_dir,
        services=_specs(),
        traefik_static=traefik / "traefik.yml",
        traefik_dynamic=traefik / "dynamic",
        environ={"FAKE_MARKER": "passed-through", "PATH": "/usr/bin:/bin"},
    )
    return config


@pytest.fixture
def stack(config: StackConfig) -> Iterator[Stack]:
    stack = Stack(config)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def _pids(stack: Stack) -> list[int]:
    return [pid for name in stack.process_names if (pid := stack.pid(name)) is not None]


def test_stack_runs_routes_and_stops_cleanly(stack: Stack) -> None:
    with httpx.Client(base_url=stack.gateway_url, timeout=5, trust_env=False) as gateway:
        assert gateway.get("/health").json() == {"status": "ok", "service": "auth"}
        env = gateway.get("/env").json()
    assert env["FAKE_MARKER"] == "passed-through"
    assert env["DATABASE_URL"] == stack.database_url
    assert env["DATABASE_URL"].startswith("postgresql+asyncpg://anime:")
    assert env["DATABASE_URL"].endswith("/anime")
    assert env["SECRET_KEY"] == stack.config.secret_key
    assert env["ALLOWED_ORIGINS"] == "http://localhost:3000,http://127.0.0.1:3000"
    assert env["AUTH_SERVICE_URL"] == stack.service_url("auth")
    assert env["EDGE_ERRORS_URL"] == stack.service_url("edge")
    assert env["HOST"] == "127.0.0.1"
    assert env["PORT"] == str(stack.config.services[0].port)
    assert stack.problems() == []
    traefik_pid = stack.pid("traefik")
    assert traefik_pid is not None
    used = cpu_seconds(traefik_pid)
    assert used is not None
    assert used > 0  # it has parsed its configuration and served
    traefik_env = Path(f"/proc/{traefik_pid}/environ").read_bytes().split(b"\0")
    assert all(f"{k}={v}".encode() in traefik_env for k, v in TRAEFIK_GO_ENV.items())

    pids = _pids(stack)
    database = stack.database
    assert database is not None
    base = database.base_dir
    stack.stop()
    assert not any(is_alive(pid) for pid in pids)
    assert not database.is_running
    assert not base.exists()


def test_one_service_stops_and_comes_back_on_its_port(stack: Stack) -> None:
    with httpx.Client(base_url=stack.gateway_url, timeout=5, trust_env=False) as gateway:
        first = stack.pid("auth")
        stack.stop_service("auth")
        assert stack.pid("auth") is None
        assert cpu_seconds(first) is None  # gone, not an error
        assert gateway.get("/health").status_code in (502, 503)
        stack.start_service("auth")
        assert gateway.get("/health").status_code == 200
        assert stack.pid("auth") not in (None, first)
    assert "restarted" in stack.log_path("auth").read_text()


def test_database_stops_and_comes_back_with_its_data(stack: Stack) -> None:
    database = stack.database
    assert database is not None
    url = stack.database_url
    stack.stop_database()
    assert not database.is_running
    assert stack.problems() == []  # stopped on purpose
    stack.start_database()
    assert database.is_running
    assert stack.database_url == url
    assert database.execute("SELECT datname FROM pg_database WHERE datname = 'anime'").strip()


def test_taken_gateway_port_fails_before_anything_starts(config: StackConfig) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", config.gateway_port))
        holder.listen()
        stack = Stack(config)
        with pytest.raises(
            PortInUseError, match=rf"port {config.gateway_port} \(gateway\).*GATEWAY_PORT"
        ):
            stack.start()
    assert stack._processes == {}
    assert stack.database is not None
    assert not stack.database.is_running


def test_failing_service_is_named_with_its_log(config: StackConfig) -> None:
    failing = StackConfig(**{**config.__dict__, "env": {**config.env, "FAKE_FAIL": "catalog"}})
    stack = Stack(failing)
    with pytest.raises(ServiceError, match=r"(?s)catalog exited with status 3.*boom"):
        stack.start()
    assert not any(is_alive(pid) for pid in _pids(stack))
    assert stack.database is not None
    assert not stack.database.is_running
