"""Jobs by key and age, of every kind: a kept submit looks for one that just succeeded.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 14:10:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_jobs_key_created_at", "jobs", ["key", "created_at"], schema="library")
    op.drop_index("ix_jobs_favorite_add_key", table_name="jobs", schema="library")


def downgrade() -> None:
    op.create_index(
        "ix_jobs_favorite_add_key",
        "jobs",
        ["key", "created_at"],
        schema="library",
        postgresql_where="kind = 'favorite-add'",
    )
    op.drop_index("ix_jobs_key_created_at", table_name="jobs", schema="library")
