"""notifications: the outbox (unique per recipient, kind and subject), its deliveries, preferences, webhooks

Revision ID: 0010
Revises: 0009
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from server.db import UTCDateTime

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recipient_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('offer_made', 'offer_expiring', 'job_withdrawn', 'order_accepted', 'order_ready',
                              'order_reoffered', 'order_failed', 'order_unmatched', 'confirm_receipt',
                              'design_remixed', 'design_made', 'email_confirm', name='kind', native_enum=False,
                              length=20), nullable=False),
    sa.Column('subject', sa.String(length=100), nullable=False),
    sa.Column('fablab_id', sa.Integer(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['fablab_id'], ['fablabs.id'], name=op.f('fk_notifications_fablab_id_fablabs'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recipient_id'], ['accounts.id'], name=op.f('fk_notifications_recipient_id_accounts'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('recipient_id', 'kind', 'subject', name='uq_notifications_key')
    )
    op.create_index(op.f('ix_notifications_fablab_id'), 'notifications', ['fablab_id'], unique=False)
    op.create_table('notify_prefs',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('email_on', sa.Boolean(), nullable=False),
    sa.Column('kinds_off', sa.JSON(), nullable=False),
    sa.Column('confirmed_email', sa.String(length=320), nullable=True),
    sa.Column('confirmed_at', UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_notify_prefs_account_id_accounts'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_notify_prefs'))
    )
    op.create_table('webhook_endpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('fablab_id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('secret', sa.String(length=100), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['fablab_id'], ['fablabs.id'], name=op.f('fk_webhook_endpoints_fablab_id_fablabs'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_endpoints'))
    )
    op.create_index(op.f('ix_webhook_endpoints_fablab_id'), 'webhook_endpoints', ['fablab_id'], unique=False)
    op.create_table('notification_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notification_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.Enum('email', 'webhook', name='channel', native_enum=False, length=20), nullable=False),
    sa.Column('endpoint_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.Enum('pending', 'sending', 'sent', 'skipped', 'failed', name='deliverystate',
                               native_enum=False, length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=False),
    sa.Column('response_status', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoints.id'],
                            name=op.f('fk_notification_deliveries_endpoint_id_webhook_endpoints'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['notification_id'], ['notifications.id'],
                            name=op.f('fk_notification_deliveries_notification_id_notifications'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_deliveries'))
    )
    op.create_index('ix_notification_deliveries_due', 'notification_deliveries', ['state', 'next_attempt_at'],
                    unique=False)
    op.create_index('ix_notification_deliveries_endpoint', 'notification_deliveries', ['endpoint_id', 'id'],
                    unique=False)
    op.create_index(op.f('ix_notification_deliveries_notification_id'), 'notification_deliveries',
                    ['notification_id'], unique=False)


def downgrade() -> None:
    op.drop_table('notification_deliveries')
    op.drop_table('webhook_endpoints')
    op.drop_table('notify_prefs')
    op.drop_table('notifications')
