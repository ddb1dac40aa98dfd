"""rate_card_versions: each lab's rate card, a new row for every change

Revision ID: 0008
Revises: 0007
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.db import UTCDateTime

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rate_card_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('fablab_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('card', sa.JSON(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['fablab_id'], ['fablabs.id'], name=op.f('fk_rate_card_versions_fablab_id_fablabs'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['accounts.id'], name=op.f('fk_rate_card_versions_created_by_id_accounts'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_card_versions')),
    sa.UniqueConstraint('fablab_id', 'version', name=op.f('uq_rate_card_versions_fablab_id'))
    )


def downgrade() -> None:
    op.drop_table('rate_card_versions')
