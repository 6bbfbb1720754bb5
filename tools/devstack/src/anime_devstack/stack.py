"""The whole local stack: PostgreSQL, the services, the edge error pages, Traefik.

Start order: database, then every service at once (their migrations are
serialized by advisory locks inside the services), then Traefik once all are
healthy. Stop order is the reverse.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import httpx

from anime_devstack.config import ServiceSpec, StackConfig
from anime_devstack.dbwait import external_dsn, wait_for_database
from anime_devstack.errors import DevstackError, PortInUseError, ServiceError
from anime_devstack.ports import LOOPBACK, is_port_free
from anime_devstack.postgres import LocalPostgres
from anime_devstack.proc import ManagedProcess, stop_all, tail
from anime_devstack.readable import last_error
from anime_devstack.traefik import TRAEFIK_GO_ENV, TraefikConfig, find_traefik, write_static_config

log = logging.getLogger(__name__)

TRAEFIK = "traefik"
_POLL_INTERVAL = 0.2


class Stack:
    """Runs and stops the stack described by a :class:`StackConfig`."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.database: LocalPostgres | None = None
        if config.database != "external":
            self.database = LocalPostgres(
                config.pg_dir if config.database == "persistent" else None,
                log_file=config.logs_dir / "postgres.log",
            )
        self._specs = {spec.name: spec for spec in config.services}
        self._processes: dict[str, ManagedProcess] = {}
        self._traefik: TraefikConfig | None = None
        self._database_stopped = False

    # -- addresses ------------------------------------------------------------

    @property
    def gateway_url(self) -> str:
        return f"http://{LOOPBACK}:{self.config.gateway_port}"

    @property
    def database_url(self) -> str | None:
        """The URL given to the services, or None when they use the parent's settings."""
        if self.database is None:
            return None
        return self.database.url(self.config.database_name)

    @property
    def allowed_origins(self) -> str:
        """The ALLOWED_ORIGINS the gateway and services were given."""
        return self.config.allowed_origins

    def service_url(self, name: str) -> str:
        return self._spec(name).url

    @property
    def traefik_metrics_url(self) -> str | None:
        """Traefik's Prometheus metrics (on an entry point of their own), once it runs."""
        return None if self._traefik is None else self._traefik.metrics_url

    def log_path(self, name: str) -> Path:
        return self.config.logs_dir / f"{name}.log"

    def pid(self, name: str) -> int | None:
        """The process id of a service, ``edge`` or ``traefik`` (None when not running)."""
        process = self._processes.get(name)
        return None if process is None or process.exited() else process.pid

    @property
    def process_names(self) -> list[str]:
        return [*self._specs, TRAEFIK]

    # -- whole stack ------------------------------------------------------------

    def start(self) -> None:
        """Start everything; on any failure stop what was started and raise."""
        self._check_ports()
        try:
            self._prepare_dirs()
            if self.database is not None:
                log.info("starting PostgreSQL")
                self.database.start()
                self.database.create_database(self.config.database_name)
            elif self.config.migrate_first:
                wait_for_database(
                    external_dsn(self.config.env),
                    within=float(self.config.env.get("DB_STARTUP_TIMEOUT") or 60),
                )
            env = self._common_env()
            if self.config.migrate_first:
                self.migrate(env)
            for spec in self.config.services:
                self._processes[spec.name] = self._service_process(spec, env)
            log.info("starting %s", ", ".join(self._specs))
            for spec in self.config.services:
                self._processes[spec.name].start()
            self._wait_services(list(self._specs))
            if self.config.seed_demo:
                log.info("loading the demo catalog (only into an empty one)")
                self.seed_demo_catalog()
            log.info("starting traefik")
            self._start_traefik(env)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop everything this stack started, in reverse order. Safe to call twice."""
        try:
            if TRAEFIK in self._processes:
                stop_all([self._processes[TRAEFIK]], self.config.stop_grace)
            names = [name for name in reversed(self._specs) if name in self._processes]
            stop_all([self._processes[name] for name in names], self.config.stop_grace)
        finally:
            if self.database is not None:
                self.database.stop()

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def problems(self) -> list[str]:
        """What died on its own since start (a stopped-on-purpose part is not a problem)."""
        found = [
            f"{name} {self.describe_exit(name)}; "
            f"last lines of {self.log_path(name)}:\n{self.log_tail(name)}"
            for name in self.crashed()
        ]
        database = self.database_problem()
        return found if database is None else [*found, database]

    def crashed(self) -> list[str]:
        """Processes that exited on their own (one stopped on purpose is not `started`)."""
        return [
            name
            for name, process in self._processes.items()
            if process.started and process.exited()
        ]

    def describe_exit(self, name: str) -> str:
        return self._processes[name].describe_exit()

    def log_tail(self, name: str, lines: int = 40) -> str:
        return self._processes[name].log_tail(lines)

    def database_problem(self) -> str | None:
        """Why the local PostgreSQL is gone, if it stopped on its own."""
        database = self.database
        if database is None or self._database_stopped or database.is_running:
            return None
        return f"PostgreSQL stopped; last lines of {database.log_file}:\n{tail(database.log_file)}"

    def migrate(self, env: dict[str, str] | None = None) -> None:
        """`alembic upgrade head` for each service with migrations, one line each."""
        migrate_services(
            self.config.services,
            root=self.config.root,
            env=env or self._common_env(),
            timeout=self.config.health_timeout,
        )

    def seed_demo_catalog(self) -> None:
        """`python -m anime_catalog seed-demo`: the demo anime, only into an empty catalog."""
        spec = self._specs.get("catalog")
        if spec is None:
            return
        result = subprocess.run(
            [*spec.argv, "seed-demo"],
            env=self._common_env(),
            cwd=self.config.root,
            capture_output=True,
            text=True,
            timeout=self.config.health_timeout,
            check=False,
        )
        if result.returncode != 0:
            raise ServiceError(f"catalog seed-demo failed: {last_error(result.stderr)}")
        log.info("%s", result.stdout.strip())

    # -- parts ----------------------------------------------------------------------

    def stop_service(self, name: str) -> None:
        """Stop one process (a service, ``edge`` or ``traefik``)."""
        process = self._processes.get(name)
        if process is None:
            raise DevstackError(f"{name} is not running in this stack")
        stop_all([process], self.config.stop_grace)

    def start_service(self, name: str) -> None:
        """Start a stopped process again on the same port and wait until it is healthy."""
        process = self._processes.get(name)
        if process is None:
            raise DevstackError(f"{name} was never started in this stack")
        if process.started and not process.exited():
            return
        process.start()
        if name == TRAEFIK:
            self._wait_traefik()
        else:
            self._wait_services([name])

    def stop_database(self) -> None:
        """Stop the local cluster, keeping its data (the services see an outage)."""
        if self.database is None:
            raise DevstackError("the stack uses an external database; it cannot stop it")
        self._database_stopped = True
        self.database.stop(cleanup=False)

    def start_database(self) -> None:
        if self.database is None:
            raise DevstackError("the stack uses an external database; it cannot start it")
        self.database.start()
        self._database_stopped = False

    # -- internals --------------------------------------------------------------------

    def _spec(self, name: str) -> ServiceSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise DevstackError(f"no service {name!r}; known: {', '.join(self._specs)}") from None

    def _check_ports(self) -> None:
        # Before anything starts: a half-started stack is harder to read than this.
        if not is_port_free(self.config.gateway_port):
            raise PortInUseError(
                self.config.gateway_port,
                "gateway",
                "set GATEWAY_PORT to another port or stop what listens there",
            )
        taken = [spec for spec in self.config.services if not is_port_free(spec.port)]
        if taken:
            listing = ", ".join(f"{spec.port} ({spec.name}; set {spec.port_env})" for spec in taken)
            raise PortInUseError(taken[0].port, taken[0].name, f"ports taken: {listing}")

    def _prepare_dirs(self) -> None:
        for directory in (self.config.logs_dir, self.config.run_dir, self.config.media_root):
            directory.mkdir(parents=True, exist_ok=True)

    def _common_env(self) -> dict[str, str]:
        env = dict(self.config.env)
        env.update(
            SECRET_KEY=self.config.secret_key,
            ALLOWED_ORIGINS=self.config.allowed_origins,
            MEDIA_ROOT=str(self.config.media_root),
            # Logs must reach the files as they happen, not when a buffer fills.
            PYTHONUNBUFFERED="1",
        )
        if self.database_url is not None:
            env["DATABASE_URL"] = self.database_url
        for spec in self.config.services:
            env[spec.url_env] = spec.url
            for name, value in spec.env_defaults:
                env.setdefault(name, value)
        return env

    def _service_process(self, spec: ServiceSpec, env: dict[str, str]) -> ManagedProcess:
        return ManagedProcess(
            spec.name,
            spec.argv,
            env=env | {"HOST": LOOPBACK, "PORT": str(spec.port)},
            cwd=self.config.root,
            log_path=self.log_path(spec.name),
        )

    def _wait_services(self, names: list[str]) -> None:
        pending = {name: self._specs[name].url + self._specs[name].health_path for name in names}
        deadline = time.monotonic() + self.config.health_timeout
        with _client() as client:
            while pending:
                for name, url in list(pending.items()):
                    self._fail_if_exited(name)
                    if _answers_ok(client, url):
                        log.info("%s is healthy (%s)", name, self._specs[name].url)
                        del pending[name]
                if not pending:
                    return
                if time.monotonic() > deadline:
                    details = "; ".join(
                        f"{name}: {last_error(self._processes[name].log_tail())} "
                        f"(log: {self.log_path(name)})"
                        for name in pending
                    )
                    raise ServiceError(
                        f"not healthy after {self.config.health_timeout:.0f}s "
                        f"(ANIME_START_TIMEOUT): {details}"
                    )
                time.sleep(_POLL_INTERVAL)

    def _fail_if_exited(self, name: str) -> None:
        process = self._processes[name]
        if process.exited():
            raise ServiceError(
                f"{name} {process.describe_exit()} before it was healthy: "
                f"{last_error(process.log_tail())} (log: {process.log_path})"
            )

    def _start_traefik(self, env: dict[str, str]) -> None:
        self._traefik = write_static_config(
            self.config.traefik_static,
            self.config.run_dir / "traefik.yml",
            dynamic_dir=self.config.traefik_dynamic,
            gateway_port=self.config.gateway_port,
            logs_dir=self.config.logs_dir,
        )
        self._processes[TRAEFIK] = ManagedProcess(
            TRAEFIK,
            [str(find_traefik()), f"--configFile={self._traefik.path}"],
            env=TRAEFIK_GO_ENV | env,
            cwd=self.config.root,
            log_path=self.log_path(TRAEFIK),
        )
        self._processes[TRAEFIK].start()
        self._wait_traefik()

    def _wait_traefik(self) -> None:
        assert self._traefik is not None
        deadline = time.monotonic() + self.config.health_timeout
        # /ping says Traefik runs; /health through the gateway says the routes
        # from the file provider are loaded and reach a service.
        checks = [url for url in (self._traefik.ping_url, f"{self.gateway_url}/health") if url]
        with _client() as client:
            for url in checks:
                while not _answers_ok(client, url):
                    self._fail_if_exited(TRAEFIK)
                    if time.monotonic() > deadline:
                        raise ServiceError(
                            f"traefik: no 200 from {url} after {self.config.health_timeout:.0f}s: "
                            f"{last_error(self._processes[TRAEFIK].log_tail())} "
                            f"(log: {self.log_path(TRAEFIK)})"
                        )
                    time.sleep(_POLL_INTERVAL)
        log.info("traefik is ready (%s)", self.gateway_url)


def migrate_services(
    specs: Iterable[ServiceSpec], *, root: Path, env: dict[str, str], timeout: float
) -> None:
    """`alembic upgrade head` for each service that has migrations, with a line each.

    They run side by side (each schema has its own advisory lock): most of each
    is the interpreter importing SQLAlchemy, Alembic and the service's models."""
    started = time.monotonic()
    running: dict[str, subprocess.Popen[str]] = {}
    for spec in specs:
        ini = root / "services" / spec.name / "alembic.ini"
        if ini.is_file():
            running[spec.name] = subprocess.Popen(
                [spec.argv[0], "-m", "alembic", "-c", str(ini), "upgrade", "head"],
                env=env,
                cwd=root,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
    try:
        for name, process in running.items():
            _, errors = process.communicate(timeout=timeout)
            if process.returncode != 0:
                raise ServiceError(f"migrations of {name} failed: {last_error(errors)}")
            log.info("migrated %s (%.1fs)", name, time.monotonic() - started)
    finally:
        for process in running.values():
            if process.poll() is None:
                process.kill()
                process.wait()


def _client() -> httpx.Client:
    # trust_env=False: an HTTP(S)_PROXY in the environment must not see loopback checks.
    return httpx.Client(timeout=2.0, trust_env=False)


def _answers_ok(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(url).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for_ok(url: str, seconds: float = 60.0) -> None:
    """Poll `url` until it answers 200 (for processes a `Stack` did not start itself)."""
    deadline = time.monotonic() + seconds
    with _client() as client:
        while not _answers_ok(client, url):
            if time.monotonic() > deadline:
                raise ServiceError(f"no 200 from {url} after {seconds:.0f}s")
            time.sleep(_POLL_INTERVAL)
