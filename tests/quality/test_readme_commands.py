"""Every command in the README's shell blocks runs as written: here, or (named below) in
the suite that exercises it."""

from __future__ import annotations

import functools
import os
import re
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()

# Commands the rest of the suite runs (or that need a Docker engine, which
# tests/deploy replaces by rendering docker-compose.yml and reading the Dockerfiles).
ELSEWHERE = {
    "scripts/run": "tests/e2e and tools/devstack start the same Stack; --help is run below",
    "scripts/test": "this very run",
    "cp .env.example .env": "tests/deploy: compose never reads .env in the checks",
    "docker compose": "tests/deploy renders docker-compose.yml",
    "docker build": "tests/deploy checks each Dockerfile",
    "docker run": "tests/deploy checks each Dockerfile",
}
# Run here, against a fresh database, exactly as the README writes them.
RUN_HERE = ("scripts/admin create-user", "scripts/admin migrate", "scripts/admin seed-demo",
            'eval "$(scripts/admin env)"')  # fmt: skip


def readme_commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README, flags=re.DOTALL)
    commands = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


def test_every_readme_command_is_run_somewhere() -> None:
    commands = readme_commands()
    assert "scripts/run" in " ".join(commands)
    unknown = [c for c in commands if not c.startswith((*ELSEWHERE, *RUN_HERE))]
    assert not unknown, f"README commands no test runs: {unknown}"


def test_scripts_run_help_lists_its_variables() -> None:
    result = subprocess.run(
        ["scripts/run", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "ANIME_START_TIMEOUT" in result.stdout


@pytest.mark.anyio
async def test_admin_commands_run_as_written(
    create_database: Callable[[str], Awaitable[str]],
) -> None:
    env = os.environ | {
        "DATABASE_URL": await create_database("readme"),
        "SECRET_KEY": "r" * 48,
        "ANIME_AUTH_PASSWORD": "a long enough password",
    }
    here = list(dict.fromkeys(c for c in readme_commands() if c.startswith(RUN_HERE)))
    assert {c.split(" --")[0] for c in here} >= {"scripts/admin create-user"}
    for command in here:
        # `bash -c` runs the line as a developer's shell would; `eval` then `env` shows
        # what it exported.
        line = f"{command} && env" if command.startswith("eval") else command
        result = await anyio.to_thread.run_sync(
            functools.partial(
                subprocess.run,
                ["bash", "-c", line],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
        )
        assert result.returncode == 0, (command, result.stderr)
        if command.startswith("scripts/admin create-user"):
            assert result.stdout.startswith("created admin admin@example.com")
        if command.startswith("eval"):
            assert f"DATABASE_URL={env['DATABASE_URL']}" in result.stdout


@pytest.mark.parametrize(
    "document", ["README.md", "docs/API.md", "docs/ARCHITECTURE.md"], ids=lambda p: p
)
def test_relative_links_point_into_the_repository(document: str) -> None:
    path = ROOT / document
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text())
    local = [t for t in targets if not re.match(r"^[a-z]+:", t)]
    assert local or document != "README.md"
    for target in local:
        resolved = (path.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{document} links outside the repository: {target}"
        assert resolved.exists(), f"{document} links to a missing file: {target}"
