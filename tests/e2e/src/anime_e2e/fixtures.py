"""Fixtures of the end-to-end tests: the whole stack, reached through its gateway.

When a Docker engine answers, the stack is docker-compose.yml, built and run
through testcontainers (``ANIME_E2E_STACK=local`` forces local processes);
otherwise it runs as local processes with a throwaway database and free ports,
so it never clashes with a developer's ``scripts/run``. Same tests either way.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

import httpx
import pytest

from anime_devstack.config import StackConfig
from anime_devstack.dockercheck import docker_available
from anime_devstack.stack import Stack


class RunningStack(Protocol):
    """What the e2e tests may use, whichever way the stack runs."""

    @property
    def gateway_url(self) -> str: ...
    @property
    def allowed_origins(self) -> str: ...
    def service_url(self, name: str) -> str: ...
    def stop_service(self, name: str) -> None: ...
    def start_service(self, name: str) -> None: ...
    def stop_database(self) -> None: ...
    def start_database(self) -> None: ...


def container_stack(work_dir: Path) -> AbstractContextManager[RunningStack]:
    """docker-compose.yml built and run through testcontainers (needs a Docker engine)."""
    from anime_e2e.containers import ComposeStack

    return ComposeStack(work_dir)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The whole stack for the test session."""
    if docker_available() and os.environ.get("ANIME_E2E_STACK", "containers") == "containers":
        with container_stack(tmp_path_factory.mktemp("compose")) as running:
            yield running
        return
    config = StackConfig.for_tests(tmp_path_factory.mktemp("stack"))
    with Stack(config) as running:
        yield running


@pytest.fixture
def gateway(stack: RunningStack) -> Iterator[httpx.Client]:
    """A client for the gateway, the only door the e2e tests use."""
    with httpx.Client(base_url=stack.gateway_url, timeout=10) as client:
        yield client
