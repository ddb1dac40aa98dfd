"""initial schema: accounts, tokens, designs, files, idempotency

Revision ID: f0831d2a04d0
Revises:
Create Date: 2026-11-28 22:55:26.448273
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.db import UTCDateTime


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('email', name=op.f('uq_accounts_email'))
    )
    op.create_table('blobs',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sha256', name=op.f('pk_blobs'))
    )
    op.create_table('idempotency_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=100), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_records')),
    sa.UniqueConstraint('scope', 'key', name=op.f('uq_idempotency_records_scope'))
    )
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('prefix', sa.String(length=20), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_api_tokens_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_account_id'), ['account_id'], unique=False)

    op.create_table('designs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('license_id', sa.String(length=64), nullable=False),
    sa.Column('derived_from_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['derived_from_id'], ['designs.id'], name=op.f('fk_designs_derived_from_id_designs')),
    sa.ForeignKeyConstraint(['owner_id'], ['accounts.id'], name=op.f('fk_designs_owner_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_designs'))
    )
    with op.batch_alter_table('designs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_designs_derived_from_id'), ['derived_from_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_designs_license_id'), ['license_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_designs_owner_id'), ['owner_id'], unique=False)

    op.create_table('design_tags',
    sa.Column('design_id', sa.Integer(), nullable=False),
    sa.Column('tag', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['design_id'], ['designs.id'], name=op.f('fk_design_tags_design_id_designs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('design_id', 'tag', name=op.f('pk_design_tags'))
    )
    with op.batch_alter_table('design_tags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_design_tags_tag'), ['tag'], unique=False)

    op.create_table('design_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('design_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('changelog', sa.Text(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['design_id'], ['designs.id'], name=op.f('fk_design_versions_design_id_designs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_design_versions')),
    sa.UniqueConstraint('design_id', 'number', name=op.f('uq_design_versions_design_id'))
    )
    op.create_table('design_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('format', sa.String(length=16), nullable=False),
    sa.Column('unit', sa.String(length=8), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('validation_status', sa.Enum('pending', 'passed', 'warnings', 'failed', name='validationstatus', native_enum=False, length=16), nullable=False),
    sa.Column('report', sa.JSON(), nullable=True),
    sa.Column('requirements', sa.JSON(), nullable=True),
    sa.Column('canonical_sha256', sa.String(length=64), nullable=True),
    sa.Column('canonical_format', sa.String(length=16), nullable=True),
    sa.Column('thumbnail_sha256', sa.String(length=64), nullable=True),
    sa.Column('validated_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['canonical_sha256'], ['blobs.sha256'], name=op.f('fk_design_files_canonical_sha256_blobs')),
    sa.ForeignKeyConstraint(['sha256'], ['blobs.sha256'], name=op.f('fk_design_files_sha256_blobs')),
    sa.ForeignKeyConstraint(['thumbnail_sha256'], ['blobs.sha256'], name=op.f('fk_design_files_thumbnail_sha256_blobs')),
    sa.ForeignKeyConstraint(['version_id'], ['design_versions.id'], name=op.f('fk_design_files_version_id_design_versions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_design_files'))
    )
    with op.batch_alter_table('design_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_design_files_sha256'), ['sha256'], unique=False)
        batch_op.create_index('ix_design_files_status', ['validation_status'], unique=False)
        batch_op.create_index(batch_op.f('ix_design_files_version_id'), ['version_id'], unique=False)

    op.create_table('file_processes',
    sa.Column('file_id', sa.Integer(), nullable=False),
    sa.Column('process', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['file_id'], ['design_files.id'], name=op.f('fk_file_processes_file_id_design_files'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('file_id', 'process', name=op.f('pk_file_processes'))
    )
    with op.batch_alter_table('file_processes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_file_processes_process'), ['process'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('file_processes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_file_processes_process'))

    op.drop_table('file_processes')
    with op.batch_alter_table('design_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_design_files_version_id'))
        batch_op.drop_index('ix_design_files_status')
        batch_op.drop_index(batch_op.f('ix_design_files_sha256'))

    op.drop_table('design_files')
    op.drop_table('design_versions')
    with op.batch_alter_table('design_tags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_design_tags_tag'))

    op.drop_table('design_tags')
    with op.batch_alter_table('designs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_designs_owner_id'))
        batch_op.drop_index(batch_op.f('ix_designs_license_id'))
        batch_op.drop_index(batch_op.f('ix_designs_derived_from_id'))

    op.drop_table('designs')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_account_id'))

    op.drop_table('api_tokens')
    op.drop_table('idempotency_records')
    op.drop_table('blobs')
    op.drop_table('accounts')

