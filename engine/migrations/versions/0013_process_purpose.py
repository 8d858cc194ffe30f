"""process purpose: what each deployed process is for (problem, escalation, interview,
accountability), read from the diagram at deployment

Existing versions take it from their key (rectification is the problems' process, the
ladder's processes are named after their purpose); any other version that sets a
problemStatus somewhere is a problem process; the rest stay undeclared.

Revision ID: 0013_process_purpose
Revises: 0012_instance_repair
"""
from alembic import op
import sqlalchemy as sa

revision = "0013_process_purpose"
down_revision = "0012_instance_repair"
branch_labels = None
depends_on = None

BY_KEY = {"rectification": "problem", "escalation": "escalation", "interview": "interview",
          "accountability": "accountability"}


def upgrade() -> None:
    with op.batch_alter_table("process_definition") as batch:
        batch.add_column(sa.Column("purpose", sa.String(length=20), nullable=True))
    definition = sa.table("process_definition", sa.column("key", sa.String), sa.column("purpose", sa.String),
                          sa.column("bpmn_xml", sa.Text))
    for key, purpose in BY_KEY.items():
        op.execute(definition.update().where(definition.c.key == key).values(purpose=purpose))
    op.execute(definition.update().where(definition.c.purpose.is_(None),
                                         definition.c.bpmn_xml.like('%name="problemStatus"%'))
               .values(purpose="problem"))


def downgrade() -> None:
    with op.batch_alter_table("process_definition") as batch:
        batch.drop_column("purpose")
