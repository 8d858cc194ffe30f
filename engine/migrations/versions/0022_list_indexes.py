"""list indexes: a user's ready tasks (assigned to them, to one of their units or to one of their
roles) are counted by light and listed soonest due first from three indexes, one per way a task
reaches a user (those for a unit or a role are rare and only they are indexed, so that the
planner knows each way's share), instead of every ready task of the city being read; the
dashboard's breakdowns are counted from one index over problem (region, lead unit, source,
batch, light) without a sort, and a process's instances by status from one over
process_instance. The single-column indexes the new ones begin with go.

Revision ID: 0022_list_indexes
Revises: 0021_ladder_due
"""
from alembic import op
import sqlalchemy as sa

revision = "0022_list_indexes"
down_revision = "0021_ladder_due"
branch_labels = None
depends_on = None

NEW = {"ix_human_task_assignee_ready": ("human_task", ["assignee_id", "state", "light", "due_at"]),
       "ix_human_task_unit_ready": ("human_task", ["candidate_unit_id", "state", "light", "due_at"]),
       "ix_human_task_role_ready": ("human_task", ["candidate_role", "state", "light", "due_at"]),
       "ix_problem_breakdown": ("problem", ["region_id", "lead_unit_id", "source", "batch", "light"]),
       "ix_process_instance_definition_status": ("process_instance", ["definition_id", "status", "problem_id"])}
OLD = {"ix_human_task_assignee_id": ("human_task", ["assignee_id"]),
       "ix_human_task_candidate_unit_id": ("human_task", ["candidate_unit_id"]),
       "ix_problem_region_id": ("problem", ["region_id"]),
       "ix_process_instance_definition_id": ("process_instance", ["definition_id"])}


# a task for a unit or a role is rare: those indexes hold only such tasks
PARTIAL = {"ix_human_task_unit_ready": "candidate_unit_id IS NOT NULL",
           "ix_human_task_role_ready": "candidate_role IS NOT NULL"}


def upgrade() -> None:
    for name, (table, columns) in NEW.items():
        where = {f"{dialect}_where": sa.text(PARTIAL[name]) for dialect in ("sqlite", "postgresql")} \
            if name in PARTIAL else {}
        op.create_index(name, table, columns, **where)
    for name, (table, _) in OLD.items():
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, (table, columns) in OLD.items():
        op.create_index(name, table, columns)
    for name, (table, _) in NEW.items():
        op.drop_index(name, table_name=table)
