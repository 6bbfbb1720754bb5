"""Alembic environment of the auth schema (shared logic in anime_common.run_env)."""

from anime_auth.models import Base
from anime_common import run_env

run_env(Base.metadata)
