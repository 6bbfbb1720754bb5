"""An admin database URL for tests, from the best source available.

1. ``DATABASE_URL`` when set (CI with a service container, a developer's own server);
2. a ``postgres:16`` container via testcontainers when a Docker engine answers;
3. a throwaway local cluster (system PostgreSQL binaries or the embedded wheel).

The URL uses the asyncpg driver and a superuser; tests create their own
databases inside it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from anime_devstack.dockercheck import docker_available
from anime_devstack.postgres import LocalPostgres

log = logging.getLogger(__name__)

POSTGRES_IMAGE = "postgres:16"


def asyncpg_url(url: str) -> str:
    """``url`` with the SQLAlchemy asyncpg driver (postgres://, postgresql:// or +psycopg)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    if scheme in ("postgres", "postgresql") or scheme.startswith("postgresql+"):
        return f"postgresql+asyncpg://{rest}"
    return url


@contextmanager
def _container_url() -> Iterator[str]:
    try:
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:
        # testcontainers < 4.14 kept the module at the top level.
        from testcontainers.postgres import PostgresContainer
    with PostgresContainer(POSTGRES_IMAGE, driver="asyncpg") as container:
        yield asyncpg_url(container.get_connection_url())


def _testcontainers_installed() -> bool:
    try:
        import testcontainers  # noqa: F401
    except ImportError:
        return False
    return True


@contextmanager
def admin_database_url() -> Iterator[str]:
    """Yield a superuser URL (``postgresql+asyncpg://``) valid for the ``with`` block."""
    from_env = os.environ.get("DATABASE_URL")
    if from_env:
        yield asyncpg_url(from_env)
        return
    if docker_available() and _testcontainers_installed():
        log.info("test database: %s container (testcontainers)", POSTGRES_IMAGE)
        with _container_url() as url:
            yield url
        return
    with LocalPostgres() as cluster:
        log.info("test database: throwaway local cluster (%s)", cluster.binaries.bindir)
        yield cluster.url("postgres")
