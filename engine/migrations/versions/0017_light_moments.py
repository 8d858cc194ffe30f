"""light moments: problems and tasks carry the moment their light next changes with time
alone (light_changes_at, indexed), so that a read brings stale lights up to date by an indexed
query; rows whose light is not final start as "to be worked out" (long ago)

Revision ID: 0017_light_moments
Revises: 0016_organisation_gaps
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa

revision = "0017_light_moments"
down_revision = "0016_organisation_gaps"
branch_labels = None
depends_on = None

TABLES = ("problem", "human_task")


def upgrade() -> None:
    long_ago = datetime(1970, 1, 1, tzinfo=timezone.utc)
    if op.get_bind().dialect.name == "sqlite":
        long_ago = long_ago.replace(tzinfo=None)
    for name in TABLES:
        with op.batch_alter_table(name) as batch:
            batch.add_column(sa.Column("light_changes_at", sa.DateTime(timezone=True), nullable=True))
            batch.create_index(f"ix_{name}_light_changes_at", ["light_changes_at"])
    problem = sa.table("problem", sa.column("status", sa.String(20)), sa.column("light", sa.String(8)),
                       sa.column("light_changes_at", sa.DateTime(timezone=True)))
    op.execute(sa.update(problem).where(sa.or_(problem.c.light != "closed", problem.c.status != "closed"))
               .values(light_changes_at=long_ago))
    task = sa.table("human_task", sa.column("state", sa.String(16)), sa.column("light", sa.String(8)),
                    sa.column("light_changes_at", sa.DateTime(timezone=True)))
    op.execute(sa.update(task).where(sa.or_(task.c.light != "closed", task.c.state == "ready"))
               .values(light_changes_at=long_ago))


def downgrade() -> None:
    for name in TABLES:
        with op.batch_alter_table(name) as batch:
            batch.drop_index(f"ix_{name}_light_changes_at")
            batch.drop_column("light_changes_at")
