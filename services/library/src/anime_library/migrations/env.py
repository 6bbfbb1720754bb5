"""Alembic environment of the library schema (shared logic in anime_common.run_env)."""

from anime_common import run_env
from anime_library.models import Base

run_env(Base.metadata)
