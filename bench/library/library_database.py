"""A library database of its own for a bench script: created on a given PostgreSQL, migrated."""

from __future__ import annotations

import secrets
from typing import Any

import asyncpg

from anime_common import Database, asyncpg_dsn, create_engine, load_settings, migrate
from anime_library.app import MIGRATIONS
from anime_library.settings import LibrarySettings


async def fresh_library_database(
    server_url: str, *, prefix: str, **settings: Any
) -> LibrarySettings:
    """The library's settings for a new, migrated database on `server_url`'s server.

    `server_url` is the URL of any database there; `settings` override the
    library's defaults (batch sizes, pool sizes, ...). The database is left in
    place: the throwaway server it is made on goes with it.
    """
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    library = load_settings(
        LibrarySettings,
        DATABASE_URL=server_url.rsplit("/", 1)[0] + f"/{name}",
        # Nothing is signed; the key only satisfies the settings' checks.
        SECRET_KEY=secrets.token_urlsafe(48),
        **settings,
    )
    database = Database(create_engine(library, application_name=prefix))
    try:
        await migrate(database.engine, MIGRATIONS)
    finally:
        await database.dispose()
    return library
