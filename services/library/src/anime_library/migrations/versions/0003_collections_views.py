"""Collections and views.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 11:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "collections",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_key", sa.String(length=400), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections")),
        sa.UniqueConstraint("user_id", "name_key", name=op.f("uq_collections_user_id_name_key")),
        schema="library",
    )
    op.create_index(
        op.f("ix_collections_user_id_created_at"),
        "collections",
        ["user_id", "created_at"],
        unique=False,
        schema="library",
    )
    op.create_table(
        "collection_items",
        sa.Column("collection_id", sa.Uuid(), nullable=False),
        sa.Column("anime_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["library.collections.id"],
            name=op.f("fk_collection_items_collection_id_collections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("collection_id", "anime_id", name=op.f("pk_collection_items")),
        schema="library",
    )
    op.create_index(
        op.f("ix_collection_items_collection_id_seq"),
        "collection_items",
        ["collection_id", "seq"],
        unique=False,
        schema="library",
    )
    op.create_table(
        "view_marks",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("anime_id", sa.Uuid(), nullable=False),
        sa.Column("episode", sa.Integer(), nullable=False),
        sa.Column("counted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "anime_id", "episode", name=op.f("pk_view_marks")),
        schema="library",
    )
    op.create_table(
        "recent_views",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("anime_id", sa.Uuid(), nullable=False),
        sa.Column("episode", sa.Integer(), nullable=True),
        sa.Column("viewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "anime_id", name=op.f("pk_recent_views")),
        schema="library",
    )
    op.create_index(
        op.f("ix_recent_views_user_id_viewed_at"),
        "recent_views",
        ["user_id", "viewed_at"],
        unique=False,
        schema="library",
    )
    op.create_table(
        "anime_view_days",
        sa.Column("anime_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("views", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("anime_id", "day", name=op.f("pk_anime_view_days")),
        schema="library",
    )
    op.create_table(
        "anime_view_totals",
        sa.Column("anime_id", sa.Uuid(), nullable=False),
        sa.Column("views", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("anime_id", name=op.f("pk_anime_view_totals")),
        schema="library",
    )


def downgrade() -> None:
    op.drop_table("anime_view_totals", schema="library")
    op.drop_table("anime_view_days", schema="library")
    op.drop_index(
        op.f("ix_recent_views_user_id_viewed_at"), table_name="recent_views", schema="library"
    )
    op.drop_table("recent_views", schema="library")
    op.drop_table("view_marks", schema="library")
    op.drop_index(
        op.f("ix_collection_items_collection_id_seq"),
        table_name="collection_items",
        schema="library",
    )
    op.drop_table("collection_items", schema="library")
    op.drop_index(
        op.f("ix_collections_user_id_created_at"), table_name="collections", schema="library"
    )
    op.drop_table("collections", schema="library")
