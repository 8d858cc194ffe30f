"""accountability record: one row per decision (问责决定), never changed or deleted

Revision ID: 0005_accountability
Revises: 0004_calendar_lights

The record is lifelong (终身追究): triggers on PostgreSQL and SQLite refuse every DELETE and
UPDATE of accountability_decision, whoever sends it. (TRUNCATE and DROP TABLE are schema
operations, left to whoever owns the database.) On SQLite a later batch migration that
recreates this table drops its triggers with the old table: such a migration must create
them again (see `_SQLITE` below).
"""
from alembic import op
import sqlalchemy as sa

revision = "0005_accountability"
down_revision = "0004_calendar_lights"
branch_labels = None
depends_on = None

MESSAGE = "accountability decisions are never changed or deleted (问责记录终身保存)"

_POSTGRESQL = [
    f"""CREATE FUNCTION accountability_decision_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
END
$$""",
    """CREATE TRIGGER accountability_decision_no_delete BEFORE DELETE OR UPDATE ON accountability_decision
FOR EACH ROW EXECUTE FUNCTION accountability_decision_immutable()""",
]
_SQLITE = [
    f"""CREATE TRIGGER accountability_decision_no_delete BEFORE DELETE ON accountability_decision
BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
    f"""CREATE TRIGGER accountability_decision_no_update BEFORE UPDATE ON accountability_decision
BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
]


def upgrade() -> None:
    op.create_table(
        "accountability_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("official_id", sa.Integer(), nullable=False),
        sa.Column("problem_id", sa.Integer(), nullable=False),
        sa.Column("escalation_id", sa.Integer(), nullable=True),
        sa.Column("process_instance_id", sa.Integer(), nullable=False),
        sa.Column("human_task_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.Enum("party", "government", name="accountabilitycategory", native_enum=False,
                                      length=16), nullable=False),
        sa.Column("form", sa.String(length=40), nullable=False),
        sa.Column("form_label", sa.String(length=40), nullable=False),
        sa.Column("decision_no", sa.String(length=100), nullable=True),
        sa.Column("decision_date", sa.Date(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("influence_months", sa.Integer(), nullable=False),
        sa.Column("influence_until", sa.Date(), nullable=True),
        sa.Column("basis", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["official_id"], ["official.id"],
                                name=op.f("fk_accountability_decision_official_id_official")),
        sa.ForeignKeyConstraint(["problem_id"], ["problem.id"],
                                name=op.f("fk_accountability_decision_problem_id_problem")),
        sa.ForeignKeyConstraint(["escalation_id"], ["escalation.id"],
                                name=op.f("fk_accountability_decision_escalation_id_escalation")),
        sa.ForeignKeyConstraint(["process_instance_id"], ["process_instance.id"],
                                name=op.f("fk_accountability_decision_process_instance_id_process_instance")),
        sa.ForeignKeyConstraint(["human_task_id"], ["human_task.id"],
                                name=op.f("fk_accountability_decision_human_task_id_human_task")),
        sa.ForeignKeyConstraint(["decided_by_id"], ["user_account.id"],
                                name=op.f("fk_accountability_decision_decided_by_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accountability_decision")),
        sa.UniqueConstraint("human_task_id", "form", name=op.f("uq_accountability_decision_human_task_id")),
    )
    with op.batch_alter_table("accountability_decision") as batch:
        batch.create_index(batch.f("ix_accountability_decision_official_id"), ["official_id"])
        batch.create_index(batch.f("ix_accountability_decision_problem_id"), ["problem_id"])
        batch.create_index(batch.f("ix_accountability_decision_escalation_id"), ["escalation_id"])
        batch.create_index(batch.f("ix_accountability_decision_process_instance_id"), ["process_instance_id"])
        batch.create_index(batch.f("ix_accountability_decision_decided_at"), ["decided_at"])
    dialect = op.get_bind().dialect.name
    for statement in _POSTGRESQL if dialect == "postgresql" else _SQLITE if dialect == "sqlite" else []:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS accountability_decision_no_delete ON accountability_decision")
        op.execute("DROP FUNCTION IF EXISTS accountability_decision_immutable()")
    op.drop_table("accountability_decision")
