"""Start-up migrations: wait for the database, one migrator per service at a time, to head."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, MetaData, make_url, pool, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from anime_common._database import Database, create_engine, is_database_unavailable
from anime_common._settings import CommonSettings, DatabaseSettings, load_settings

logger = logging.getLogger("anime_common.migrations")

AlembicAction = Callable[[Config], None]


class StartupError(RuntimeError):
    """The service cannot start: the database is unreachable or a migration failed."""


@dataclass(frozen=True, slots=True)
class Migrations:
    """Where a service's Alembic scripts live and which schema they own."""

    script_location: str  # "package:folder", e.g. "anime_auth:migrations"
    schema: str

    def config(self) -> Config:
        config = Config()
        config.set_main_option("script_location", self.script_location)
        config.attributes["schema"] = self.schema
        return config

    @property
    def lock_name(self) -> str:
        return f"anime-migrations:{self.schema}"


def _describe_target(engine: AsyncEngine) -> str:
    url = engine.url
    return f"{url.host}:{url.port or 5432}/{url.database}"


async def wait_for_database(engine: AsyncEngine, *, within: float) -> None:
    """Retry until the database answers, for at most `timeout` seconds."""
    deadline = time.monotonic() + within
    delay = 0.25
    while True:
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            return
        except Exception as exc:
            if not is_database_unavailable(exc):
                raise StartupError(
                    f"database at {_describe_target(engine)} refused us: {exc}"
                ) from exc
            if time.monotonic() + delay > deadline:
                raise StartupError(
                    f"database at {_describe_target(engine)} not reachable after {within:.0f}s "
                    f"({type(exc).__name__})"
                ) from exc
            logger.info("waiting for the database (%s)", type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


def _with_connection(connection: Connection, config: Config, action: AlembicAction) -> None:
    config.attributes["connection"] = connection
    action(config)


async def run_alembic(engine: AsyncEngine, migrations: Migrations, action: AlembicAction) -> None:
    """Run an Alembic command under the service's advisory lock, so parallel runs never collide."""
    async with engine.connect() as connection:
        lock = {"name": migrations.lock_name}
        await connection.execute(text("SELECT pg_advisory_lock(hashtext(:name))"), lock)
        await connection.commit()
        try:
            await connection.run_sync(_with_connection, migrations.config(), action)
            await connection.commit()
        finally:
            await connection.execute(text("SELECT pg_advisory_unlock(hashtext(:name))"), lock)
            await connection.commit()


async def migrate(engine: AsyncEngine, migrations: Migrations) -> None:
    """Bring the service's schema to head, or fail start-up with a clear message."""
    try:
        await run_alembic(engine, migrations, lambda config: command.upgrade(config, "head"))
    except Exception as exc:
        raise StartupError(f"migrations of schema {migrations.schema!r} failed: {exc}") from exc


def run_env(target_metadata: MetaData) -> None:
    """The body of every service's Alembic `env.py`."""
    config = context.config
    schema: str = config.attributes.get("schema") or target_metadata.schema or ""
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        _run(connection, target_metadata, schema)
        return
    # Called from the alembic CLI: the URL comes from the same settings the service reads.
    asyncio.run(_run_from_settings(target_metadata, schema))


async def _run_from_settings(target_metadata: MetaData, schema: str) -> None:
    url = make_url(load_settings(DatabaseSettings).database_url)
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run, target_metadata, schema)
            await connection.commit()
    finally:
        await engine.dispose()


def _run(connection: Connection, target_metadata: MetaData, schema: str) -> None:
    def include_name(name: str | None, type_: str, parent_names: object) -> bool:
        # Each service compares only its own schema; other services' tables are not ours.
        return name == schema if type_ == "schema" else True

    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema=schema,
        include_schemas=True,
        include_name=include_name,
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        # The version table lives in the schema, so the schema must exist before it.
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        context.run_migrations()


async def open_database(
    settings: CommonSettings, *, name: str, migrations: Migrations, migrate_now: bool | None = None
) -> Database:
    """A service's `Database` once PostgreSQL answers, migrated when `migrate_now` (by default
    `MIGRATE_ON_STARTUP`); for the lifespan and for CLIs alike. `StartupError` when it cannot."""
    database = Database(create_engine(settings, application_name=name), name=name)
    try:
        await wait_for_database(database.engine, within=settings.DB_STARTUP_TIMEOUT)
        if settings.MIGRATE_ON_STARTUP if migrate_now is None else migrate_now:
            await migrate(database.engine, migrations)
    except StartupError as exc:
        logger.critical("%s cannot start: %s", name, exc)
        await database.dispose()
        raise
    return database
