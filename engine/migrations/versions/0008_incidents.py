"""incidents: failed steps of process instances, with their retries

Revision ID: 0008_incidents
Revises: 0007_bulletin

An instance stopped at an incident has the status "error" (InstanceStatus.ERROR), a value the
status column (a plain string column, not a native enum) has held since 0001: nothing to
change there.
"""
from alembic import op
import sqlalchemy as sa

revision = "0008_incidents"
down_revision = "0007_bulletin"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incident",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("problem_id", sa.Integer(), nullable=False),
        sa.Column("element_id", sa.String(length=100), nullable=False),
        sa.Column("element_name", sa.String(length=200), nullable=True),
        sa.Column("task_id", sa.String(length=36), nullable=True),
        sa.Column("error_type", sa.String(length=100), nullable=False),
        sa.Column("message", sa.String(length=2000), nullable=False),
        sa.Column("happened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.Enum("open", "resolved", name="incidentstatus", native_enum=False, length=16),
                  nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instance.id"],
                                name=op.f("fk_incident_instance_id_process_instance")),
        sa.ForeignKeyConstraint(["problem_id"], ["problem.id"], name=op.f("fk_incident_problem_id_problem")),
        sa.ForeignKeyConstraint(["resolved_by_id"], ["user_account.id"],
                                name=op.f("fk_incident_resolved_by_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident")),
    )
    with op.batch_alter_table("incident") as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_instance_id"), ["instance_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_incident_problem_id"), ["problem_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_incident_status"), ["status"], unique=False)
        batch_op.create_index("ix_incident_status_next_retry_at", ["status", "next_retry_at"], unique=False)


def downgrade() -> None:
    op.drop_table("incident")
