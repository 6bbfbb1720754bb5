"""Tables of the library schema: favorites, watch progress, collections, views and jobs."""

from __future__ import annotations

import datetime
import uuid

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
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


class Collection(Base):
    """A user's named list of anime, private unless `is_public`."""

    __tablename__ = "collections"
    __table_args__ = (
        # Names are unique per user regardless of case and surrounding spaces:
        # `name_key` is the case-folded name, written with it.
        UniqueConstraint("user_id", "name_key"),
        # GET /collections: a user's collections, newest first.
        Index(None, "user_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID]
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(400))
    description: Mapped[str | None] = mapped_column(String(2000))
    is_public: Mapped[bool]
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))


class CollectionItem(Base):
    """An anime in a collection; `seq` keeps the order in which items were added."""

    __tablename__ = "collection_items"
    __table_args__ = (Index(None, "collection_id", "seq"),)

    collection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True
    )
    anime_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    added_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))


class ViewMark(Base):
    """When a user's view of an anime (episode 0: no episode given) was last counted.

    A view is counted when the last count is older than the dedupe window, so
    refreshes within the window do not inflate the counts.
    """

    __tablename__ = "view_marks"

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    anime_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    episode: Mapped[int] = mapped_column(Integer, primary_key=True)
    counted_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))


class RecentView(Base):
    """The latest view of each anime by a user, counted or not (GET /views)."""

    __tablename__ = "recent_views"
    __table_args__ = (Index(None, "user_id", "viewed_at"),)

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    anime_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    episode: Mapped[int | None] = mapped_column(Integer)
    viewed_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))


class AnimeViewDay(Base):
    """Counted views of an anime per UTC day: the last 7 days are at most 7 rows."""

    __tablename__ = "anime_view_days"

    anime_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    day: Mapped[datetime.date] = mapped_column(Date, primary_key=True)
    views: Mapped[int] = mapped_column(BigInteger)


class AnimeViewTotal(Base):
    """Counted views of an anime since the beginning: one row, never a count over views."""

    __tablename__ = "anime_view_totals"

    anime_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    views: Mapped[int] = mapped_column(BigInteger)


# A job is open while it is queued or running: one open job per key (jobs.py).
OPEN_JOB = text("status IN ('queued', 'running')")


class Job(Base):
    """A durable background job of the runner in `anime_library.jobs` (DESIGN.md)."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed')", name="status_known"
        ),
        # One open job per key across every replica; submits conflict on it.
        Index("uq_jobs_open_key", "key", unique=True, postgresql_where=OPEN_JOB),
        # The newest kept job of a key, open or finished: a favorite's add job, and
        # a kept submit's check for one that succeeded since the caller's read.
        # Only kept jobs: progress and views would pay for an index never used.
        Index("ix_jobs_kept_key", "key", "created_at", postgresql_where=text("kept")),
        # Claiming: the queued jobs that are due, oldest first.
        Index("ix_jobs_queued_run_after", "run_after", postgresql_where=text("status = 'queued'")),
        # Requeueing the jobs of workers that died.
        Index(
            "ix_jobs_running_lease", "lease_expires_at", postgresql_where=text("status = 'running'")
        ),
        # The lane check of a claim: an older open job of the same lane runs first.
        Index(
            "ix_jobs_open_lane",
            "lane",
            postgresql_where=text("lane IS NOT NULL AND status IN ('queued', 'running')"),
        ),
        # Pruning finished jobs past the retention period.
        Index(
            "ix_jobs_finished_at",
            "finished_at",
            postgresql_where=text("status IN ('succeeded', 'failed')"),
        ),
        # Room on each page for a job's next versions (migration 0005).
        {"postgresql_with": {"fillfactor": 50}},
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(40))
    # The user whose job it is (GET /jobs/{id} answers no one else); None for service jobs.
    owner: Mapped[uuid.UUID | None]
    # Jobs of one lane run one at a time, oldest first (a favorite's add and remove).
    lane: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, object] | None] = mapped_column(JSONB)
    # The newest payload sent while the job ran: it runs next, in the same job.
    follow_up: Mapped[dict[str, object] | None] = mapped_column(JSONB)
    # Its first payload stands (favorites), so a submit may be answered by one
    # that succeeded since the submitter's read (`JobRunner.submit(done_after=)`).
    kept: Mapped[bool] = mapped_column(server_default=false())
    status: Mapped[str] = mapped_column(String(16), server_default="queued")
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    run_after: Mapped[datetime.datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    lease_owner: Mapped[str | None] = mapped_column(Text)
    lease_expires_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime.datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    started_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True))
