"""The stack in containers (docker-compose.yml), for machines with a Docker engine.

The same e2e tests run against it as against local processes: it offers what
`RunningStack` promises. Services publish no port in compose, so a test that
needs to reach one directly is skipped here.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from pathlib import Path
from types import TracebackType

import httpx
import pytest
from testcontainers.compose import DockerCompose

from anime_devstack.ports import free_ports

ROOT = Path(__file__).resolve().parents[4]
ALLOWED_ORIGINS = "http://localhost:3000,http://127.0.0.1:3000"
_READY_TIMEOUT = 180.0


class ComposeStack:
    """docker-compose.yml built and started with a throwaway project and secrets."""

    def __init__(self, work_dir: Path) -> None:
        [self._gateway_port] = free_ports(1)
        self._env_file = work_dir / "compose.env"
        self._env_file.write_text(
            f"SECRET_KEY={secrets.token_urlsafe(48)}\n"
            f"DB_PASSWORD={secrets.token_urlsafe(16)}\n"
            f"GATEWAY_PORT={self._gateway_port}\n"
            f"ALLOWED_ORIGINS={ALLOWED_ORIGINS}\n"
        )
        self._compose = DockerCompose(
            ROOT, "docker-compose.yml", build=True, wait=True, env_file=str(self._env_file)
        )

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self._gateway_port}"

    @property
    def allowed_origins(self) -> str:
        return ALLOWED_ORIGINS

    def service_url(self, name: str) -> str:
        pytest.skip(f"{name} publishes no port in the compose stack")

    def _compose_command(self, *args: str) -> None:
        command = [*self._compose.compose_command_property, *args]
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True, timeout=120)

    def stop_service(self, name: str) -> None:
        self._compose_command("stop", name)

    def start_service(self, name: str) -> None:
        self._compose_command("start", name)
        self._wait_for(f"/health/{name}")

    def stop_database(self) -> None:
        self._compose_command("stop", "postgres")

    def start_database(self) -> None:
        self._compose_command("start", "postgres")

    def _wait_for(self, path: str) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.gateway_url}{path}", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(1)
        raise TimeoutError(f"{path} not healthy through the gateway after {_READY_TIMEOUT:.0f}s")

    def __enter__(self) -> ComposeStack:
        self._compose.start()
        self._wait_for("/health")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._compose.stop()
