"""``python -m anime_devstack run``: the stack in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from anime_devstack.config import StackConfig
from anime_devstack.errors import DevstackError
from anime_devstack.stack import Stack

log = logging.getLogger("anime_devstack")


class _StopRequested(Exception):
    """SIGTERM/SIGHUP, handled like Ctrl-C."""


def _request_stop(signum: int, frame: FrameType | None) -> None:
    raise _StopRequested(signal.Signals(signum).name)


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _announce(stack: Stack) -> None:
    config = stack.config
    print(f"logs: {_shown(config.logs_dir, config.root)}/<name>.log", flush=True)
    if stack.database is not None:
        where = _shown(stack.database.base_dir, config.root)
        print(
            f"database: postgresql://{stack.database.user}:***@127.0.0.1:{stack.database.port}"
            f"/{config.database_name} (cluster in {where}, password in {where}/password)",
            flush=True,
        )
    for spec in config.services:
        print(f"  {spec.name:<8} {spec.url}", flush=True)
    print(f"ready: {stack.gateway_url}", flush=True)


_HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _serve(stack: Stack) -> int:
    """Start, announce, then watch until interrupted; the exit code."""
    try:
        log.info(
            "starting; logs go to %s/<name>.log", _shown(stack.config.logs_dir, stack.config.root)
        )
        stack.start()
        _announce(stack)
        while True:
            time.sleep(1)
            problems = stack.problems()
            if problems:
                log.error("the stack is broken:\n%s", "\n\n".join(problems))
                return 1
    except (KeyboardInterrupt, _StopRequested):
        print("\nstopping...", file=sys.stderr, flush=True)
        return 0
    except DevstackError as exc:
        log.error("%s", exc)
        return 1


def run(gateway_port: int | None) -> int:
    stack = Stack(StackConfig.from_env(gateway_port=gateway_port))
    previous = {sig: signal.getsignal(sig) for sig in _HANDLED}
    signal.signal(signal.SIGTERM, _request_stop)
    if previous[signal.SIGHUP] is not signal.SIG_IGN:  # under nohup, keep running
        signal.signal(signal.SIGHUP, _request_stop)
    try:
        return _serve(stack)
    finally:
        # A second Ctrl-C must not cut the orderly shutdown short.
        for sig in _HANDLED:
            signal.signal(sig, signal.SIG_IGN)
        try:
            stack.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        log.info("stopped")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m anime_devstack")
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser(
        "run",
        help="run PostgreSQL, the services and Traefik until Ctrl-C",
        description=(
            "Environment: GATEWAY_PORT (8080), DATABASE_URL or DB_HOST (use that database "
            "instead of a local cluster), SECRET_KEY, ALLOWED_ORIGINS, MEDIA_ROOT, "
            "ANIME_PG_BINARIES (auto|system|embedded), ANIME_PG_DATA, ANIME_<SERVICE>_PORT."
        ),
    )
    run_parser.add_argument("--gateway-port", type=int, help="overrides GATEWAY_PORT")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="devstack: %(message)s", stream=sys.stderr)
    # One line per health poll would bury the useful lines.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        return run(args.gateway_port)
    except DevstackError as exc:
        log.error("%s", exc)
        return 1
