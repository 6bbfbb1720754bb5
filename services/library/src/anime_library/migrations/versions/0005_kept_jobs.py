"""Kept jobs by key, and room on each page for a job's next versions.

A job whose first payload stands (`kept`: favorites) is looked up by key when
a submit may be answered by one that succeeded since the submitter's read;
only those pay for that index, not the watch-progress and view jobs. Every job
is written three times (queued, running, finished) and none of those updates
can be HOT (`status` is in the indexes' predicates): with half of each page
free the next versions land on the same page instead of new ones (bench/library).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 14:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column(
        "jobs",
        sa.Column("kept", sa.Boolean(), server_default=sa.false(), nullable=False),
        schema="library",
    )
    op.execute("UPDATE library.jobs SET kept = true WHERE kind LIKE 'favorite-%'")
    op.create_index(
        "ix_jobs_kept_key",
        "jobs",
        ["key", "created_at"],
        schema="library",
        postgresql_where=sa.text("kept"),
    )
    op.drop_index("ix_jobs_favorite_add_key", table_name="jobs", schema="library")
    op.execute("ALTER TABLE library.jobs SET (fillfactor = 50)")


def downgrade() -> None:
    op.execute("ALTER TABLE library.jobs RESET (fillfactor)")
    op.create_index(
        "ix_jobs_favorite_add_key",
        "jobs",
        ["key", "created_at"],
        schema="library",
        postgresql_where=sa.text("kind = 'favorite-add'"),
    )
    op.drop_index("ix_jobs_kept_key", table_name="jobs", schema="library")
    op.drop_column("jobs", "kept", schema="library")
