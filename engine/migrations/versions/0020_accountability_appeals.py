"""appeals (申诉): what the review of an appeal decided about each decision, never changed or
deleted

Revision ID: 0020_accountability_appeals
Revises: 0019_pending_plans

Like accountability_decision (0005), accountability_revision is append-only: triggers on
PostgreSQL and SQLite refuse every DELETE and UPDATE of it.
"""
from alembic import op
import sqlalchemy as sa

revision = "0020_accountability_appeals"
down_revision = "0019_pending_plans"
branch_labels = None
depends_on = None

MESSAGE = "appeal outcomes are never changed or deleted (问责记录终身保存)"

_POSTGRESQL = [
    f"""CREATE FUNCTION accountability_revision_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
END
$$""",
    """CREATE TRIGGER accountability_revision_no_change BEFORE DELETE OR UPDATE ON accountability_revision
FOR EACH ROW EXECUTE FUNCTION accountability_revision_immutable()""",
]
_SQLITE = [
    f"""CREATE TRIGGER accountability_revision_no_delete BEFORE DELETE ON accountability_revision
BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
    f"""CREATE TRIGGER accountability_revision_no_update BEFORE UPDATE ON accountability_revision
BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
]


def upgrade() -> None:
    op.create_table(
        "accountability_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.Enum("upheld", "revoked", "changed", name="revisionoutcome", native_enum=False,
                                     length=16), nullable=False),
        sa.Column("replacement_id", sa.Integer(), nullable=True),
        sa.Column("appealed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("appeal_reason", sa.Text(), nullable=True),
        sa.Column("decision_no", sa.String(length=100), nullable=True),
        sa.Column("decision_date", sa.Date(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("process_instance_id", sa.Integer(), nullable=False),
        sa.Column("human_task_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["decision_id"], ["accountability_decision.id"],
                                name=op.f("fk_accountability_revision_decision_id_accountability_decision")),
        sa.ForeignKeyConstraint(["replacement_id"], ["accountability_decision.id"],
                                name=op.f("fk_accountability_revision_replacement_id_accountability_decision")),
        sa.ForeignKeyConstraint(["decided_by_id"], ["user_account.id"],
                                name=op.f("fk_accountability_revision_decided_by_id_user_account")),
        sa.ForeignKeyConstraint(["process_instance_id"], ["process_instance.id"],
                                name=op.f("fk_accountability_revision_process_instance_id_process_instance")),
        sa.ForeignKeyConstraint(["human_task_id"], ["human_task.id"],
                                name=op.f("fk_accountability_revision_human_task_id_human_task")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accountability_revision")),
        sa.UniqueConstraint("decision_id", "human_task_id", name=op.f("uq_accountability_revision_decision_id")),
    )
    with op.batch_alter_table("accountability_revision") as batch:
        batch.create_index(batch.f("ix_accountability_revision_decision_id"), ["decision_id"])
        batch.create_index(batch.f("ix_accountability_revision_process_instance_id"), ["process_instance_id"])
        batch.create_index(batch.f("ix_accountability_revision_decided_at"), ["decided_at"])
    dialect = op.get_bind().dialect.name
    for statement in _POSTGRESQL if dialect == "postgresql" else _SQLITE if dialect == "sqlite" else []:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS accountability_revision_no_change ON accountability_revision")
        op.execute("DROP FUNCTION IF EXISTS accountability_revision_immutable()")
    op.drop_table("accountability_revision")
