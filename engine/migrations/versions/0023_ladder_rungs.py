"""ladder rungs: each problem's future rungs of the escalation ladder (ladder_rung: key, problem,
moment, level), stored with its next due moment from the same survey, so that the forecast
counts and pages a window's rungs through an index; open problems are to be worked out again
(ladder_due_at long ago), which stores their rungs

Revision ID: 0023_ladder_rungs
Revises: 0022_list_indexes
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa

revision = "0023_ladder_rungs"
down_revision = "0022_list_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ladder_rung",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("problem_id", sa.Integer(), sa.ForeignKey("problem.id"), nullable=False),
        sa.Column("moment", sa.DateTime(timezone=True), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
    )
    op.create_index("ix_ladder_rung_problem_id", "ladder_rung", ["problem_id"])
    op.create_index("ix_ladder_rung_order", "ladder_rung", ["moment", "problem_id", "level", "key"])
    op.create_index("ix_ladder_rung_first", "ladder_rung", ["moment", "level", "problem_id", "key"])
    long_ago = datetime(1970, 1, 1, tzinfo=timezone.utc)
    if op.get_bind().dialect.name == "sqlite":
        long_ago = long_ago.replace(tzinfo=None)
    problem = sa.table("problem", sa.column("status", sa.String(20)),
                       sa.column("ladder_due_at", sa.DateTime(timezone=True)))
    op.execute(sa.update(problem).where(problem.c.status != "closed").values(ladder_due_at=long_ago))


def downgrade() -> None:
    op.drop_index("ix_ladder_rung_first", table_name="ladder_rung")
    op.drop_index("ix_ladder_rung_order", table_name="ladder_rung")
    op.drop_index("ix_ladder_rung_problem_id", table_name="ladder_rung")
    op.drop_table("ladder_rung")
