"""What ``run`` derives from the environment."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from anime_devstack.config import StackConfig, find_repo_root
from anime_devstack.errors import DevstackError

from .helpers import as_root


def _repo(where: Path) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    (where / "pyproject.toml").write_text("[tool.uv.workspace]\nmembers = []\n")
    return where


def test_defaults_with_a_local_cluster_and_a_persisted_secret(reachable_dir: Path) -> None:
    root = _repo(reachable_dir / "repo")
    config = StackConfig.from_env(root, {})
    assert config.gateway_port == 8080
    assert [(s.name, s.port) for s in config.services] == [
        ("auth", 8001),
        ("catalog", 8002),
        ("library", 8003),
        ("media", 8004),
        ("proxy", 8005),
        ("edge", 8009),
    ]
    assert config.services[0].argv[1:] == ("-m", "anime_auth")
    assert config.database == "persistent"
    assert config.pg_dir == root / ".local" / "postgres"
    assert config.media_root == root / ".local" / "media"
    assert config.logs_dir == root / ".local" / "logs"
    assert config.traefik_dynamic == root / "deploy" / "traefik" / "dynamic"
    secret = root / ".local" / "secret_key"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert len(config.secret_key) >= 48
    assert StackConfig.from_env(root, {}).secret_key == config.secret_key


def test_environment_overrides(reachable_dir: Path) -> None:
    root = _repo(reachable_dir / "repo")
    env = {
        "DB_HOST": "db.internal",
        "SECRET_KEY": "s" * 48,
        "GATEWAY_PORT": "9090",
        "ANIME_CATALOG_PORT": "9102",
        "ALLOWED_ORIGINS": "https://anime.example",
        "MEDIA_ROOT": str(reachable_dir / "media"),
    }
    config = StackConfig.from_env(root, env)
    assert config.database == "external"
    assert config.pg_dir is None
    assert config.secret_key == "s" * 48
    assert not (root / ".local" / "secret_key").exists()
    assert config.gateway_port == 9090
    assert {s.name: s.port for s in config.services}["catalog"] == 9102
    assert config.allowed_origins == "https://anime.example"
    assert config.media_root == reachable_dir / "media"
    assert config.env["DB_HOST"] == "db.internal"
    assert StackConfig.from_env(root, env, gateway_port=9191).gateway_port == 9191


def test_bad_port_variable_is_named(reachable_dir: Path) -> None:
    root = _repo(reachable_dir / "repo")
    with pytest.raises(DevstackError, match="GATEWAY_PORT must be an integer"):
        StackConfig.from_env(root, {"GATEWAY_PORT": "eighty", "DATABASE_URL": "x"})


@as_root
def test_private_checkout_keeps_the_cluster_where_nobody_can_reach_it(tmp_path: Path) -> None:
    root = _repo(tmp_path / "repo")  # pytest's tmp_path is 0700: nobody cannot enter
    digest = hashlib.sha256(str(root.absolute()).encode()).hexdigest()[:12]
    holder = Path("/var/tmp") / f"anime-devstack-{digest}"
    try:
        config = StackConfig.from_env(root, {"SECRET_KEY": "s" * 48})
        assert config.pg_dir == holder / "postgres"
        assert holder.stat().st_mode & 0o777 == 0o711
    finally:
        shutil.rmtree(holder, ignore_errors=True)


def test_pg_data_variable_wins(reachable_dir: Path) -> None:
    root = _repo(reachable_dir / "repo")
    config = StackConfig.from_env(root, {"SECRET_KEY": "s", "ANIME_PG_DATA": "/srv/pg"})
    assert config.pg_dir == Path("/srv/pg")


def test_repo_root_is_found_from_below(reachable_dir: Path) -> None:
    root = _repo(reachable_dir / "repo")
    nested = root / "services" / "auth"
    nested.mkdir(parents=True)
    assert find_repo_root(nested) == root


def test_for_tests_uses_free_ports_and_a_throwaway_cluster(reachable_dir: Path) -> None:
    config = StackConfig.for_tests(reachable_dir, environ={})
    ports = [config.gateway_port, *(s.port for s in config.services)]
    assert len(set(ports)) == len(ports)
    assert 8080 not in ports
    assert config.database == "throwaway"
    assert config.logs_dir == reachable_dir / "logs"
