"""pending plans: a plan submitted by the chain waits on the problem (pending_plan,
pending_plan_state) until the review approves it

Revision ID: 0019_pending_plans
Revises: 0018_ladder_entry
"""
from alembic import op
import sqlalchemy as sa

revision = "0019_pending_plans"
down_revision = "0018_ladder_entry"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("problem") as batch:
        batch.add_column(sa.Column("pending_plan", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("pending_plan_state", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("problem") as batch:
        batch.drop_column("pending_plan_state")
        batch.drop_column("pending_plan")
