"""Fixtures of the end-to-end tests: the whole stack, reached through its gateway.

When a Docker engine answers, the stack is docker-compose.yml, built and run
through testcontainers (``ANIME_E2E_STACK=local`` forces local processes);
otherwise it runs as local processes with a throwaway database and free ports,
so it never clashes with a developer's ``scripts/run``. Same tests either way.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

from anime_devstack.config import StackConfig
from anime_devstack.dockercheck import docker_available
from anime_devstack.stack import Stack
from anime_e2e.contract import SERVICES, ResponseContract

PASSWORD = "e2e password, long enough"


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


@pytest.fixture(scope="session")
def contract(stack: RunningStack) -> ResponseContract:
    """Every service's /openapi.json, read once while all of them run (some tests stop one);
    the gateway's merged one where the services publish no port (the compose stack)."""
    if isinstance(stack, Stack):
        return ResponseContract.fetch((name, stack.service_url(name)) for name in SERVICES)
    return ResponseContract.fetch([("gateway", stack.gateway_url)])


@pytest.fixture
def gateway(stack: RunningStack, contract: ResponseContract) -> Iterator[httpx.Client]:
    """A client for the gateway, the only door the e2e tests use; every documented 2xx
    body it receives is checked against its operation's schema."""
    with httpx.Client(
        base_url=stack.gateway_url, timeout=10, event_hooks={"response": [contract.check]}
    ) as client:
        yield client


@pytest.fixture(scope="session")
def seeded(stack: RunningStack) -> RunningStack:
    """The stack with the demo catalog, seeded the way `scripts/run` does it."""
    if not isinstance(stack, Stack):
        pytest.skip("seeding needs the local-process stack")
    stack.seed_demo_catalog()  # only fills an empty catalog
    return stack


@pytest.fixture(scope="module")
def api(seeded: RunningStack, contract: ResponseContract) -> Iterator[httpx.Client]:
    """A gateway client over the seeded stack (no proxy settings from the environment),
    checking bodies like `gateway`."""
    with httpx.Client(
        base_url=seeded.gateway_url,
        timeout=15,
        trust_env=False,
        event_hooks={"response": [contract.check]},
    ) as client:
        yield client


@pytest.fixture(scope="module")
def demo_anime(api: httpx.Client) -> dict[str, dict[str, Any]]:
    """The demo catalog's anime by HiAnime id."""
    found: dict[str, dict[str, Any]] = {}
    for offset in (0, 100):
        page = api.get("/anime", params={"limit": 100, "offset": offset})
        found.update({item["hianime_id"]: item for item in page.json() if item["hianime_id"]})
    return found


def new_email() -> str:
    return f"e2e-{uuid.uuid4().hex[:12]}@example.com"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def register_account(client: httpx.Client, email: str | None = None) -> dict[str, Any]:
    """`POST /auth/register` with PASSWORD; the answer (tokens and `user`)."""
    response = client.post(
        "/auth/register", json={"email": email or new_email(), "password": PASSWORD}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def register(api: httpx.Client) -> dict[str, str]:
    """A new user; the Authorization header of its access token."""
    return bearer(register_account(api)["access_token"])


def landed(api: httpx.Client, job: dict[str, Any], user: dict[str, str]) -> dict[str, Any]:
    """Poll `GET /jobs/{id}` until a library job has finished."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        body: dict[str, Any] = api.get(f"/jobs/{job['id']}", headers=user).json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.02)
    raise AssertionError(f"job {job['key']} did not finish")
