"""ladder entry: a problem's ladder_from (the moment from which the escalation ladder counts;
the rungs that fell due at or before it collapse into one firing, the highest), and the rungs
passed over that way (passed_over_rung). Problems registered before count from their
registration, as new ones do.

Revision ID: 0018_ladder_entry
Revises: 0017_light_moments
"""
from alembic import op
import sqlalchemy as sa

revision = "0018_ladder_entry"
down_revision = "0017_light_moments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("problem") as batch:
        batch.add_column(sa.Column("ladder_from", sa.DateTime(timezone=True), nullable=True))
    problem = sa.table("problem", sa.column("registered_at", sa.DateTime(timezone=True)),
                       sa.column("ladder_from", sa.DateTime(timezone=True)))
    op.execute(sa.update(problem).values(ladder_from=problem.c.registered_at))
    op.create_table(
        "passed_over_rung",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("problem_id", sa.Integer(), nullable=False),
        sa.Column("escalation_id", sa.Integer(), nullable=False),
        sa.Column("rule_code", sa.String(length=40), nullable=False),
        sa.Column("rule_name", sa.String(length=60), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["problem_id"], ["problem.id"], name=op.f("fk_passed_over_rung_problem_id_problem")),
        sa.ForeignKeyConstraint(["escalation_id"], ["escalation.id"],
                                name=op.f("fk_passed_over_rung_escalation_id_escalation")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_passed_over_rung")),
        sa.UniqueConstraint("key", name=op.f("uq_passed_over_rung_key")),
    )
    op.create_index(op.f("ix_passed_over_rung_problem_id"), "passed_over_rung", ["problem_id"])
    op.create_index(op.f("ix_passed_over_rung_escalation_id"), "passed_over_rung", ["escalation_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_passed_over_rung_escalation_id"), table_name="passed_over_rung")
    op.drop_index(op.f("ix_passed_over_rung_problem_id"), table_name="passed_over_rung")
    op.drop_table("passed_over_rung")
    with op.batch_alter_table("problem") as batch:
        batch.drop_column("ladder_from")
