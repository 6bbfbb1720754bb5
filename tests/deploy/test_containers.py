"""Container deploys, checked without a Docker engine: compose renders, images stay lean."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from anime_common import CommonSettings
from anime_devstack.traefik import TRAEFIK_GO_ENV

ROOT = Path(__file__).resolve().parents[2]
DATABASE_SERVICES = {"auth", "catalog", "library", "media"}
APP_SERVICES = {
    "auth": "services/auth",
    "catalog": "services/catalog",
    "library": "services/library",
    "media": "services/media",
    "proxy": "services/proxy",
}
IMAGES = {**APP_SERVICES, "edge": "deploy/edge"}
SAMPLE_ENV = {
    "SECRET_KEY": "sample-secret-sample-secret-sample-secret-0123456789",
    "DB_PASSWORD": "sample-password",
}


def _compose(
    *args: str, env: dict[str, str], project: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("docker-compose")
    if executable is None:
        pytest.skip("docker-compose is not installed (scripts/test installs it when run as root)")
    # Compose reads `<project>/.env` by default; a developer's (README: `cp .env.example
    # .env`) must not change what these tests see, so an empty env file is named instead.
    with tempfile.TemporaryDirectory() as scratch:
        empty = Path(scratch) / "empty.env"
        empty.touch()
        return subprocess.run(
            [
                executable,
                "--project-directory",
                str(project),
                "--env-file",
                str(empty),
                "-f",
                str(ROOT / "docker-compose.yml"),
                *args,
            ],
            env={"PATH": "/usr/bin:/bin", **env},
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )


@pytest.fixture(scope="module")
def rendered() -> dict[str, Any]:
    result = _compose("config", env=SAMPLE_ENV)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = yaml.safe_load(result.stdout)
    return document


@pytest.mark.parametrize("missing", sorted(SAMPLE_ENV))
def test_required_secrets_stop_compose_with_a_clear_message(missing: str) -> None:
    env = {name: value for name, value in SAMPLE_ENV.items() if name != missing}
    result = _compose("config", env=env)
    assert result.returncode != 0
    assert f"{missing} is required" in result.stderr


def test_a_developers_env_file_is_not_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SECRET_KEY=from-dot-env-0123456789\nDB_PASSWORD=x\n")
    result = _compose("config", env={}, project=tmp_path)
    assert result.returncode != 0
    assert "is required" in result.stderr


def test_env_files_stay_out_of_git_and_images() -> None:
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in (ROOT / ".dockerignore").read_text().splitlines()


def test_only_the_gateway_is_published(rendered: dict[str, Any]) -> None:
    published = {name for name, service in rendered["services"].items() if service.get("ports")}
    assert published == {"traefik", "prometheus"}
    assert rendered["services"]["traefik"]["ports"][0]["target"] == 8080
    # Prometheus is opt-in and reachable from the host's loopback only.
    prometheus = rendered["services"]["prometheus"]
    assert prometheus["profiles"] == ["observability"]
    assert str(prometheus["ports"][0]).startswith("127.0.0.1:")


def test_prometheus_scrapes_every_service_and_traefik(rendered: dict[str, Any]) -> None:
    scrape = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in scrape["scrape_configs"]}
    assert set(jobs) == {*APP_SERVICES, "traefik"}
    for name in APP_SERVICES:
        port = int(
            rendered["services"]["traefik"]["environment"][f"{name.upper()}_SERVICE_URL"].rsplit(
                ":", 1
            )[1]
        )
        assert jobs[name]["metrics_path"] == "/internal/metrics"
        assert jobs[name]["dns_sd_configs"] == [{"names": [name], "type": "A", "port": port}]
    static = yaml.safe_load((ROOT / "deploy/traefik/traefik.yml").read_text())
    entry_point = static["metrics"]["prometheus"]["entryPoint"]
    port = static["entryPoints"][entry_point]["address"].rsplit(":", 1)[1]
    assert jobs["traefik"]["static_configs"] == [{"targets": [f"traefik:{port}"]}]


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_each_service_is_built_healthy_and_configured_from_the_environment(
    rendered: dict[str, Any], name: str
) -> None:
    service = rendered["services"][name]
    assert service["build"]["dockerfile"] == f"{APP_SERVICES[name]}/Dockerfile"
    assert Path(service["build"]["context"]) == ROOT
    assert "/health" in " ".join(service["healthcheck"]["test"])
    environment = service["environment"]
    assert environment["SECRET_KEY"] == SAMPLE_ENV["SECRET_KEY"]
    assert environment["DB_HOST"] == "postgres"
    assert environment["DB_PASSWORD"] == SAMPLE_ENV["DB_PASSWORD"]
    # Behind Traefik on the compose network: per-client limits need the forwarded address.
    assert environment["FORWARDED_ALLOW_IPS"] == "*"
    if name in DATABASE_SERVICES:
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    else:
        assert "depends_on" not in service
    # Replicas: a fixed name or host port would stop `--scale`.
    assert "container_name" not in service
    assert "ports" not in service


def test_the_library_runs_replicas_since_its_jobs_are_shared(rendered: dict[str, Any]) -> None:
    assert rendered["services"]["library"]["deploy"]["replicas"] == 2


def test_traefik_uses_the_same_routing_table_and_reaches_every_service(
    rendered: dict[str, Any],
) -> None:
    traefik = rendered["services"]["traefik"]
    mounts = _mounts(traefik)
    assert Path(mounts["/etc/traefik/traefik.yml"]) == ROOT / "deploy/traefik/traefik.yml"
    assert Path(mounts["/etc/traefik/dynamic"]) == ROOT / "deploy/traefik/dynamic"
    environment = traefik["environment"]
    for name in APP_SERVICES:
        assert environment[f"{name.upper()}_SERVICE_URL"].startswith(f"http://{name}:")
    assert environment["EDGE_ERRORS_URL"].startswith("http://edge:")
    assert set(traefik["depends_on"]) == {*APP_SERVICES, "edge"}
    assert all(dep["condition"] == "service_healthy" for dep in traefik["depends_on"].values())


def test_traefik_runs_with_the_same_go_settings_as_the_local_stack(
    rendered: dict[str, Any],
) -> None:
    environment = rendered["services"]["traefik"]["environment"]
    assert {name: environment.get(name) for name in TRAEFIK_GO_ENV} == TRAEFIK_GO_ENV


def test_data_lives_on_named_volumes(rendered: dict[str, Any]) -> None:
    assert set(rendered["volumes"]) == {"pgdata", "media", "prometheus"}
    assert _mounts(rendered["services"]["postgres"]) == {"/var/lib/postgresql/data": "pgdata"}
    assert _mounts(rendered["services"]["media"]) == {"/var/lib/anime/media": "media"}


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Volume target -> source, from the short (`src:dst:mode`) or long syntax."""
    mounts = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target, *_mode = volume.split(":")
        else:
            source, target = volume["source"], volume["target"]
        mounts[target] = source
    return mounts


def _copies(dockerfile: Path) -> list[str]:
    sources = []
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY") and "--from=" not in line:
            *source_paths, _destination = line.split()[1:]
            sources.extend(source_paths)
    return sources


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_dockerfile_copies_only_its_package_and_the_common_lib(name: str) -> None:
    package = IMAGES[name]
    allowed = {
        "pyproject.toml",
        "uv.lock",
        "./",
        "libs/common",
        "libs/common/pyproject.toml",
        package,
        f"{package}/pyproject.toml",
    }
    sources = _copies(ROOT / package / "Dockerfile")
    assert sources
    assert set(sources) <= allowed, set(sources) - allowed


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_dockerfile_runs_as_non_root_without_dev_dependencies(name: str) -> None:
    text = (ROOT / IMAGES[name] / "Dockerfile").read_text()
    assert re.search(r"^USER anime$", text, re.MULTILINE)
    assert "HEALTHCHECK" in text
    assert f'CMD ["python", "-m", "anime_{name}"]' in text
    syncs = re.findall(r"uv sync [^\n]*", text)
    assert syncs
    assert all("--frozen" in sync and "--no-dev" in sync for sync in syncs)
    assert all(f"--package anime-{name}" in sync for sync in syncs)


def test_dockerignore_keeps_the_context_small() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for entry in (".git", ".venv", ".local", "**/tests"):
        assert entry in ignored


def test_env_example_lists_every_common_setting() -> None:
    names = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert set(CommonSettings.model_fields) <= names
