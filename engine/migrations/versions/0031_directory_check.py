"""when the directory (LDAP) last vouched for an account: an API token of it asks the
directory again when this is older than ldap.toml's recheck_minutes

Revision ID: 0031_directory_check
Revises: 0030_external_accounts
"""
from alembic import op
import sqlalchemy as sa

revision = "0031_directory_check"
down_revision = "0030_external_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("directory_checked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.drop_column("directory_checked_at")
