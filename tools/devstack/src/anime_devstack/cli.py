"""``python -m anime_devstack run``: the stack in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType

from anime_devstack.config import LAUNCHER_VARIABLES, StackConfig, wants_fake_hianime
from anime_devstack.errors import DevstackError
from anime_devstack.stack import Stack
from anime_devstack.supervise import Supervisor

log = logging.getLogger("anime_devstack")


class _StopRequested(Exception):
    """Ctrl-C, SIGTERM or SIGHUP: stop everything in order."""


_stopping = False
_acknowledged = False


def _request_stop(signum: int, frame: FrameType | None) -> None:
    # Only the first signal interrupts; more during the orderly shutdown are
    # acknowledged once, never raised into the middle of it (no traceback, no
    # half-stop). `uv run` forwards the terminal's Ctrl-C too, so one press may
    # arrive twice.
    global _stopping, _acknowledged
    if _stopping:
        if not _acknowledged:
            _acknowledged = True
            print("still stopping...", file=sys.stderr, flush=True)
        return
    _stopping = True
    raise _StopRequested(signal.Signals(signum).name)


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def upstream_notice(env: Mapping[str, str]) -> str | None:
    """The one line saying the HiAnime routes are off, when nothing points the proxy anywhere."""
    if env.get("HIANIME_API_URL", "").strip() or wants_fake_hianime(env):
        return None
    return (
        "HiAnime routes (/api/*) are off: HIANIME_API_URL is not set, so they answer 503. "
        "Point it at an aniwatch-api server, or set ANIME_FAKE_HIANIME=1 for the offline fake."
    )


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
    if stack.traefik_metrics_url:
        print(f"  metrics  {stack.traefik_metrics_url} (Traefik); <service>/internal/metrics")
    notice = upstream_notice(config.env)
    if notice:
        print(notice, flush=True)
    print(f"ready: {stack.gateway_url} (API docs: {stack.gateway_url}/docs)", flush=True)


_HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _stop_signals() -> None:
    """From here on a signal only says "still stopping": the shutdown is never cut short."""
    global _stopping
    _stopping = True
    for sig in _HANDLED:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, _request_stop)


def _serve(stack: Stack) -> int:
    """Start, announce, then watch until interrupted; the exit code."""
    try:
        log.info(
            "starting; logs go to %s/<name>.log", _shown(stack.config.logs_dir, stack.config.root)
        )
        stack.start()
        _announce(stack)
        supervisor = Supervisor(stack, limit=stack.config.restart_limit)
        while True:
            time.sleep(1)
            reason = supervisor.tick()
            if reason is not None:
                log.error("stopping the stack: %s", reason)
                return 1
    except (KeyboardInterrupt, _StopRequested):
        _stop_signals()
        print("\nstopping...", file=sys.stderr, flush=True)
        return 0
    except DevstackError as exc:
        log.error("%s", exc)
        return 1


def run(gateway_port: int | None) -> int:
    global _stopping, _acknowledged
    stack = Stack(StackConfig.from_env(gateway_port=gateway_port))
    previous = {sig: signal.getsignal(sig) for sig in _HANDLED}
    _stopping = _acknowledged = False
    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGTERM, _request_stop)
    if previous[signal.SIGHUP] is not signal.SIG_IGN:  # under nohup, keep running
        signal.signal(signal.SIGHUP, _request_stop)
    try:
        return _serve(stack)
    finally:
        _stop_signals()
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
            "Run PostgreSQL, the five services, the edge and Traefik until Ctrl-C. Every "
            "service setting (README, Settings) is passed on from the environment."
        ),
        epilog=launcher_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    except KeyboardInterrupt:
        # Ctrl-C after everything was stopped and the handlers put back.
        return 130


def launcher_help() -> str:
    width = max(len(name) for name, _, _ in LAUNCHER_VARIABLES)
    lines = [f"  {name:<{width}}  {meaning} (default: {default})"
             for name, default, meaning in LAUNCHER_VARIABLES]  # fmt: skip
    return "launcher variables:\n" + "\n".join(lines)
