"""orders events jobs

Revision ID: 8433866a9078
Revises: 0002
Create Date: 2026-11-28 23:05:21.379822
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.db import UTCDateTime


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('citizen_id', sa.Integer(), nullable=False),
    sa.Column('design_id', sa.Integer(), nullable=False),
    sa.Column('file_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('material', sa.String(length=64), nullable=False),
    sa.Column('process', sa.String(length=32), nullable=True),
    sa.Column('thickness_mm', sa.Float(), nullable=True),
    sa.Column('delivery_latitude', sa.Float(), nullable=False),
    sa.Column('delivery_longitude', sa.Float(), nullable=False),
    sa.Column('delivery_address', sa.String(length=500), nullable=False),
    sa.Column('max_distance_km', sa.Float(), nullable=False),
    sa.Column('status', sa.Enum('validating', 'rejected', 'matching', 'unmatched', 'offered', 'accepted', 'in_production', 'completed', 'received', 'cancelled', 'failed', name='orderstatus', native_enum=False, length=20), nullable=False),
    sa.Column('fablab_id', sa.Integer(), nullable=True),
    sa.Column('distance_km', sa.Float(), nullable=True),
    sa.Column('failed_attempts', sa.Integer(), nullable=False),
    sa.Column('next_match_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['citizen_id'], ['accounts.id'], name=op.f('fk_orders_citizen_id_accounts')),
    sa.ForeignKeyConstraint(['design_id'], ['designs.id'], name=op.f('fk_orders_design_id_designs')),
    sa.ForeignKeyConstraint(['fablab_id'], ['fablabs.id'], name=op.f('fk_orders_fablab_id_fablabs')),
    sa.ForeignKeyConstraint(['file_id'], ['design_files.id'], name=op.f('fk_orders_file_id_design_files')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_citizen', ['citizen_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_file_id'), ['file_id'], unique=False)
        batch_op.create_index('ix_orders_status', ['status'], unique=False)

    op.create_table('jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('live_order_id', sa.Integer(), nullable=True),
    sa.Column('fablab_id', sa.Integer(), nullable=False),
    sa.Column('machine_key', sa.String(length=64), nullable=True),
    sa.Column('state', sa.Enum('offered', 'accepted', 'in_production', 'completed', 'failed', 'declined', 'expired', 'withdrawn', name='jobstate', native_enum=False, length=20), nullable=False),
    sa.Column('distance_km', sa.Float(), nullable=False),
    sa.Column('expires_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('note', sa.String(length=2000), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['fablab_id'], ['fablabs.id'], name=op.f('fk_jobs_fablab_id_fablabs')),
    sa.ForeignKeyConstraint(['live_order_id'], ['orders.id'], name=op.f('fk_jobs_live_order_id_orders')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_jobs_order_id_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs')),
    sa.UniqueConstraint('live_order_id', name=op.f('uq_jobs_live_order_id'))
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index('ix_jobs_lab_state', ['fablab_id', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_jobs_order_id'), ['order_id'], unique=False)
        batch_op.create_index('ix_jobs_state_expires', ['state', 'expires_at'], unique=False)

    op.create_table('order_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_events_order_id_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_events'))
    )
    with op.batch_alter_table('order_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_events_order_id'), ['order_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('order_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_events_order_id'))

    op.drop_table('order_events')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_state_expires')
        batch_op.drop_index(batch_op.f('ix_jobs_order_id'))
        batch_op.drop_index('ix_jobs_lab_state')

    op.drop_table('jobs')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_status')
        batch_op.drop_index(batch_op.f('ix_orders_file_id'))
        batch_op.drop_index('ix_orders_citizen')

    op.drop_table('orders')

