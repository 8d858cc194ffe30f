"""escalation ladder: rule versions, firings, events from processes

Revision ID: 0002_escalation
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = "0002_escalation"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "escalation_rule_set",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by_id"], ["user_account.id"],
                                name=op.f("fk_escalation_rule_set_created_by_id_user_account")),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_escalation_rule_set")),
    )
    op.create_table(
        "escalation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("problem_id", sa.Integer(), nullable=False),
        sa.Column("rule_code", sa.String(length=40), nullable=False),
        sa.Column("rule_name", sa.String(length=60), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.JSON(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("action", sa.JSON(), nullable=False),
        sa.Column("instance_ids", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["problem_id"], ["problem.id"], name=op.f("fk_escalation_problem_id_problem")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation")),
        sa.UniqueConstraint("key", name=op.f("uq_escalation_key")),
    )
    with op.batch_alter_table("escalation") as batch:
        batch.create_index(batch.f("ix_escalation_problem_id"), ["problem_id"])
        batch.create_index(batch.f("ix_escalation_rule_code"), ["rule_code"])
        batch.create_index(batch.f("ix_escalation_level"), ["level"])
        batch.create_index(batch.f("ix_escalation_fired_at"), ["fired_at"])
    with op.batch_alter_table("process_instance") as batch:
        batch.add_column(sa.Column("escalation_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("subject_official_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(batch.f("fk_process_instance_escalation_id_escalation"), "escalation",
                                 ["escalation_id"], ["id"])
        batch.create_foreign_key(batch.f("fk_process_instance_subject_official_id_official"), "official",
                                 ["subject_official_id"], ["id"])
        batch.create_index(batch.f("ix_process_instance_escalation_id"), ["escalation_id"])
    op.create_table(
        "escalation_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("problem_id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("element_id", sa.String(length=100), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["problem_id"], ["problem.id"], name=op.f("fk_escalation_event_problem_id_problem")),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instance.id"],
                                name=op.f("fk_escalation_event_instance_id_process_instance")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation_event")),
    )
    with op.batch_alter_table("escalation_event") as batch:
        batch.create_index(batch.f("ix_escalation_event_problem_id"), ["problem_id"])


def downgrade() -> None:
    op.drop_table("escalation_event")
    with op.batch_alter_table("process_instance") as batch:
        batch.drop_index(batch.f("ix_process_instance_escalation_id"))
        batch.drop_constraint(batch.f("fk_process_instance_subject_official_id_official"), type_="foreignkey")
        batch.drop_constraint(batch.f("fk_process_instance_escalation_id_escalation"), type_="foreignkey")
        batch.drop_column("subject_official_id")
        batch.drop_column("escalation_id")
    op.drop_table("escalation")
    op.drop_table("escalation_rule_set")
