"""second factor: TOTP secrets, one-time recovery codes, and the security settings (which roles
need the second factor)

Revision ID: 0029_second_factor
Revises: 0028_chain_setting
"""
from alembic import op
import sqlalchemy as sa

revision = "0029_second_factor"
down_revision = "0028_chain_setting"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "second_factor",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("secret", sa.String(128), nullable=False),  # sealed (engine/sealed.py)
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_step", sa.Integer(), nullable=True),
    )
    op.create_table(
        "recovery_code",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_recovery_code_user_id", "recovery_code", ["user_id"])
    op.create_table(
        "security_setting",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("value", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("security_setting")
    op.drop_index("ix_recovery_code_user_id", table_name="recovery_code")
    op.drop_table("recovery_code")
    op.drop_table("second_factor")
