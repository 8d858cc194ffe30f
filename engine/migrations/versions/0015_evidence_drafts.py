"""evidence drafts: a file uploaded for a task is a draft of that task (task_id, field) until
the task's completion submits it (submitted_at); files stored before are submitted already

Revision ID: 0015_evidence_drafts
Revises: 0014_unfinished_drafts
"""
from alembic import op
import sqlalchemy as sa

revision = "0015_evidence_drafts"
down_revision = "0014_unfinished_drafts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evidence_file") as batch:
        batch.add_column(sa.Column("task_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("field", sa.String(100), nullable=True))
        batch.add_column(sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key("fk_evidence_file_task_id_human_task", "human_task", ["task_id"], ["id"])
        batch.create_index("ix_evidence_file_task_id", ["task_id"])
    evidence = sa.table("evidence_file", sa.column("uploaded_at", sa.DateTime(timezone=True)),
                        sa.column("submitted_at", sa.DateTime(timezone=True)))
    op.execute(sa.update(evidence).values(submitted_at=evidence.c.uploaded_at))


def downgrade() -> None:
    evidence = sa.table("evidence_file", sa.column("submitted_at", sa.DateTime(timezone=True)))
    op.execute(sa.delete(evidence).where(evidence.c.submitted_at.is_(None)))
    with op.batch_alter_table("evidence_file") as batch:
        batch.drop_index("ix_evidence_file_task_id")
        batch.drop_constraint("fk_evidence_file_task_id_human_task", type_="foreignkey")
        batch.drop_column("submitted_at")
        batch.drop_column("field")
        batch.drop_column("task_id")
