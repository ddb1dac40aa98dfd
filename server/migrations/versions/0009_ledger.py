"""ledger_events: the commons ledger, append-only and hash-chained (unique seq and prev: no gap, no fork);
value_choices: where an account sends its shares; design_parents: a remix of several designs, with weights

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
    op.create_table('ledger_events',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('provider', sa.JSON(), nullable=True),
    sa.Column('receiver', sa.JSON(), nullable=True),
    sa.Column('resource', sa.JSON(), nullable=True),
    sa.Column('quantity', sa.JSON(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('payee_kind', sa.String(length=8), nullable=True),
    sa.Column('payee_id', sa.Integer(), nullable=True),
    sa.Column('prev', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_ledger_events')),
    sa.UniqueConstraint('prev', name=op.f('uq_ledger_events_prev')),
    sa.UniqueConstraint('hash', name=op.f('uq_ledger_events_hash'))
    )
    op.create_index('ix_ledger_events_at', 'ledger_events', ['at'], unique=False)
    op.create_index(op.f('ix_ledger_events_kind'), 'ledger_events', ['kind'], unique=False)
    op.create_index(op.f('ix_ledger_events_order_id'), 'ledger_events', ['order_id'], unique=False)
    op.create_index('ix_ledger_events_payee', 'ledger_events', ['payee_kind', 'payee_id'], unique=False)
    op.create_table('value_choices',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('to_fund', sa.Boolean(), nullable=False),
    sa.Column('to_account_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_value_choices_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['to_account_id'], ['accounts.id'], name=op.f('fk_value_choices_to_account_id_accounts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_value_choices'))
    )


    op.create_table('design_parents',
    sa.Column('design_id', sa.Integer(), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('weight', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['design_id'], ['designs.id'], name=op.f('fk_design_parents_design_id_designs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['parent_id'], ['designs.id'], name=op.f('fk_design_parents_parent_id_designs')),
    sa.PrimaryKeyConstraint('design_id', 'parent_id', name=op.f('pk_design_parents'))
    )
    op.create_index(op.f('ix_design_parents_parent_id'), 'design_parents', ['parent_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_design_parents_parent_id'), table_name='design_parents')
    op.drop_table('design_parents')
    op.drop_table('value_choices')
    op.drop_index('ix_ledger_events_payee', table_name='ledger_events')
    op.drop_index(op.f('ix_ledger_events_order_id'), table_name='ledger_events')
    op.drop_index(op.f('ix_ledger_events_kind'), table_name='ledger_events')
    op.drop_index('ix_ledger_events_at', table_name='ledger_events')
    op.drop_table('ledger_events')
