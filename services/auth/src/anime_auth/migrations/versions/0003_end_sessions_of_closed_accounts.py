"""A deactivated or deleted account's sessions end with it, however it is closed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

`UPDATE auth.users SET is_active = false` or `DELETE FROM auth.users`, from a
route, the CLI or a psql session, revokes every live session of the user in
the same transaction: /internal/revocations then publishes them and every
service refuses the user's access tokens within one poll, like a logout.
A deleted user's sessions stay (user_id NULL) until their tokens expired, so
the revocation is still published; the purge removes them afterwards.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_FUNCTION = """
CREATE FUNCTION auth.end_sessions_of_closed_account() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE auth.sessions
       SET revoked_at = clock_timestamp(),
           revoked_reason = CASE TG_OP WHEN 'DELETE' THEN 'account_deleted'
                                       ELSE 'account_deactivated' END
     WHERE user_id = OLD.id AND revoked_at IS NULL;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$
"""


def upgrade() -> None:
    op.alter_column("sessions", "user_id", nullable=True, schema="auth")
    op.drop_constraint("fk_sessions_user_id_users", "sessions", schema="auth", type_="foreignkey")
    op.create_foreign_key(
        op.f("fk_sessions_user_id_users"),
        "sessions",
        "users",
        ["user_id"],
        ["id"],
        source_schema="auth",
        referent_schema="auth",
        ondelete="SET NULL",
    )
    op.execute(_FUNCTION)
    op.execute(
        "CREATE TRIGGER end_sessions_on_deactivation AFTER UPDATE OF is_active ON auth.users "
        "FOR EACH ROW WHEN (OLD.is_active AND NOT NEW.is_active) "
        "EXECUTE FUNCTION auth.end_sessions_of_closed_account()"
    )
    op.execute(
        "CREATE TRIGGER end_sessions_on_deletion BEFORE DELETE ON auth.users "
        "FOR EACH ROW EXECUTE FUNCTION auth.end_sessions_of_closed_account()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER end_sessions_on_deletion ON auth.users")
    op.execute("DROP TRIGGER end_sessions_on_deactivation ON auth.users")
    op.execute("DROP FUNCTION auth.end_sessions_of_closed_account()")
    op.execute("DELETE FROM auth.sessions WHERE user_id IS NULL")
    op.drop_constraint("fk_sessions_user_id_users", "sessions", schema="auth", type_="foreignkey")
    op.create_foreign_key(
        op.f("fk_sessions_user_id_users"),
        "sessions",
        "users",
        ["user_id"],
        ["id"],
        source_schema="auth",
        referent_schema="auth",
        ondelete="CASCADE",
    )
    op.alter_column("sessions", "user_id", nullable=False, schema="auth")
