"""`python -m anime_catalog [seed-demo | generate --titles N]`; no command runs the service."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence

from sqlalchemy import pool, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from anime_catalog import demo, repository, service
from anime_catalog.app import MIGRATIONS
from anime_common import Database, DatabaseSettings, SettingsError, load_settings, migrate


def _engine() -> AsyncEngine:
    try:
        settings = load_settings(DatabaseSettings)
    except SettingsError as exc:
        sys.stderr.write(f"catalog: {exc}\n")
        raise SystemExit(2) from None
    return create_async_engine(settings.database_url, poolclass=pool.NullPool)


async def seed_demo(engine: AsyncEngine) -> int:
    """Load the demo set into an empty catalog; how many anime were added (0: not empty)."""
    await migrate(engine, MIGRATIONS)
    database = Database(engine)
    async with database.transaction() as session:
        # Two seeders started together must not both see an empty catalog.
        await repository.lock_keys(session=session, keys=["seed-demo"])
        if await repository.anime_count(session=session) > 0:
            return 0
        items = demo.demo_anime()
        for item in items:
            await service.upsert_anime(session=session, data=item)
    return len(items)


async def generate(engine: AsyncEngine, *, titles: int, seed: int) -> int:
    """Append `titles` synthetic anime (after any earlier synthetic ones) and refresh statistics."""
    await migrate(engine, MIGRATIONS)
    async with engine.connect() as connection:
        offset = await repository.synthetic_count(connection=connection)
        for batch in demo.synthetic_batches(titles=titles, seed=seed + offset, offset=offset):
            await repository.copy_synthetic(connection=connection, batch=batch)
            await connection.commit()
    # Fresh statistics and visibility maps: index-only scans for deep pages from the start.
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        for table in (
            "anime",
            "anime_title",
            "title_word",
            "title_word_variant",
            "title_word_posting",
            "release",
            "episode",
        ):
            await autocommit.execute(text(f"VACUUM ANALYZE catalog.{table}"))
    return titles


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m anime_catalog")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the service (the default)")
    commands.add_parser("seed-demo", help="load the demo anime into an empty catalog")
    generator = commands.add_parser("generate", help="add a synthetic catalog for benchmarks")
    generator.add_argument("--titles", type=int, default=50_000)
    generator.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    if args.command in (None, "serve"):
        from anime_catalog.app import create_app
        from anime_catalog.settings import CatalogSettings
        from anime_common import run_service

        run_service(create_app, CatalogSettings)
        return
    started = time.monotonic()
    engine = _engine()
    if args.command == "seed-demo":
        added = asyncio.run(seed_demo(engine))
        message = f"demo: added {added} anime" if added else "demo: catalog not empty, left as is"
    else:
        added = asyncio.run(generate(engine, titles=args.titles, seed=args.seed))
        message = f"generate: added {added} synthetic anime"
    print(f"{message} ({time.monotonic() - started:.1f}s)")  # noqa: T201 - a CLI's output
