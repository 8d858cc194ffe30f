"""page sessions kept on the server, password history, and each account's password age and
forced change (the session and password policy)

Existing page sessions end at the upgrade (their cookies carry no server-side session id);
existing accounts' passwords are counted as set at the upgrade.

Revision ID: 0032_user_session
Revises: 0031_directory_check
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa

revision = "0032_user_session"
down_revision = "0031_directory_check"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_session",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_digest", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(200), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_reason", sa.String(40), nullable=True),
        sa.UniqueConstraint("token_digest", name="uq_user_session_token_digest"),
    )
    op.create_index("ix_user_session_user_id_ended_at", "user_session", ["user_id", "ended_at"])
    op.create_table(
        "password_history",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_password_history_user_id", "password_history", ["user_id"])
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("must_change_password", sa.Boolean(), server_default=sa.false(), nullable=False))
    now = datetime.now(timezone.utc)
    if op.get_bind().dialect.name == "sqlite":
        now = now.replace(tzinfo=None)
    op.get_bind().execute(sa.text("UPDATE user_account SET password_changed_at = :now"), {"now": now})


def downgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.drop_column("must_change_password")
        batch.drop_column("password_changed_at")
    op.drop_index("ix_password_history_user_id", table_name="password_history")
    op.drop_table("password_history")
    op.drop_index("ix_user_session_user_id_ended_at", table_name="user_session")
    op.drop_table("user_session")
