"""machines.queue_s: seconds of work waiting on a machine, as its agent last reported them (null: not reported);
slice_estimates: each canonical STL's reference slice per material and profile

Revision ID: 0009
Revises: 0008
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.db import UTCDateTime

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('machines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('queue_s', sa.Integer(), nullable=True))
    op.create_table('slice_estimates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('material', sa.String(length=64), nullable=False),
    sa.Column('profile_sha256', sa.String(length=64), nullable=False),
    sa.Column('mass_g', sa.Float(), nullable=True),
    sa.Column('material_cm3', sa.Float(), nullable=True),
    sa.Column('machine_time_s', sa.Float(), nullable=True),
    sa.Column('slicer_version', sa.String(length=40), nullable=True),
    sa.Column('reason', sa.String(length=300), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_slice_estimates')),
    sa.UniqueConstraint('file_sha256', 'material', 'profile_sha256', name=op.f('uq_slice_estimates_file_sha256'))
    )


def downgrade() -> None:
    op.drop_table('slice_estimates')
    with op.batch_alter_table('machines', schema=None) as batch_op:
        batch_op.drop_column('queue_s')
