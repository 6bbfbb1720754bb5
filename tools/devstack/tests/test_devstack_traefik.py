"""The local variant of Traefik's static configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from anime_devstack.config import find_repo_root
from anime_devstack.errors import DevstackError
from anime_devstack.traefik import find_traefik, render_static_config, write_static_config

DEPLOY_STATIC = find_repo_root() / "deploy" / "traefik" / "traefik.yml"


def _port(address: str) -> int:
    host, _, port = address.rpartition(":")
    assert host == "127.0.0.1"
    return int(port)


def test_every_entry_point_moves_to_loopback(tmp_path: Path) -> None:
    static: dict[str, Any] = {
        "entryPoints": {
            "web": {"address": ":8080", "http": {"sanitizePath": True}},
            "ping": {"address": ":8082"},
            "metrics": {"address": ":8083"},
        },
        "ping": {"entryPoint": "ping"},
        "providers": {"file": {"directory": "/etc/traefik/dynamic", "watch": True}, "docker": {}},
        "log": {"level": "INFO", "filePath": "/var/log/traefik.log"},
        "accessLog": {"format": "json"},
    }
    rendered, ping_port = render_static_config(
        static, dynamic_dir=tmp_path / "dynamic", gateway_port=18123, logs_dir=tmp_path
    )
    points = rendered["entryPoints"]
    assert points["web"] == {"address": "127.0.0.1:18123", "http": {"sanitizePath": True}}
    assert ping_port == _port(points["ping"]["address"])
    ports = {_port(point["address"]) for point in points.values()}
    assert len(ports) == len(points)  # metrics and the implicit "traefik" got their own
    assert rendered["providers"] == {
        "file": {"directory": str(tmp_path / "dynamic"), "watch": True}
    }
    assert rendered["log"]["filePath"] == str(tmp_path / "traefik-server.log")
    assert rendered["accessLog"] == {"format": "json"}  # stdout, i.e. traefik.log
    assert rendered["global"]["checkNewVersion"] is False
    assert static["entryPoints"]["web"]["address"] == ":8080"  # input left alone


def test_ping_without_entry_point_never_takes_8080(tmp_path: Path) -> None:
    rendered, ping_port = render_static_config(
        {"ping": {}}, dynamic_dir=tmp_path, gateway_port=18124, logs_dir=tmp_path
    )
    assert rendered["ping"]["entryPoint"] == "traefik"
    assert ping_port == _port(rendered["entryPoints"]["traefik"]["address"])
    assert ping_port != 8080


@pytest.mark.skipif(not DEPLOY_STATIC.is_file(), reason="deploy/traefik/traefik.yml not written")
def test_deploy_static_config_renders(tmp_path: Path) -> None:
    dynamic = DEPLOY_STATIC.parent / "dynamic"
    config = write_static_config(
        DEPLOY_STATIC,
        tmp_path / "traefik.yml",
        dynamic_dir=dynamic,
        gateway_port=18125,
        logs_dir=tmp_path,
    )
    written = yaml.safe_load(config.path.read_text())
    assert written["entryPoints"]["web"]["address"] == "127.0.0.1:18125"
    assert written["providers"]["file"]["directory"] == str(dynamic)
    assert config.ping_url is not None
    # Traefik's metrics get a loopback entry point of their own, never the gateway's.
    metrics = written["entryPoints"]["metrics"]["address"]
    assert config.metrics_url == f"http://{metrics}/metrics"
    assert config.metrics_port not in (18125, config.ping_port)


def test_missing_static_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DevstackError, match=r"nope\.yml does not exist"):
        write_static_config(
            tmp_path / "nope.yml",
            tmp_path / "out.yml",
            dynamic_dir=tmp_path,
            gateway_port=18126,
            logs_dir=tmp_path,
        )


def test_traefik_binary_comes_from_the_wheel() -> None:
    assert find_traefik().name == "traefik"
