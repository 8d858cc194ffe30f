"""definition versions: a version note (版本说明), draft or published, when and by whom published

Revision ID: 0011_definition_versions
Revises: 0010_import_runs
"""
from alembic import op
import sqlalchemy as sa

revision = "0011_definition_versions"
down_revision = "0010_import_runs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("process_definition") as table:
        table.add_column(sa.Column("comment", sa.Text(), nullable=True))
        table.add_column(sa.Column("form_files", sa.JSON(), nullable=True))
        table.add_column(sa.Column("status", sa.String(length=16), nullable=False, server_default="published"))
        table.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("published_by_id", sa.Integer(), nullable=True))
        table.add_column(sa.Column("publication", sa.Integer(), nullable=True))
        table.create_foreign_key(op.f("fk_process_definition_published_by_id_user_account"), "user_account",
                                 ["published_by_id"], ["id"])
        table.create_index(op.f("ix_process_definition_key_status"), ["key", "status"], unique=False)
    # every version deployed so far was in force from the moment it was deployed
    # (in the order of their numbers)
    op.execute("UPDATE process_definition SET published_at = deployed_at, published_by_id = deployed_by_id, "
               "publication = version")
    with op.batch_alter_table("process_definition") as table:
        # two publications of one process at the same moment: one of them is refused (409)
        table.create_unique_constraint(op.f("uq_process_definition_key_publication"), ["key", "publication"])


def downgrade() -> None:
    with op.batch_alter_table("process_definition") as table:
        table.drop_constraint(op.f("uq_process_definition_key_publication"), type_="unique")
        table.drop_index(op.f("ix_process_definition_key_status"))
        table.drop_constraint(op.f("fk_process_definition_published_by_id_user_account"), type_="foreignkey")
        table.drop_column("publication")
        table.drop_column("published_by_id")
        table.drop_column("published_at")
        table.drop_column("status")
        table.drop_column("form_files")
        table.drop_column("comment")
