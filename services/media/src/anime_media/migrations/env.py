"""Alembic environment of the media schema (shared logic in anime_common.run_env)."""

from anime_common import run_env
from anime_media.models import Base

run_env(Base.metadata)
