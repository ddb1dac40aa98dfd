"""fablabs machines state history

Revision ID: 850a77503f17
Revises: 0001
Create Date: 2026-11-28 23:01:19.866530
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.db import UTCDateTime


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('fablabs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.Enum('fablab', 'makerspace', 'cooperative', 'nonprofit', 'company', 'individual', name='labkind', native_enum=False, length=20), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('latitude', sa.Float(), nullable=False),
    sa.Column('longitude', sa.Float(), nullable=False),
    sa.Column('cell_fine', sa.Integer(), nullable=False),
    sa.Column('cell_mid', sa.Integer(), nullable=False),
    sa.Column('cell_coarse', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=500), nullable=False),
    sa.Column('city', sa.String(length=200), nullable=False),
    sa.Column('country', sa.String(length=100), nullable=False),
    sa.Column('location_approximate', sa.Boolean(), nullable=False),
    sa.Column('accepting_orders', sa.Boolean(), nullable=False),
    sa.Column('operator_id', sa.Integer(), nullable=True),
    sa.Column('node_token_hash', sa.String(length=64), nullable=True),
    sa.Column('node_token_prefix', sa.String(length=20), nullable=True),
    sa.Column('last_seen_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('agent', sa.String(length=100), nullable=True),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('import_key', sa.String(length=200), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['operator_id'], ['accounts.id'], name=op.f('fk_fablabs_operator_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fablabs')),
    sa.UniqueConstraint('import_key', name=op.f('uq_fablabs_import_key')),
    sa.UniqueConstraint('node_token_hash', name=op.f('uq_fablabs_node_token_hash'))
    )
    with op.batch_alter_table('fablabs', schema=None) as batch_op:
        batch_op.create_index('ix_fablabs_cell_coarse', ['cell_coarse'], unique=False)
        batch_op.create_index('ix_fablabs_cell_fine', ['cell_fine'], unique=False)
        batch_op.create_index('ix_fablabs_cell_mid', ['cell_mid'], unique=False)
        batch_op.create_index('ix_fablabs_latitude', ['latitude'], unique=False)
        batch_op.create_index(batch_op.f('ix_fablabs_operator_id'), ['operator_id'], unique=False)

    op.create_table('machines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('fablab_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('process', sa.String(length=32), nullable=False),
    sa.Column('build_x_mm', sa.Float(), nullable=False),
    sa.Column('build_y_mm', sa.Float(), nullable=False),
    sa.Column('build_z_mm', sa.Float(), nullable=False),
    sa.Column('materials', sa.JSON(), nullable=False),
    sa.Column('state', sa.Enum('idle', 'busy', 'paused', 'error', 'offline', 'maintenance', name='machinestate', native_enum=False, length=20), nullable=False),
    sa.Column('state_reported_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('queue_length', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['fablab_id'], ['fablabs.id'], name=op.f('fk_machines_fablab_id_fablabs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_machines')),
    sa.UniqueConstraint('fablab_id', 'key', name=op.f('uq_machines_fablab_id'))
    )
    with op.batch_alter_table('machines', schema=None) as batch_op:
        batch_op.create_index('ix_machines_process', ['process'], unique=False)

    op.create_table('machine_state_samples',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('machine_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('idle', 'busy', 'paused', 'error', 'offline', 'maintenance', name='machinestate', native_enum=False, length=20), nullable=False),
    sa.Column('queue_length', sa.Integer(), nullable=False),
    sa.Column('at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['machine_id'], ['machines.id'], name=op.f('fk_machine_state_samples_machine_id_machines'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_machine_state_samples'))
    )
    with op.batch_alter_table('machine_state_samples', schema=None) as batch_op:
        batch_op.create_index('ix_machine_state_samples_machine_at', ['machine_id', 'at'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('machine_state_samples', schema=None) as batch_op:
        batch_op.drop_index('ix_machine_state_samples_machine_at')

    op.drop_table('machine_state_samples')
    with op.batch_alter_table('machines', schema=None) as batch_op:
        batch_op.drop_index('ix_machines_process')

    op.drop_table('machines')
    with op.batch_alter_table('fablabs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fablabs_operator_id'))
        batch_op.drop_index('ix_fablabs_latitude')
        batch_op.drop_index('ix_fablabs_cell_mid')
        batch_op.drop_index('ix_fablabs_cell_fine')
        batch_op.drop_index('ix_fablabs_cell_coarse')

    op.drop_table('fablabs')

