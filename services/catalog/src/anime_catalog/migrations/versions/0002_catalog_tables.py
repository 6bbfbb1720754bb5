"""Anime, releases, episodes and the title search index.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Trigram operators for the search index; trusted since PostgreSQL 13, so the
    # database owner may create it without being a superuser.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "anime",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("title_original", sa.Text(), nullable=True),
        sa.Column("title_en", sa.Text(), nullable=True),
        sa.Column("title_native", sa.Text(), nullable=True),
        sa.Column(
            "synonyms", sa.ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"), nullable=False
        ),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("year", sa.SmallInteger(), nullable=True),
        sa.Column("season", sa.Text(), nullable=True),
        sa.Column(
            "genres", sa.ARRAY(sa.Text()), server_default=sa.text("'{}'::text[]"), nullable=False
        ),
        sa.Column("episodes_total", sa.Integer(), nullable=True),
        sa.Column("poster", sa.Text(), nullable=True),
        sa.Column("score", sa.Numeric(precision=4, scale=2), nullable=True),
        sa.Column("anilist_id", sa.Integer(), nullable=True),
        sa.Column("mal_id", sa.Integer(), nullable=True),
        sa.Column("hianime_id", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anime")),
        sa.UniqueConstraint("anilist_id", name=op.f("uq_anime_anilist_id")),
        sa.UniqueConstraint("hianime_id", name=op.f("uq_anime_hianime_id")),
        sa.UniqueConstraint("mal_id", name=op.f("uq_anime_mal_id")),
        sa.UniqueConstraint("slug", name=op.f("uq_anime_slug")),
        schema="catalog",
    )
    op.create_index(
        "ix_anime_created_at_id", "anime", ["created_at", "id"], unique=False, schema="catalog"
    )
    op.create_index(
        "ix_anime_genres",
        "anime",
        ["genres"],
        unique=False,
        schema="catalog",
        postgresql_using="gin",
    )
    op.create_index("ix_anime_kind", "anime", ["kind"], unique=False, schema="catalog")
    op.create_index(
        "ix_anime_score_id",
        "anime",
        [sa.literal_column("coalesce(score, -1)"), "id"],
        unique=False,
        schema="catalog",
    )
    op.create_index("ix_anime_status", "anime", ["status"], unique=False, schema="catalog")
    op.create_index("ix_anime_title_id", "anime", ["title", "id"], unique=False, schema="catalog")
    op.create_index(
        "ix_anime_year_id",
        "anime",
        [sa.literal_column("coalesce(year, 0)"), "id"],
        unique=False,
        schema="catalog",
    )
    op.create_table(
        "anime_title",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("anime_id", sa.UUID(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["anime_id"],
            ["catalog.anime.id"],
            name=op.f("fk_anime_title_anime_id_anime"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anime_title")),
        schema="catalog",
    )
    op.create_index(
        "ix_anime_title_anime_id", "anime_title", ["anime_id"], unique=False, schema="catalog"
    )
    op.create_index(
        "ix_anime_title_key_prefix",
        "anime_title",
        ["key"],
        unique=False,
        schema="catalog",
        postgresql_ops={"key": "text_pattern_ops"},
    )
    op.create_index(
        "ix_anime_title_key_trgm",
        "anime_title",
        ["key"],
        unique=False,
        schema="catalog",
        postgresql_using="gin",
        postgresql_ops={"key": "gin_trgm_ops"},
    )
    op.create_table(
        "release",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("anime_id", sa.UUID(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=True),
        sa.Column("season_number", sa.SmallInteger(), nullable=True),
        sa.Column("year", sa.SmallInteger(), nullable=True),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("episodes_total", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["anime_id"],
            ["catalog.anime.id"],
            name=op.f("fk_release_anime_id_anime"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_release")),
        sa.UniqueConstraint("anime_id", "title", name="uq_release_anime_id_title"),
        schema="catalog",
    )
    op.create_index(
        "ix_release_anime_id_order",
        "release",
        ["anime_id", "season_number", "created_at", "id"],
        unique=False,
        schema="catalog",
    )
    op.create_index(
        "ix_release_created_at_id", "release", ["created_at", "id"], unique=False, schema="catalog"
    )
    op.create_table(
        "episode",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("release_id", sa.UUID(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("air_date", sa.Date(), nullable=True),
        sa.Column("hianime_episode_id", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["catalog.release.id"],
            name=op.f("fk_episode_release_id_release"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_episode")),
        sa.UniqueConstraint("hianime_episode_id", name=op.f("uq_episode_hianime_episode_id")),
        sa.UniqueConstraint("release_id", "number", name="uq_episode_release_id_number"),
        schema="catalog",
    )


def downgrade() -> None:
    # pg_trgm stays: other schemas of the cluster's database may use it.
    op.drop_table("episode", schema="catalog")
    op.drop_index("ix_release_created_at_id", table_name="release", schema="catalog")
    op.drop_index("ix_release_anime_id_order", table_name="release", schema="catalog")
    op.drop_table("release", schema="catalog")
    op.drop_index(
        "ix_anime_title_key_trgm",
        table_name="anime_title",
        schema="catalog",
        postgresql_using="gin",
        postgresql_ops={"key": "gin_trgm_ops"},
    )
    op.drop_index(
        "ix_anime_title_key_prefix",
        table_name="anime_title",
        schema="catalog",
        postgresql_ops={"key": "text_pattern_ops"},
    )
    op.drop_index("ix_anime_title_anime_id", table_name="anime_title", schema="catalog")
    op.drop_table("anime_title", schema="catalog")
    op.drop_index("ix_anime_year_id", table_name="anime", schema="catalog")
    op.drop_index("ix_anime_title_id", table_name="anime", schema="catalog")
    op.drop_index("ix_anime_status", table_name="anime", schema="catalog")
    op.drop_index("ix_anime_score_id", table_name="anime", schema="catalog")
    op.drop_index("ix_anime_kind", table_name="anime", schema="catalog")
    op.drop_index("ix_anime_genres", table_name="anime", schema="catalog", postgresql_using="gin")
    op.drop_index("ix_anime_created_at_id", table_name="anime", schema="catalog")
    op.drop_table("anime", schema="catalog")
