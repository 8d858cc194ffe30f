"""sign-in security: session and token epochs per account, failed sign-ins per user name

Revision ID: 0009_sign_in_security
Revises: 0008_incidents
"""
from alembic import op
import sqlalchemy as sa

revision = "0009_sign_in_security"
down_revision = "0008_incidents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("session_epoch", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("token_epoch", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "sign_in_throttle",
        sa.Column("name_digest", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name_digest", name=op.f("pk_sign_in_throttle")),
    )


def downgrade() -> None:
    op.drop_table("sign_in_throttle")
    with op.batch_alter_table("user_account") as batch:
        batch.drop_column("token_epoch")
        batch.drop_column("session_epoch")
