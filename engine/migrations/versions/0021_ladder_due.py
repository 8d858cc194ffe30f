"""ladder due moments: each problem carries the moment its next rung of the escalation ladder
falls due (ladder_due_at, indexed), so that the sweep, the forecast and the scheduler's plan read
the problems whose rungs fall due in a window instead of working out every open problem; open
problems start as "to be worked out" (long ago)

Revision ID: 0021_ladder_due
Revises: 0020_accountability_appeals
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa

revision = "0021_ladder_due"
down_revision = "0020_accountability_appeals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    long_ago = datetime(1970, 1, 1, tzinfo=timezone.utc)
    if op.get_bind().dialect.name == "sqlite":
        long_ago = long_ago.replace(tzinfo=None)
    with op.batch_alter_table("problem") as batch:
        batch.add_column(sa.Column("ladder_due_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_problem_ladder_due_at", ["ladder_due_at"])
    problem = sa.table("problem", sa.column("status", sa.String(20)),
                       sa.column("ladder_due_at", sa.DateTime(timezone=True)))
    op.execute(sa.update(problem).where(problem.c.status != "closed").values(ladder_due_at=long_ago))


def downgrade() -> None:
    with op.batch_alter_table("problem") as batch:
        batch.drop_index("ix_problem_ladder_due_at")
        batch.drop_column("ladder_due_at")
