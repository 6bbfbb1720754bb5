"""A local PostgreSQL cluster driven with initdb and pg_ctl.

Two modes:
- throwaway (no ``data_dir``): a fresh cluster in a temporary directory,
  tuned for speed (fsync off), removed on ``stop()``;
- persistent (``data_dir`` given): created once, kept across runs, with its
  password (and last port) stored next to the cluster.

Layout of the base directory: ``pgdata/`` (the cluster), ``run/`` (unix
socket), ``password``, ``port``, ``lock``, ``postgres.log``.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import logging
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

from anime_devstack.errors import PostgresError
from anime_devstack.pgbin import PgBinaries, resolve_binaries
from anime_devstack.ports import LOOPBACK, ensure_port_free, free_port, is_port_free
from anime_devstack.proc import is_alive, tail
from anime_devstack.runas import RunAs, first_blocked, postgres_runas, subprocess_kwargs

log = logging.getLogger(__name__)

SUPERUSER = "anime"
_CONF_NAME = "anime_devstack.conf"
_INCLUDE_LINE = f"include_if_exists = '{_CONF_NAME}'"
# sun_path holds 108 bytes and PostgreSQL appends "/.s.PGSQL.<port>.lock".
_SOCKET_DIR_MAX = 85


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _quote_ident(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _clean_env() -> dict[str, str]:
    # Stray PG* variables (PGDATA, PGPORT, PGHOST...) would redirect our tools.
    return {key: val for key, val in os.environ.items() if not key.startswith("PG")}


def _cluster_major(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "PG_VERSION").read_text().strip().split(".")[0])
    except (OSError, ValueError):
        return None


def postmaster_pid(pgdata: Path) -> int | None:
    try:
        first = (pgdata / "postmaster.pid").read_text().splitlines()[0]
        return int(first.strip())
    except (OSError, ValueError, IndexError):
        return None


def _is_postgres(pid: int) -> bool:
    if not is_alive(pid):
        return False
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        # No procfs: trust the pid (pg_ctl itself does the same).
        return True
    return comm.startswith("postgres") or comm.startswith("postmaster")


def _tmp_root(runas: RunAs | None) -> Path:
    candidate = Path(tempfile.gettempdir())
    if candidate.is_dir() and first_blocked(candidate, runas) is None:
        return candidate
    return Path("/tmp")


class LocalPostgres:
    """A PostgreSQL cluster on 127.0.0.1 with a superuser ``anime``.

    As root the server runs as ``nobody``; the URLs always use password
    authentication (scram-sha-256) over TCP.
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        port: int | None = None,
        binaries: str | None = None,
        log_file: Path | None = None,
        start_timeout: float = 60.0,
        stop_timeout: float = 30.0,
    ) -> None:
        self._persistent = data_dir is not None
        self._base: Path | None = data_dir.absolute() if data_dir is not None else None
        self._port = port
        self._mode = binaries
        self._log_file = log_file.absolute() if log_file is not None else None
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._runas = postgres_runas()
        self._bins: PgBinaries | None = None
        self._password: str | None = None
        self._socket_dir: Path | None = None
        self._lock_fd: int | None = None
        self._started = False

    # -- properties -------------------------------------------------------

    @property
    def persistent(self) -> bool:
        return self._persistent

    @property
    def base_dir(self) -> Path:
        if self._base is None:
            raise PostgresError("the cluster has no directory yet (call start())")
        return self._base

    @property
    def pgdata(self) -> Path:
        return self.base_dir / "pgdata"

    @property
    def log_file(self) -> Path:
        return self._log_file or self.base_dir / "postgres.log"

    @property
    def binaries(self) -> PgBinaries:
        if self._bins is None:
            raise PostgresError("binaries are chosen on start()")
        return self._bins

    @property
    def port(self) -> int:
        if self._port is None:
            raise PostgresError("the port is chosen on start()")
        return self._port

    @property
    def password(self) -> str:
        if self._password is None:
            raise PostgresError("the password is known after start()")
        return self._password

    @property
    def user(self) -> str:
        return SUPERUSER

    @property
    def is_running(self) -> bool:
        if self._base is None:
            return False
        pid = postmaster_pid(self.pgdata)
        return pid is not None and _is_postgres(pid)

    def url(self, database: str = "postgres", *, driver: str | None = "asyncpg") -> str:
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return (
            f"{scheme}://{SUPERUSER}:{quote(self.password, safe='')}"
            f"@{LOOPBACK}:{self.port}/{quote(database, safe='')}"
        )

    # -- lifecycle --------------------------------------------------------

    def start(self) -> None:
        """Create (if needed) and start the cluster; returns once it accepts connections."""
        if self._started and self.is_running:
            return
        try:
            self._prepare()
            self._launch()
        except BaseException:
            self._abort_start()
            raise
        self._started = True
        atexit.register(self._at_exit)
        log.info(
            "PostgreSQL %s (%s binaries in %s) listening on %s:%d",
            self.binaries.version,
            self.binaries.source,
            self.binaries.bindir,
            LOOPBACK,
            self.port,
        )

    def stop(self, *, cleanup: bool = True) -> None:
        """Stop the server (fast mode). A throwaway cluster is deleted unless ``cleanup=False``."""
        atexit.unregister(self._at_exit)
        self._started = False
        try:
            if self._bins is not None and self.is_running:
                self._shutdown()
        finally:
            self._release(cleanup=cleanup)

    def _abort_start(self) -> None:
        try:
            # pg_ctl may give up while the server still comes up on its own.
            if self._bins is not None and self.is_running:
                self._shutdown()
        finally:
            self._release(cleanup=True)

    def __enter__(self) -> LocalPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _at_exit(self) -> None:
        try:
            self.stop()
        except Exception:
            log.exception("could not stop PostgreSQL at exit")

    # -- SQL helpers --------------------------------------------------------

    def execute(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` with psql as the superuser; returns the unaligned output."""
        psql = self.binaries.bindir / "psql"
        command = [
            str(psql) if psql.is_file() else (shutil.which("psql") or "psql"),
            "-X",
            "-q",
            "-tA",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            LOOPBACK,
            "-p",
            str(self.port),
            "-U",
            SUPERUSER,
            "-d",
            database,
            "-c",
            sql,
        ]
        env = _clean_env() | {"PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "10"}
        try:
            result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PostgresError(f"psql failed: {exc}") from exc
        if result.returncode != 0:
            raise PostgresError(f"psql failed: {result.stderr.strip()}")
        return result.stdout

    def create_database(self, name: str) -> None:
        """Create database ``name`` owned by the superuser; no-op when it exists."""
        query = f"SELECT 1 FROM pg_database WHERE datname = {_quote_literal(name)}"  # noqa: S608
        if self.execute(query).strip():
            return
        try:
            self.execute(f"CREATE DATABASE {_quote_ident(name)}")
        except PostgresError as exc:
            # A concurrent creator won the race; the database is there either way.
            if "already exists" not in str(exc):
                raise

    def drop_database(self, name: str) -> None:
        self.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")

    # -- internals ----------------------------------------------------------

    def _prepare(self) -> None:
        base = self._ensure_base()
        self._take_lock(base)
        pgdata = base / "pgdata"
        existing = _cluster_major(pgdata)
        self._bins = resolve_binaries(self._mode, runas=self._runas, prefer_major=existing)
        if existing is not None and existing != self._bins.major:
            raise PostgresError(
                f"the cluster in {pgdata} was made by PostgreSQL {existing} but the chosen "
                f"binaries are {self._bins.version} ({self._bins.bindir}); set ANIME_PG_BINARIES "
                f"to the matching install or delete {base} to start over"
            )
        self._password = self._load_password(existing is not None)
        self._socket_dir = self._make_socket_dir(base)
        if existing is None:
            log.info("initializing a new PostgreSQL cluster in %s (first run only)", pgdata)
            self._initdb(pgdata)
        else:
            self._clear_leftover_server(pgdata)
        self._choose_port()
        self._write_conf(pgdata)

    def _ensure_base(self) -> Path:
        if self._base is None:
            self._base = Path(tempfile.mkdtemp(prefix="anime-pg-", dir=_tmp_root(self._runas)))
        else:
            self._base.mkdir(parents=True, exist_ok=True)
        base = self._base
        if base.stat().st_uid == os.geteuid():
            # Others may pass through (to reach pgdata/run as nobody) but not list.
            base.chmod(0o711 if self._runas is not None else 0o700)
        blocked = first_blocked(base, self._runas)
        if blocked is not None and self._runas is not None:
            raise PostgresError(
                f"PostgreSQL cannot run as root, so it runs as {self._runas.name}, who cannot "
                f"reach {base}: {blocked} is not searchable by others. Put the cluster "
                f"elsewhere (e.g. under /tmp or /var/tmp) or run `chmod o+x {blocked}`"
            )
        return base

    def _take_lock(self, base: Path) -> None:
        if not self._persistent or self._lock_fd is not None:
            return
        lock_path = base / "lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise PostgresError(
                f"{base} is in use by another devstack process (pid {holder}); stop that one first"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def _load_password(self, cluster_exists: bool) -> str:
        if not self._persistent:
            return self._password or secrets.token_urlsafe(24)
        path = self.base_dir / "password"
        if path.is_file():
            return path.read_text().strip()
        if cluster_exists:
            raise PostgresError(
                f"{self.pgdata} exists but its password file {path} is missing; "
                f"delete {self.base_dir} to start over"
            )
        password = secrets.token_urlsafe(24)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")
        return password

    def _make_socket_dir(self, base: Path) -> Path:
        socket_dir = base / "run"
        if len(str(socket_dir)) > _SOCKET_DIR_MAX:
            # A deep checkout would overflow the unix socket path limit.
            socket_dir = Path(tempfile.mkdtemp(prefix="anime-pg-run-", dir="/tmp"))
        socket_dir.mkdir(mode=0o700, exist_ok=True)
        if self._runas is not None:
            self._runas.chown(socket_dir)
        return socket_dir

    def _run_as_pg(
        self, args: list[str], *, timeout: float, **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        result: subprocess.CompletedProcess[str] = subprocess.run(
            args,
            text=True,
            cwd=self.base_dir,
            env=_clean_env(),
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
            **subprocess_kwargs(self._runas),
            **kwargs,
        )
        return result

    def _initdb(self, pgdata: Path) -> None:
        assert self._socket_dir is not None
        pgdata.mkdir(mode=0o700, exist_ok=True)
        if self._runas is not None:
            self._runas.chown(pgdata)
        pwfile = self._socket_dir / "initdb-password"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.password + "\n")
        if self._runas is not None:
            self._runas.chown(pwfile)
        command = [
            self.binaries.tool("initdb"),
            "-D",
            str(pgdata),
            "-U",
            SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
        ]
        if not self._persistent:
            command.append("--no-sync")
        try:
            result = self._run_as_pg(command, timeout=300, capture_output=True)
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            raise PostgresError(f"initdb failed for {pgdata}:\n{output}")
        with (pgdata / "postgresql.conf").open("a") as conf:
            conf.write(f"\n# settings of the devstack (port, sockets): see {_CONF_NAME}\n")
            conf.write(_INCLUDE_LINE + "\n")

    def _clear_leftover_server(self, pgdata: Path) -> None:
        """Deal with a ``postmaster.pid`` left by an earlier run that did not stop cleanly."""
        pid = postmaster_pid(pgdata)
        if pid is None:
            return
        if not _is_postgres(pid):
            # The server died without cleaning up; the pid may belong to anybody now.
            (pgdata / "postmaster.pid").unlink(missing_ok=True)
            return
        # We hold the lock, so no live devstack owns this server: it is an orphan
        # of a crashed run. Restart it so it picks up this run's port and settings.
        log.warning("stopping PostgreSQL left running by an earlier run (pid %d)", pid)
        self._shutdown()

    def _choose_port(self) -> None:
        port_file = self.base_dir / "port"
        if self._port is None and self._persistent and port_file.is_file():
            # A stable port is friendlier for developers' database tools.
            try:
                remembered = int(port_file.read_text().strip())
            except ValueError:
                remembered = 0
            if remembered and is_port_free(remembered):
                self._port = remembered
        if self._port is None:
            self._port = free_port()
        ensure_port_free(self._port, "PostgreSQL", "choose another port or stop what uses it")
        if self._persistent:
            port_file.write_text(f"{self._port}\n")

    def _write_conf(self, pgdata: Path) -> None:
        assert self._socket_dir is not None
        lines = [
            "# Written by anime_devstack on every start.",
            f"listen_addresses = '{LOOPBACK}'",
            f"port = {self.port}",
            f"unix_socket_directories = {_quote_literal(str(self._socket_dir))}",
            "max_connections = 200",
        ]
        if not self._persistent:
            # Throwaway data: durability only costs time.
            lines += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        conf = pgdata / _CONF_NAME
        conf.write_text("\n".join(lines) + "\n")
        conf.chmod(0o600)
        if self._runas is not None:
            self._runas.chown(conf)
        main_conf = pgdata / "postgresql.conf"
        if _INCLUDE_LINE not in main_conf.read_text():
            with main_conf.open("a") as handle:
                handle.write(_INCLUDE_LINE + "\n")

    def _launch(self) -> None:
        log_file = self.log_file
        log_file.parent.mkdir(parents=True, exist_ok=True)
        command = [
            self.binaries.tool("pg_ctl"),
            "start",
            "-D",
            str(self.pgdata),
            "-w",
            "-t",
            str(int(self._start_timeout)),
            "-s",
        ]
        # The server inherits this file as stdout/stderr, so it never needs to
        # reach the log's directory itself (which may be private to root).
        with log_file.open("ab") as handle:
            try:
                result = self._run_as_pg(
                    command,
                    timeout=self._start_timeout + 30,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    # Its own session: a Ctrl-C in the terminal must not reach the
                    # server before the services using it are stopped.
                    start_new_session=True,
                )
            except subprocess.TimeoutExpired as exc:
                raise PostgresError(f"pg_ctl start hung; see {log_file}") from exc
        if result.returncode != 0:
            raise PostgresError(
                f"PostgreSQL did not start (pg_ctl exit {result.returncode}); "
                f"last lines of {log_file}:\n{tail(log_file)}"
            )

    def _shutdown(self) -> None:
        pid = postmaster_pid(self.pgdata)
        for mode in ("fast", "immediate"):
            command = [
                self.binaries.tool("pg_ctl"),
                "stop",
                "-D",
                str(self.pgdata),
                "-m",
                mode,
                "-w",
                "-t",
                str(int(self._stop_timeout)),
                "-s",
            ]
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._run_as_pg(command, timeout=self._stop_timeout + 15, capture_output=True)
            if pid is None or not _is_postgres(pid):
                return
        assert pid is not None
        log.warning("PostgreSQL (pid %d) ignored pg_ctl stop; killing it", pid)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while _is_postgres(pid) and time.monotonic() < deadline:
            time.sleep(0.1)

    def _release(self, *, cleanup: bool) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        socket_dir = self._socket_dir
        if socket_dir is not None and self._base is not None and socket_dir.parent != self._base:
            shutil.rmtree(socket_dir, ignore_errors=True)
            self._socket_dir = None
        if cleanup and not self._persistent and self._base is not None:
            shutil.rmtree(self._base, ignore_errors=True)
            self._base = None
            self._socket_dir = None
