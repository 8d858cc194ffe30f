"""the daily bulletin (一天一通报)

Revision ID: 0007_bulletin
Revises: 0006_scheduler_extensions
"""
from alembic import op
import sqlalchemy as sa

revision = "0007_bulletin"
down_revision = "0006_scheduler_extensions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bulletin",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("made_by_id", sa.Integer(), nullable=True),
        sa.Column("made_by", sa.String(length=60), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["made_by_id"], ["user_account.id"], name=op.f("fk_bulletin_made_by_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulletin")),
        sa.UniqueConstraint("day", name=op.f("uq_bulletin_day")),
        sa.UniqueConstraint("number", name=op.f("uq_bulletin_number")),
    )


def downgrade() -> None:
    op.drop_table("bulletin")
