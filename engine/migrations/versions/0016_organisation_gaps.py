"""organisation gaps: a rung whose *_heads target lacks a Party or a government head is held
(organisation_gap) until the heads are entered; the firing records how long it was held

Revision ID: 0016_organisation_gaps
Revises: 0015_evidence_drafts
"""
from alembic import op
import sqlalchemy as sa

revision = "0016_organisation_gaps"
down_revision = "0015_evidence_drafts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("escalation") as batch:
        batch.add_column(sa.Column("held_since", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "organisation_gap",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("problem_id", sa.Integer(), sa.ForeignKey("problem.id", name="fk_organisation_gap_problem_id_problem"),
                  nullable=False),
        sa.Column("rule_code", sa.String(40), nullable=False),
        sa.Column("rule_name", sa.String(60), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("missing", sa.JSON(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalation_id", sa.Integer(),
                  sa.ForeignKey("escalation.id", name="fk_organisation_gap_escalation_id_escalation"), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_organisation_gap"),
        sa.UniqueConstraint("key", name="uq_organisation_gap_key"),
    )
    op.create_index("ix_organisation_gap_problem_id", "organisation_gap", ["problem_id"])
    op.create_index("ix_organisation_gap_resolved_at", "organisation_gap", ["resolved_at"])


def downgrade() -> None:
    op.drop_index("ix_organisation_gap_resolved_at", table_name="organisation_gap")
    op.drop_index("ix_organisation_gap_problem_id", table_name="organisation_gap")
    op.drop_table("organisation_gap")
    with op.batch_alter_table("escalation") as batch:
        batch.drop_column("held_since")
