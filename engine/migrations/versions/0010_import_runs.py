"""import runs: a confirmed ledger import committed batch by batch, resumable

Revision ID: 0010_import_runs
Revises: 0009_sign_in_security
"""
from alembic import op
import sqlalchemy as sa

revision = "0010_import_runs"
down_revision = "0009_sign_in_security"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_by_id", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("progressed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("sheet_sha256", sa.String(length=64), nullable=False),
        sa.Column("skip_refused", sa.Boolean(), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("imported", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["started_by_id"], ["user_account.id"],
                                name=op.f("fk_import_run_started_by_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_run")),
    )
    op.create_index(op.f("ix_import_run_sheet_sha256"), "import_run", ["sheet_sha256"], unique=False)
    op.create_index(op.f("ix_import_run_status"), "import_run", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_import_run_status"), table_name="import_run")
    op.drop_index(op.f("ix_import_run_sheet_sha256"), table_name="import_run")
    op.drop_table("import_run")
