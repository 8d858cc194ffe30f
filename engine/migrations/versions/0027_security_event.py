"""security log: sign-ins, lockouts, account and role changes, tokens, deployments, rule and
calendar changes, exports; append-only (no UPDATE), chained by hash

Revision ID: 0027_security_event
Revises: 0026_stored_file
"""
from alembic import op
import sqlalchemy as sa

revision = "0027_security_event"
down_revision = "0026_stored_file"
branch_labels = None
depends_on = None

MESSAGE = "the security log is append-only: an event is never changed"


def upgrade() -> None:
    op.create_table(
        "security_event",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(100), nullable=False),
        sa.Column("object", sa.String(200), nullable=True),
        sa.Column("source", sa.String(64), nullable=True),
        sa.Column("method", sa.String(40), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    for column in ("at", "kind", "result", "subject_id", "subject"):
        op.create_index(f"ix_security_event_{column}", "security_event", [column])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""CREATE FUNCTION security_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
END
$$""")
        op.execute("""CREATE TRIGGER security_event_no_update BEFORE UPDATE ON security_event
FOR EACH ROW EXECUTE FUNCTION security_event_append_only()""")
    else:
        op.execute(f"""CREATE TRIGGER security_event_no_update BEFORE UPDATE ON security_event
BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS security_event_no_update ON security_event")
        op.execute("DROP FUNCTION IF EXISTS security_event_append_only()")
    op.drop_table("security_event")
