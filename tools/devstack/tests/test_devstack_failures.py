"""`scripts/run`'s failures in one readable line: ports, an unreachable database, signals."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from anime_devstack.cli import launcher_help, upstream_notice
from anime_devstack.config import LAUNCHER_VARIABLES, StackConfig, find_repo_root
from anime_devstack.dbwait import external_dsn, wait_for_database
from anime_devstack.errors import DevstackError
from anime_devstack.readable import last_error

ROOT = find_repo_root()


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _run(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "anime_devstack", "run", *args],
        env=os.environ | env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _unreachable(seconds: int) -> dict[str, str]:
    return {
        "DATABASE_URL": f"postgresql://anime:x@127.0.0.1:{_dead_port()}/anime",
        "SECRET_KEY": "k" * 48,
        "DB_STARTUP_TIMEOUT": str(seconds),
        "GATEWAY_PORT": str(_dead_port()),
    }


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"GATEWAY_PORT": "0"}, "GATEWAY_PORT"),
        ({"GATEWAY_PORT": "70000"}, "GATEWAY_PORT"),
        ({"ANIME_MEDIA_PORT": "-1"}, "ANIME_MEDIA_PORT"),
        (
            {"ANIME_FAKE_HIANIME": "1", "ANIME_HIANIME_FAKE_PORT": "65536"},
            "ANIME_HIANIME_FAKE_PORT",
        ),
    ],
)
def test_a_port_out_of_range_is_refused_with_its_variable(
    tmp_path: Path, env: dict[str, str], name: str
) -> None:
    with pytest.raises(DevstackError, match=rf"^{name} must be a port between 1 and 65535"):
        StackConfig.from_env(ROOT, {"SECRET_KEY": "k" * 48, "DB_HOST": "db", **env})


def test_gateway_port_argument_zero_is_refused() -> None:
    with pytest.raises(DevstackError, match="--gateway-port must be a port"):
        StackConfig.from_env(ROOT, {"SECRET_KEY": "k" * 48, "DB_HOST": "db"}, gateway_port=0)


def test_unreachable_database_waits_with_progress_then_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dsn = f"postgresql://anime:x@127.0.0.1:{_dead_port()}/anime"
    with (
        caplog.at_level(logging.INFO, logger="anime_devstack"),
        pytest.raises(DevstackError) as failed,
    ):
        wait_for_database(dsn, within=1.6, every=0.5)
    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith("the database at 127.0.0.1:")
    assert "cannot be reached after 2s" in message
    assert "DATABASE_URL / DB_HOST" in message
    assert "waiting for the database at 127.0.0.1:" in caplog.text


def test_the_services_database_url_is_assembled_like_their_settings() -> None:
    assert external_dsn({"DATABASE_URL": "postgresql+asyncpg://a:b@h:1/d"}) == (
        "postgresql://a:b@h:1/d"
    )
    assert external_dsn({"DB_HOST": "db", "DB_PASSWORD": "p@ss"}) == (
        "postgresql://anime:p%40ss@db:5432/anime"
    )


def test_run_with_an_unreachable_database_ends_with_one_readable_line() -> None:
    process = _run(_unreachable(2))
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "Traceback" not in err
    assert not [line for line in err.splitlines() if line.startswith("{")], err
    assert "cannot be reached after 2s" in err.strip().splitlines()[-2]
    assert "ready:" not in out


def test_a_second_ctrl_c_while_stopping_prints_no_traceback() -> None:
    process = _run(_unreachable(60))
    time.sleep(3)  # waiting for the database by now
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert "Traceback" not in err, err
    assert "stopping..." in err
    assert process.returncode == 0


def test_upstream_notice_says_how_to_turn_the_hianime_routes_on() -> None:
    notice = upstream_notice({})
    assert notice is not None
    assert "\n" not in notice
    assert "HIANIME_API_URL" in notice
    assert "ANIME_FAKE_HIANIME=1" in notice
    assert upstream_notice({"HIANIME_API_URL": "http://aniwatch:4000"}) is None
    assert upstream_notice({"ANIME_FAKE_HIANIME": "1"}) is None


def test_every_launcher_variable_is_in_help_and_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    text = launcher_help()
    for name, _, _ in LAUNCHER_VARIABLES:
        assert name in text
        for part in name.split(" / "):
            assert f"`{part}`" in readme, f"README does not list {part}"


def test_a_log_is_summed_up_in_its_last_error() -> None:
    log = "\n".join(
        [
            '{"level": "INFO", "message": "waiting for the database (OSError)"}',
            '{"level": "CRITICAL", "message": "auth cannot start: database not reachable"}',
            '{"level": "ERROR", "message": "Application startup failed. Exiting."}',
        ]
    )
    assert last_error(log) == "auth cannot start: database not reachable"
    assert last_error("Traceback ...\n  File x\nValueError: bad\n") == "ValueError: bad"
    assert last_error('{"level":"fatal","msg":"port taken"}') == "port taken"
    traefik = '{"level":"error","error":"field not found: ep","message":"Command error"}'
    assert last_error(traefik) == "Command error: field not found: ep"
    assert last_error("") == "(the log is empty)"
