"""Models and migrations never drift: head matches the models, and the newest step reverses."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from anime_common import Migrations, run_alembic

pytestmark = pytest.mark.anyio

SERVICES_WITH_TABLES = ("auth", "catalog", "library", "media")


def migrations_of(service: str) -> Migrations:
    migrations: Migrations = importlib.import_module(f"anime_{service}.app").MIGRATIONS
    return migrations


def head_of(migrations: Migrations) -> str:
    head = ScriptDirectory.from_config(migrations.config()).get_current_head()
    assert head is not None
    return head


async def current_version(database_url: str, schema: str) -> str | None:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            result = await connection.execute(
                text(f'SELECT version_num FROM "{schema}".alembic_version')  # noqa: S608
            )
            return result.scalar()
    finally:
        await engine.dispose()


@pytest.mark.parametrize("service", SERVICES_WITH_TABLES)
async def test_head_matches_models_and_newest_revision_round_trips(
    service: str, empty_database_url: str
) -> None:
    migrations = migrations_of(service)
    head = head_of(migrations)
    engine = create_async_engine(empty_database_url)
    steps: list[tuple[str, Callable[[Config], None]]] = [
        ("upgrade", lambda config: command.upgrade(config, "head")),
        ("check", command.check),
        ("downgrade", lambda config: command.downgrade(config, "-1")),
        ("upgrade again", lambda config: command.upgrade(config, "head")),
        ("check again", command.check),
    ]
    try:
        for name, action in steps:
            await run_alembic(engine, migrations, action)
            if name == "downgrade":
                previous = ScriptDirectory.from_config(migrations.config()).get_revision(head)
                assert await current_version(empty_database_url, migrations.schema) == (
                    previous.down_revision if previous else None
                )
    finally:
        await engine.dispose()
    assert await current_version(empty_database_url, migrations.schema) == head


@pytest.mark.parametrize("service", SERVICES_WITH_TABLES)
def test_service_owns_exactly_its_schema(service: str) -> None:
    models = importlib.import_module(f"anime_{service}.models")
    assert models.Base.metadata.schema == service
    assert migrations_of(service).schema == service
    assert all(table.schema == service for table in models.Base.metadata.tables.values())
