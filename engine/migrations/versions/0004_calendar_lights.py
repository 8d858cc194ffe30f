"""working-day calendar entered by administrators; traffic lights on problems and tasks

Revision ID: 0004_calendar_lights
Revises: 0003_notifications
"""
from alembic import op
import sqlalchemy as sa

revision = "0004_calendar_lights"
down_revision = "0003_notifications"
branch_labels = None
depends_on = None

LIGHT = sa.Enum("green", "yellow", "red", "closed", name="light", native_enum=False, length=8)


def upgrade() -> None:
    op.create_table(
        "calendar_year",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("declared", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("declared_by_id", sa.Integer(), nullable=True),
        sa.Column("declared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("changed_by_id", sa.Integer(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["declared_by_id"], ["user_account.id"],
                                name=op.f("fk_calendar_year_declared_by_id_user_account")),
        sa.ForeignKeyConstraint(["changed_by_id"], ["user_account.id"],
                                name=op.f("fk_calendar_year_changed_by_id_user_account")),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_calendar_year")),
    )
    op.create_table(
        "calendar_override",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("working", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=100), nullable=True),
        sa.Column("entered_by_id", sa.Integer(), nullable=True),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["year"], ["calendar_year.year"], name=op.f("fk_calendar_override_year_calendar_year")),
        sa.ForeignKeyConstraint(["entered_by_id"], ["user_account.id"],
                                name=op.f("fk_calendar_override_entered_by_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_override")),
        sa.UniqueConstraint("day", name=op.f("uq_calendar_override_day")),
    )
    with op.batch_alter_table("calendar_override") as batch:
        batch.create_index(batch.f("ix_calendar_override_year"), ["year"])
    # existing rows start green; the first refresh of the lights gives them their colour
    with op.batch_alter_table("problem") as batch:
        batch.add_column(sa.Column("light", LIGHT, nullable=False, server_default="green"))
        batch.create_index(batch.f("ix_problem_light"), ["light"])
    with op.batch_alter_table("human_task") as batch:
        batch.add_column(sa.Column("light", LIGHT, nullable=False, server_default="green"))
        batch.create_index(batch.f("ix_human_task_light"), ["light"])


def downgrade() -> None:
    with op.batch_alter_table("human_task") as batch:
        batch.drop_index(batch.f("ix_human_task_light"))
        batch.drop_column("light")
    with op.batch_alter_table("problem") as batch:
        batch.drop_index(batch.f("ix_problem_light"))
        batch.drop_column("light")
    op.drop_table("calendar_override")
    op.drop_table("calendar_year")
