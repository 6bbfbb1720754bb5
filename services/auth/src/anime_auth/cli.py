"""`python -m anime_auth create-user ...`: accounts made from a shell, e.g. the first admin."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Sequence

from anime_auth import service
from anime_auth.app import MIGRATIONS
from anime_auth.passwords import PasswordHasher
from anime_auth.schemas import CreateUserRequest
from anime_auth.settings import AuthSettings
from anime_common import (
    AppError,
    SettingsError,
    StartupError,
    load_settings,
    open_database,
    validate,
)

PASSWORD_ENV = "ANIME_AUTH_PASSWORD"  # noqa: S105 - a variable name


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m anime_auth")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-user", help="create an account (e.g. the first admin)")
    create.add_argument("--email", required=True)
    create.add_argument("--username", default=None, help="derived from the email when absent")
    create.add_argument("--role", default="user", help="a role of the database (user, admin)")
    create.add_argument(
        "--password",
        default=None,
        help=f"else ${PASSWORD_ENV}, else asked for (arguments show up in `ps`)",
    )
    return parser


async def create_user(*, settings: AuthSettings, data: CreateUserRequest) -> str:
    """Migrate if needed, then create the account; the new user's id."""
    database = await open_database(
        settings, name="auth-cli", migrations=MIGRATIONS, migrate_now=True
    )
    try:
        password_hash = await PasswordHasher(settings).hash(data.password)
        async with database.transaction() as session:
            user = await service.create_user_as_admin(
                session=session, data=data, password_hash=password_hash
            )
        return str(user.id)
    finally:
        await database.dispose()


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    password = args.password or os.environ.get(PASSWORD_ENV) or getpass.getpass("Password: ")
    try:
        settings = load_settings(AuthSettings)
        data = validate(
            CreateUserRequest,
            {
                "email": args.email,
                "username": args.username,
                "password": password,
                "role": args.role,
            },
        )
        user_id = asyncio.run(create_user(settings=settings, data=data))
    except (SettingsError, StartupError) as exc:
        sys.stderr.write(f"create-user: {exc}\n")
        return 2
    except AppError as exc:
        details = f" {exc.details}" if exc.details else ""
        sys.stderr.write(f"create-user: {exc.message}{details}\n")
        return 1
    sys.stdout.write(f"created {args.role} {data.email} ({user_id})\n")
    return 0
