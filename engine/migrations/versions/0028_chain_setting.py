"""chain setting: the digest that chains the ledger and the security log, SHA-256 or SM3,
chosen by DUBAN_CHAIN_DIGEST when the database is set up; a database whose chains already hold
entries keeps SHA-256

Revision ID: 0028_chain_setting
Revises: 0027_security_event
"""
import os
import sys

from alembic import op
import sqlalchemy as sa

revision = "0028_chain_setting"
down_revision = "0027_security_event"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from engine import chain_digest

    wanted = chain_digest.check((os.environ.get("DUBAN_CHAIN_DIGEST") or chain_digest.DEFAULT).strip().lower())
    bind = op.get_bind()
    chained = any(bind.execute(sa.text(f"SELECT 1 FROM {table} LIMIT 1")).first() is not None
                  for table in ("ledger_entry", "security_event"))
    if chained and wanted != chain_digest.DEFAULT:
        print(f"DUBAN_CHAIN_DIGEST={wanted} ignored: this database's ledger is already chained with "
              f"{chain_digest.DEFAULT}, which it keeps", file=sys.stderr)
        wanted = chain_digest.DEFAULT
    setting = op.create_table(
        "chain_setting",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("value", sa.String(40), nullable=False),
    )
    op.bulk_insert(setting, [{"name": "digest", "value": wanted}])


def downgrade() -> None:
    op.drop_table("chain_setting")
