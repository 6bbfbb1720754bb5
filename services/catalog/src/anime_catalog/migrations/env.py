"""Alembic environment of the catalog schema (shared logic in anime_common.run_env)."""

from anime_catalog.models import Base
from anime_common import run_env

run_env(Base.metadata)
