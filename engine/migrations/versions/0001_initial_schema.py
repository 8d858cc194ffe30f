"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 11:39:04.240753
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('official',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('gender', sa.String(length=4), nullable=True),
    sa.Column('party_member', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_official'))
    )
    with op.batch_alter_table('official', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_official_name'), ['name'], unique=False)

    op.create_table('region',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('level', sa.Enum('city', 'county', 'township', name='regionlevel', native_enum=False, length=16), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['parent_id'], ['region.id'], name=op.f('fk_region_parent_id_region')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_region')),
    sa.UniqueConstraint('name', name=op.f('uq_region_name'))
    )
    with op.batch_alter_table('region', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_region_parent_id'), ['parent_id'], unique=False)

    op.create_table('unit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('short_name', sa.String(length=40), nullable=True),
    sa.Column('kind', sa.Enum('party_committee', 'government', 'department', 'office', 'discipline', 'other', name='unitkind', native_enum=False, length=24), nullable=False),
    sa.Column('region_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['region_id'], ['region.id'], name=op.f('fk_unit_region_id_region')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unit')),
    sa.UniqueConstraint('name', name=op.f('uq_unit_name'))
    )
    with op.batch_alter_table('unit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unit_region_id'), ['region_id'], unique=False)

    op.create_table('user_account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=60), nullable=False),
    sa.Column('display_name', sa.String(length=60), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('official_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['official_id'], ['official.id'], name=op.f('fk_user_account_official_id_official')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_account')),
    sa.UniqueConstraint('official_id', name=op.f('uq_user_account_official_id')),
    sa.UniqueConstraint('username', name=op.f('uq_user_account_username'))
    )
    op.create_table('post',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('official_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=60), nullable=False),
    sa.Column('kind', sa.Enum('party', 'government', 'department', name='postkind', native_enum=False, length=16), nullable=False),
    sa.Column('is_head', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['official_id'], ['official.id'], name=op.f('fk_post_official_id_official')),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_post_unit_id_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_post')),
    sa.UniqueConstraint('official_id', 'unit_id', 'title', name=op.f('uq_post_official_id'))
    )
    with op.batch_alter_table('post', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_post_official_id'), ['official_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_post_unit_id'), ['unit_id'], unique=False)

    op.create_table('problem',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('source', sa.Enum('central', 'provincial', 'look_back', 'yangtze_film', 'petition', 'self_check', name='problemsource', native_enum=False, length=32), nullable=False),
    sa.Column('batch', sa.String(length=60), nullable=False),
    sa.Column('category', sa.Enum('water', 'air', 'soil', 'solid_waste', 'ecology', 'noise', 'other', name='problemcategory', native_enum=False, length=32), nullable=False),
    sa.Column('region_id', sa.Integer(), nullable=False),
    sa.Column('leading_official_id', sa.Integer(), nullable=True),
    sa.Column('lead_unit_id', sa.Integer(), nullable=False),
    sa.Column('responsible_official_id', sa.Integer(), nullable=False),
    sa.Column('industry_unit_id', sa.Integer(), nullable=True),
    sa.Column('target', sa.Text(), nullable=True),
    sa.Column('measures', sa.Text(), nullable=True),
    sa.Column('deadline_kind', sa.Enum('immediate', 'by_date', 'long_term', name='deadlinekind', native_enum=False, length=32), nullable=False),
    sa.Column('deadline', sa.Date(), nullable=True),
    sa.Column('status', sa.Enum('registered', 'planning', 'rectifying', 'accepting', 'public_notice', 'closed', name='problemstatus', native_enum=False, length=32), nullable=False),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['industry_unit_id'], ['unit.id'], name=op.f('fk_problem_industry_unit_id_unit')),
    sa.ForeignKeyConstraint(['lead_unit_id'], ['unit.id'], name=op.f('fk_problem_lead_unit_id_unit')),
    sa.ForeignKeyConstraint(['leading_official_id'], ['official.id'], name=op.f('fk_problem_leading_official_id_official')),
    sa.ForeignKeyConstraint(['region_id'], ['region.id'], name=op.f('fk_problem_region_id_region')),
    sa.ForeignKeyConstraint(['responsible_official_id'], ['official.id'], name=op.f('fk_problem_responsible_official_id_official')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_problem')),
    sa.UniqueConstraint('code', name=op.f('uq_problem_code'))
    )
    with op.batch_alter_table('problem', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_problem_batch'), ['batch'], unique=False)
        batch_op.create_index(batch_op.f('ix_problem_category'), ['category'], unique=False)
        batch_op.create_index(batch_op.f('ix_problem_deadline'), ['deadline'], unique=False)
        batch_op.create_index(batch_op.f('ix_problem_lead_unit_id'), ['lead_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_problem_region_id'), ['region_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_problem_responsible_official_id'), ['responsible_official_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_problem_source'), ['source'], unique=False)
        batch_op.create_index(batch_op.f('ix_problem_status'), ['status'], unique=False)

    op.create_table('process_definition',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('bpmn_xml', sa.Text(), nullable=False),
    sa.Column('forms', sa.JSON(), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('checksum', sa.String(length=64), nullable=False),
    sa.Column('deployed_by_id', sa.Integer(), nullable=True),
    sa.Column('deployed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['deployed_by_id'], ['user_account.id'], name=op.f('fk_process_definition_deployed_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_process_definition')),
    sa.UniqueConstraint('key', 'version', name=op.f('uq_process_definition_key'))
    )
    with op.batch_alter_table('process_definition', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_process_definition_key'), ['key'], unique=False)

    op.create_table('user_role',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('admin', 'discipline', 'official', 'leader', name='role', native_enum=False, length=16), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_user_role_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'role', name=op.f('pk_user_role'))
    )
    op.create_table('evidence_file',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('problem_id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['problem_id'], ['problem.id'], name=op.f('fk_evidence_file_problem_id_problem')),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['user_account.id'], name=op.f('fk_evidence_file_uploaded_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evidence_file'))
    )
    with op.batch_alter_table('evidence_file', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evidence_file_problem_id'), ['problem_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_evidence_file_sha256'), ['sha256'], unique=False)

    op.create_table('ledger_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_name', sa.String(length=60), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('subject_type', sa.String(length=40), nullable=False),
    sa.Column('subject_id', sa.String(length=60), nullable=True),
    sa.Column('problem_id', sa.Integer(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['user_account.id'], name=op.f('fk_ledger_entry_actor_id_user_account')),
    sa.ForeignKeyConstraint(['problem_id'], ['problem.id'], name=op.f('fk_ledger_entry_problem_id_problem')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_entry')),
    sa.UniqueConstraint('prev_hash', name=op.f('uq_ledger_entry_prev_hash'))
    )
    with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_entry_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_ledger_entry_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ledger_entry_problem_id'), ['problem_id'], unique=False)

    op.create_table('milestone',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('problem_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('due', sa.Date(), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['problem_id'], ['problem.id'], name=op.f('fk_milestone_problem_id_problem'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_milestone'))
    )
    with op.batch_alter_table('milestone', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_milestone_problem_id'), ['problem_id'], unique=False)

    op.create_table('problem_cooperating_unit',
    sa.Column('problem_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['problem_id'], ['problem.id'], name=op.f('fk_problem_cooperating_unit_problem_id_problem'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_problem_cooperating_unit_unit_id_unit')),
    sa.PrimaryKeyConstraint('problem_id', 'unit_id', name=op.f('pk_problem_cooperating_unit'))
    )
    op.create_table('process_instance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('definition_id', sa.Integer(), nullable=False),
    sa.Column('problem_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('running', 'completed', 'error', name='instancestatus', native_enum=False, length=16), nullable=False),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.Column('next_wakeup_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['definition_id'], ['process_definition.id'], name=op.f('fk_process_instance_definition_id_process_definition')),
    sa.ForeignKeyConstraint(['problem_id'], ['problem.id'], name=op.f('fk_process_instance_problem_id_problem')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_process_instance'))
    )
    with op.batch_alter_table('process_instance', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_process_instance_definition_id'), ['definition_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_process_instance_next_wakeup_at'), ['next_wakeup_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_process_instance_problem_id'), ['problem_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_process_instance_status'), ['status'], unique=False)

    op.create_table('site',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('problem_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['problem_id'], ['problem.id'], name=op.f('fk_site_problem_id_problem'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_site'))
    )
    with op.batch_alter_table('site', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_site_problem_id'), ['problem_id'], unique=False)

    op.create_table('human_task',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('problem_id', sa.Integer(), nullable=False),
    sa.Column('spiff_task_id', sa.String(length=36), nullable=False),
    sa.Column('element_id', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('lane', sa.String(length=60), nullable=False),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('candidate_unit_id', sa.Integer(), nullable=True),
    sa.Column('candidate_role', sa.Enum('admin', 'discipline', 'official', 'leader', name='role', native_enum=False, length=16), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('state', sa.Enum('ready', 'completed', 'cancelled', name='taskstate', native_enum=False, length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_by_id', sa.Integer(), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('data', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['assignee_id'], ['user_account.id'], name=op.f('fk_human_task_assignee_id_user_account')),
    sa.ForeignKeyConstraint(['candidate_unit_id'], ['unit.id'], name=op.f('fk_human_task_candidate_unit_id_unit')),
    sa.ForeignKeyConstraint(['completed_by_id'], ['user_account.id'], name=op.f('fk_human_task_completed_by_id_user_account')),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_human_task_instance_id_process_instance')),
    sa.ForeignKeyConstraint(['problem_id'], ['problem.id'], name=op.f('fk_human_task_problem_id_problem')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_human_task')),
    sa.UniqueConstraint('spiff_task_id', name=op.f('uq_human_task_spiff_task_id'))
    )
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_human_task_assignee_id'), ['assignee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_human_task_candidate_unit_id'), ['candidate_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_human_task_due_at'), ['due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_human_task_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_human_task_problem_id'), ['problem_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_human_task_state'), ['state'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_human_task_state'))
        batch_op.drop_index(batch_op.f('ix_human_task_problem_id'))
        batch_op.drop_index(batch_op.f('ix_human_task_instance_id'))
        batch_op.drop_index(batch_op.f('ix_human_task_due_at'))
        batch_op.drop_index(batch_op.f('ix_human_task_candidate_unit_id'))
        batch_op.drop_index(batch_op.f('ix_human_task_assignee_id'))

    op.drop_table('human_task')
    with op.batch_alter_table('site', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_site_problem_id'))

    op.drop_table('site')
    with op.batch_alter_table('process_instance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_process_instance_status'))
        batch_op.drop_index(batch_op.f('ix_process_instance_problem_id'))
        batch_op.drop_index(batch_op.f('ix_process_instance_next_wakeup_at'))
        batch_op.drop_index(batch_op.f('ix_process_instance_definition_id'))

    op.drop_table('process_instance')
    op.drop_table('problem_cooperating_unit')
    with op.batch_alter_table('milestone', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_milestone_problem_id'))

    op.drop_table('milestone')
    with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_entry_problem_id'))
        batch_op.drop_index(batch_op.f('ix_ledger_entry_at'))
        batch_op.drop_index(batch_op.f('ix_ledger_entry_action'))

    op.drop_table('ledger_entry')
    with op.batch_alter_table('evidence_file', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evidence_file_sha256'))
        batch_op.drop_index(batch_op.f('ix_evidence_file_problem_id'))

    op.drop_table('evidence_file')
    op.drop_table('user_role')
    with op.batch_alter_table('process_definition', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_process_definition_key'))

    op.drop_table('process_definition')
    with op.batch_alter_table('problem', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_problem_status'))
        batch_op.drop_index(batch_op.f('ix_problem_source'))
        batch_op.drop_index(batch_op.f('ix_problem_responsible_official_id'))
        batch_op.drop_index(batch_op.f('ix_problem_region_id'))
        batch_op.drop_index(batch_op.f('ix_problem_lead_unit_id'))
        batch_op.drop_index(batch_op.f('ix_problem_deadline'))
        batch_op.drop_index(batch_op.f('ix_problem_category'))
        batch_op.drop_index(batch_op.f('ix_problem_batch'))

    op.drop_table('problem')
    with op.batch_alter_table('post', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_post_unit_id'))
        batch_op.drop_index(batch_op.f('ix_post_official_id'))

    op.drop_table('post')
    op.drop_table('user_account')
    with op.batch_alter_table('unit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unit_region_id'))

    op.drop_table('unit')
    with op.batch_alter_table('region', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_region_parent_id'))

    op.drop_table('region')
    with op.batch_alter_table('official', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_official_name'))

    op.drop_table('official')
    
