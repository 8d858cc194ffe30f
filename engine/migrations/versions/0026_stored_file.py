"""stored files: evidence and pending ledger sheets kept in the database when
DUBAN_FILE_STORE=database, so that every app host reads what any host stored

Revision ID: 0026_stored_file
Revises: 0025_ledger_request_id
"""
from alembic import op
import sqlalchemy as sa

revision = "0026_stored_file"
down_revision = "0025_ledger_request_id"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stored_file",
        sa.Column("area", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stored_file")
