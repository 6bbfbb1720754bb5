"""Durable jobs: the runner's queue in library.jobs, shared by every replica.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 07:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

OPEN = sa.text("status IN ('queued', 'running')")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("owner", sa.Uuid(), nullable=True),
        sa.Column("lane", sa.Text(), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("follow_up", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="queued", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "run_after", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("lease_owner", sa.Text(), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed')",
            name=op.f("ck_jobs_status_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        schema="library",
    )
    op.create_index(
        "uq_jobs_open_key", "jobs", ["key"], unique=True, schema="library", postgresql_where=OPEN
    )
    op.create_index(
        "ix_jobs_favorite_add_key",
        "jobs",
        ["key", "created_at"],
        schema="library",
        postgresql_where=sa.text("kind = 'favorite-add'"),
    )
    op.create_index(
        "ix_jobs_queued_run_after",
        "jobs",
        ["run_after"],
        schema="library",
        postgresql_where=sa.text("status = 'queued'"),
    )
    op.create_index(
        "ix_jobs_running_lease",
        "jobs",
        ["lease_expires_at"],
        schema="library",
        postgresql_where=sa.text("status = 'running'"),
    )
    op.create_index(
        "ix_jobs_open_lane",
        "jobs",
        ["lane"],
        schema="library",
        postgresql_where=sa.text("lane IS NOT NULL AND status IN ('queued', 'running')"),
    )
    op.create_index(
        "ix_jobs_finished_at",
        "jobs",
        ["finished_at"],
        schema="library",
        postgresql_where=sa.text("status IN ('succeeded', 'failed')"),
    )
    # Workers LISTEN on library_jobs: one notification per submitting statement
    # (not per row), delivered when it commits.
    op.execute(
        """
        CREATE FUNCTION library.notify_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('library_jobs', '');
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER jobs_submitted AFTER INSERT ON library.jobs"
        " FOR EACH STATEMENT EXECUTE FUNCTION library.notify_jobs()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER jobs_submitted ON library.jobs")
    op.execute("DROP FUNCTION library.notify_jobs()")
    for name in (
        "ix_jobs_finished_at",
        "ix_jobs_open_lane",
        "ix_jobs_running_lease",
        "ix_jobs_queued_run_after",
        "ix_jobs_favorite_add_key",
        "uq_jobs_open_key",
    ):
        op.drop_index(name, table_name="jobs", schema="library")
    op.drop_table("jobs", schema="library")
