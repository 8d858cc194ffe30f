"""accounts from the office's identity platform (统一身份认证): an official's employee number
(工号), and an account's origin (local, ldap, oidc) with its id there

Revision ID: 0030_external_accounts
Revises: 0029_second_factor
"""
from alembic import op
import sqlalchemy as sa

revision = "0030_external_accounts"
down_revision = "0029_second_factor"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("official") as batch:
        batch.add_column(sa.Column("employee_number", sa.String(40), nullable=True))
        batch.create_unique_constraint("uq_official_employee_number", ["employee_number"])
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("origin", sa.String(10), nullable=False, server_default="local"))
        batch.add_column(sa.Column("external_id", sa.String(255), nullable=True))
        batch.add_column(sa.Column("directory_refused_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_unique_constraint("uq_user_account_origin", ["origin", "external_id"])


def downgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.drop_constraint("uq_user_account_origin", type_="unique")
        batch.drop_column("directory_refused_at")
        batch.drop_column("external_id")
        batch.drop_column("origin")
    with op.batch_alter_table("official") as batch:
        batch.drop_constraint("uq_official_employee_number", type_="unique")
        batch.drop_column("employee_number")
