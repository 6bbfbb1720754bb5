"""Favorites and watch progress.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 09:18:36.324509
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "favorites",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("anime_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_favorites")),
        sa.UniqueConstraint("user_id", "anime_id", name=op.f("uq_favorites_user_id_anime_id")),
        schema="library",
    )
    op.create_index(
        op.f("ix_favorites_user_id_created_at"),
        "favorites",
        ["user_id", "created_at"],
        unique=False,
        schema="library",
    )
    op.create_table(
        "watch_progress",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("anime_id", sa.Uuid(), nullable=False),
        sa.Column("episode", sa.Integer(), nullable=False),
        sa.Column("position_seconds", sa.Double(), nullable=True),
        sa.Column("progress_percent", sa.Double(), nullable=True),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("last_watched_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("episode >= 1", name=op.f("ck_watch_progress_episode_positive")),
        sa.CheckConstraint(
            "position_seconds >= 0", name=op.f("ck_watch_progress_position_not_negative")
        ),
        sa.CheckConstraint(
            "position_seconds IS NOT NULL OR progress_percent IS NOT NULL",
            name=op.f("ck_watch_progress_has_progress"),
        ),
        sa.CheckConstraint(
            "progress_percent BETWEEN 0 AND 100", name=op.f("ck_watch_progress_percent_in_range")
        ),
        sa.PrimaryKeyConstraint("user_id", "anime_id", "episode", name=op.f("pk_watch_progress")),
        schema="library",
    )
    op.create_index(
        op.f("ix_watch_progress_user_id_last_watched_at"),
        "watch_progress",
        ["user_id", "last_watched_at"],
        unique=False,
        schema="library",
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_watch_progress_user_id_last_watched_at"),
        table_name="watch_progress",
        schema="library",
    )
    op.drop_table("watch_progress", schema="library")
    op.drop_index(op.f("ix_favorites_user_id_created_at"), table_name="favorites", schema="library")
    op.drop_table("favorites", schema="library")
