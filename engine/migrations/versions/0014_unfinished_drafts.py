"""unfinished drafts: a diagram that cannot be deployed yet is kept as its process's draft,
with no spec and the findings that stop its publication

Revision ID: 0014_unfinished_drafts
Revises: 0013_process_purpose
"""
from alembic import op
import sqlalchemy as sa

revision = "0014_unfinished_drafts"
down_revision = "0013_process_purpose"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("process_definition") as batch:
        batch.alter_column("spec", existing_type=sa.JSON(), nullable=True)
        batch.add_column(sa.Column("findings", sa.JSON(), nullable=True))


def downgrade() -> None:
    definition = sa.table("process_definition", sa.column("findings", sa.JSON))
    op.execute(sa.delete(definition).where(definition.c.findings.isnot(None)))
    with op.batch_alter_table("process_definition") as batch:
        batch.drop_column("findings")
        batch.alter_column("spec", existing_type=sa.JSON(), nullable=False)
