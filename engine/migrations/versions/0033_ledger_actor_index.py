"""the action log's filter by actor: an index on the ledger's actor_name, so that the audit
administrator's search reads that actor's entries, not the whole ledger

Revision ID: 0033_ledger_actor_index
Revises: 0032_user_session
"""
from alembic import op

revision = "0033_ledger_actor_index"
down_revision = "0032_user_session"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_ledger_entry_actor_name", "ledger_entry", ["actor_name"])


def downgrade() -> None:
    op.drop_index("ix_ledger_entry_actor_name", table_name="ledger_entry")
