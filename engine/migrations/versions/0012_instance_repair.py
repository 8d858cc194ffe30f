"""instance repair: how an incident was resolved (retried, moved, migrated, cancelled) and
the reason given; an instance may end as "cancelled" (a value of the existing status column)

Revision ID: 0012_instance_repair
Revises: 0011_definition_versions
"""
from alembic import op
import sqlalchemy as sa

revision = "0012_instance_repair"
down_revision = "0011_definition_versions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incident") as batch:
        batch.add_column(sa.Column("resolution", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("note", sa.String(length=2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incident") as batch:
        batch.drop_column("note")
        batch.drop_column("resolution")
