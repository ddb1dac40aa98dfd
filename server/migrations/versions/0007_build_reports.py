"""build reports (one per job), their photos, and the citizen's receipt with fit for purpose

Revision ID: 0007
Revises: 0006
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.db import UTCDateTime


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('receipts',
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('fit_for_purpose', sa.Enum('yes', 'no', 'unsure', name='fitforpurpose', native_enum=False, length=20), nullable=True),
    sa.Column('comment', sa.String(length=2000), nullable=False),
    sa.Column('confirmed_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_receipts_order_id_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_receipts'))
    )
    op.create_table('build_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.Enum('success', 'partial', 'failed', name='outcome', native_enum=False, length=20), nullable=False),
    sa.Column('failure_mode', sa.Enum('adhesion', 'warping', 'dimensional', 'layer_shift', 'breakage', 'surface', 'other', name='failuremode', native_enum=False, length=20), nullable=True),
    sa.Column('machine_make', sa.String(length=100), nullable=True),
    sa.Column('machine_model', sa.String(length=100), nullable=True),
    sa.Column('material_name', sa.String(length=64), nullable=False),
    sa.Column('material_brand', sa.String(length=100), nullable=True),
    sa.Column('material_lot', sa.String(length=100), nullable=True),
    sa.Column('settings', sa.JSON(), nullable=True),
    sa.Column('estimated_time_s', sa.Float(), nullable=True),
    sa.Column('actual_time_s', sa.Float(), nullable=True),
    sa.Column('estimated_mass_g', sa.Float(), nullable=True),
    sa.Column('actual_mass_g', sa.Float(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('notes', sa.String(length=2000), nullable=False),
    sa.Column('filed_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_build_reports_job_id_jobs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_build_reports')),
    sa.UniqueConstraint('job_id', name=op.f('uq_build_reports_job_id'))
    )
    op.create_table('build_photos',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('thumbnail_sha256', sa.String(length=64), nullable=False),
    sa.Column('media_type', sa.String(length=20), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['build_reports.id'], name=op.f('fk_build_photos_report_id_build_reports'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sha256'], ['blobs.sha256'], name=op.f('fk_build_photos_sha256_blobs')),
    sa.ForeignKeyConstraint(['thumbnail_sha256'], ['blobs.sha256'], name=op.f('fk_build_photos_thumbnail_sha256_blobs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_build_photos'))
    )
    with op.batch_alter_table('build_photos', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_build_photos_report_id'), ['report_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_build_photos_sha256'), ['sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_build_photos_thumbnail_sha256'), ['thumbnail_sha256'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('build_photos', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_build_photos_thumbnail_sha256'))
        batch_op.drop_index(batch_op.f('ix_build_photos_sha256'))
        batch_op.drop_index(batch_op.f('ix_build_photos_report_id'))

    op.drop_table('build_photos')
    op.drop_table('build_reports')
    op.drop_table('receipts')
