"""notifications: officials' contact details and the outbox

Revision ID: 0003_notifications
Revises: 0002_escalation
"""
from alembic import op
import sqlalchemy as sa

revision = "0003_notifications"
down_revision = "0002_escalation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("official") as batch:
        batch.add_column(sa.Column("email", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("mobile", sa.String(length=20), nullable=True))
    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.Enum("inapp", "email", "webhook", name="channel", native_enum=False, length=16),
                  nullable=False),
        sa.Column("status", sa.Enum("pending", "sending", "sent", "failed", name="notificationstatus",
                                    native_enum=False, length=16), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("official_id", sa.Integer(), nullable=True),
        sa.Column("address", sa.String(length=200), nullable=True),
        sa.Column("problem_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], name=op.f("fk_notification_user_id_user_account")),
        sa.ForeignKeyConstraint(["official_id"], ["official.id"], name=op.f("fk_notification_official_id_official")),
        sa.ForeignKeyConstraint(["problem_id"], ["problem.id"], name=op.f("fk_notification_problem_id_problem")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
    )
    with op.batch_alter_table("notification") as batch:
        batch.create_index("ix_notification_due", ["status", "next_attempt_at"])
        batch.create_index("ix_notification_inbox", ["user_id", "channel", "read_at"])
        batch.create_index(batch.f("ix_notification_kind"), ["kind"])
        batch.create_index(batch.f("ix_notification_official_id"), ["official_id"])
        batch.create_index(batch.f("ix_notification_problem_id"), ["problem_id"])


def downgrade() -> None:
    op.drop_table("notification")
    with op.batch_alter_table("official") as batch:
        batch.drop_column("mobile")
        batch.drop_column("email")
