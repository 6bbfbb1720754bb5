"""`scripts/admin <command>`: one-off commands against the local stack's database, with
the settings `scripts/run` uses (no DATABASE_URL or SECRET_KEY to assemble by hand).

The database is DATABASE_URL / DB_HOST when set; else the local cluster in
`.local/`: the running one of `scripts/run` when it is up, else started for the
length of the command.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shlex
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import quote

from anime_devstack.config import DATABASE_NAME, StackConfig, default_services
from anime_devstack.errors import DevstackError
from anime_devstack.postgres import SUPERUSER, LocalPostgres, postmaster_pid
from anime_devstack.proc import is_alive
from anime_devstack.stack import migrate_services

log = logging.getLogger("anime_devstack")


def _running_cluster_url(pg_dir: Path) -> str | None:
    """The URL of the cluster `scripts/run` keeps in `pg_dir`, when it is running."""
    pgdata = pg_dir / "pgdata"
    pid = postmaster_pid(pgdata)
    if pid is None or not is_alive(pid):
        return None
    try:
        # postmaster.pid: pid, data directory, start time, port, ...
        port = int((pgdata / "postmaster.pid").read_text().splitlines()[3])
        password = (pg_dir / "password").read_text().strip()
    except (OSError, ValueError, IndexError):
        return None
    return (
        f"postgresql+asyncpg://{SUPERUSER}:{quote(password, safe='')}"
        f"@127.0.0.1:{port}/{DATABASE_NAME}"
    )


@contextlib.contextmanager
def local_settings(config: StackConfig) -> Iterator[dict[str, str]]:
    """The environment the services get from `scripts/run`, database included."""
    env = dict(config.env)
    env["SECRET_KEY"] = config.secret_key
    env["MEDIA_ROOT"] = str(config.media_root)
    if config.database == "external" or config.pg_dir is None:
        yield env
        return
    url = _running_cluster_url(config.pg_dir)
    if url is not None:
        yield env | {"DATABASE_URL": url}
        return
    log.info("the local cluster is not running: starting it for this command")
    database = LocalPostgres(config.pg_dir, log_file=config.logs_dir / "postgres.log")
    database.start()
    try:
        database.create_database(config.database_name)
        yield env | {"DATABASE_URL": database.url(config.database_name)}
    finally:
        database.stop(cleanup=False)


def _module(name: str, *args: str, env: dict[str, str], root: Path) -> int:
    return subprocess.run(
        [sys.executable, "-m", name, *args], env=env, cwd=root, check=False
    ).returncode


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/admin",
        description=(
            "Commands against the local stack's database, with the settings scripts/run "
            "uses (DATABASE_URL or DB_HOST when set, else the cluster in .local/)."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "create-user",
        help="create an account, e.g. --role admin --email a@example.com (python -m anime_auth)",
        add_help=False,
    )
    commands.add_parser("migrate", help="alembic upgrade head for every service")
    commands.add_parser("seed-demo", help="load the demo catalog into an empty catalog")
    commands.add_parser(
        "env",
        help='print DATABASE_URL and SECRET_KEY as shell exports: eval "$(scripts/admin env)"',
    )
    return parser


def main(argv: Sequence[str]) -> int:
    args, rest = _parser().parse_known_args(argv)
    config = StackConfig.from_env()
    try:
        with local_settings(config) as env:
            if args.command == "create-user":
                return _module("anime_auth", "create-user", *rest, env=env, root=config.root)
            if args.command == "alembic":
                return _module("alembic", *rest, env=env, root=config.root)
            if rest:
                raise DevstackError(f"{args.command} takes no arguments: {' '.join(rest)}")
            if args.command == "migrate":
                migrate_services(
                    default_services(), root=config.root, env=env, timeout=config.health_timeout
                )
                return 0
            if args.command == "seed-demo":
                return _module("anime_catalog", "seed-demo", env=env, root=config.root)
            for name in ("DATABASE_URL", "SECRET_KEY"):
                if env.get(name):
                    sys.stdout.write(f"export {name}={shlex.quote(env[name])}\n")
            return 0
    except DevstackError as exc:
        log.error("%s", exc)
        return 1
    except KeyboardInterrupt:
        return 130


def run_admin(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="admin: %(message)s", stream=sys.stderr)
    return main(list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(run_admin())
