"""Tables of the library schema."""

from __future__ import annotations

import datetime
import uuid

from sqlalchemy import CheckConstraint, DateTime, Double, Index, Integer, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from anime_common import schema_metadata


class Base(DeclarativeBase):
    metadata = schema_metadata("library")


class Favorite(Base):
    """An anime a user keeps; `anime_id` is a catalog id, checked before the row is written."""

    __tablename__ = "favorites"
    __table_args__ = (
        UniqueConstraint("user_id", "anime_id"),
        # GET /favorites: a user's rows, newest first (scanned backwards).
        Index(None, "user_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID]
    anime_id: Mapped[uuid.UUID]
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))


class WatchProgress(Base):
    """Where a user is in one episode: one row per user, anime and episode."""

    __tablename__ = "watch_progress"
    __table_args__ = (
        # The job re-checks what the route validated: a bad payload fails, never lands.
        CheckConstraint("episode >= 1", name="episode_positive"),
        CheckConstraint("position_seconds >= 0", name="position_not_negative"),
        CheckConstraint("progress_percent BETWEEN 0 AND 100", name="percent_in_range"),
        CheckConstraint(
            "position_seconds IS NOT NULL OR progress_percent IS NOT NULL", name="has_progress"
        ),
        # GET /watch/continue: a user's most recent rows first.
        Index(None, "user_id", "last_watched_at"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    anime_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    episode: Mapped[int] = mapped_column(Integer, primary_key=True)
    position_seconds: Mapped[float | None] = mapped_column(Double)
    progress_percent: Mapped[float | None] = mapped_column(Double)
    completed: Mapped[bool]
    last_watched_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))
