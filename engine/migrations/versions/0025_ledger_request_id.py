"""ledger request id: the id of the request (or command) an entry was written for, hashed
into the entry when present (entries written before have none and hash as they did)

Revision ID: 0025_ledger_request_id
Revises: 0024_scheduler_lease
"""
from alembic import op
import sqlalchemy as sa

revision = "0025_ledger_request_id"
down_revision = "0024_scheduler_lease"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_entry") as table:
        table.add_column(sa.Column("request_id", sa.String(64), nullable=True))
    op.create_index("ix_ledger_entry_request_id", "ledger_entry", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_ledger_entry_request_id", table_name="ledger_entry")
    with op.batch_alter_table("ledger_entry") as table:
        table.drop_column("request_id")
