"""scheduler lease: who runs the scheduler, until when (by the database's clock), and the
fencing number every taking raises; one row, named 'scheduler', nobody holding it

Revision ID: 0024_scheduler_lease
Revises: 0023_ladder_rungs
"""
from alembic import op
import sqlalchemy as sa

revision = "0024_scheduler_lease"
down_revision = "0023_ladder_rungs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    lease = op.create_table(
        "scheduler_lease",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=True),
        sa.Column("fencing", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("taken_at", sa.Float(), nullable=True),
    )
    op.bulk_insert(lease, [{"name": "scheduler", "holder": None, "fencing": 0, "expires_at": 0.0, "taken_at": None}])


def downgrade() -> None:
    op.drop_table("scheduler_lease")
