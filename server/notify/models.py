"""The outbox (one notification per recipient, kind and subject), its deliveries, preferences and webhooks."""
from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, str_enum, utcnow


class Kind(enum.StrEnum):
    """What a notification tells; the value is stable (preferences, unsubscribe links and webhooks name it)."""

    OFFER_MADE = "offer_made"  # operator: a new offer for their lab
    OFFER_EXPIRING = "offer_expiring"  # operator: an offer close to its end, not answered
    JOB_WITHDRAWN = "job_withdrawn"  # operator: the citizen cancelled a job the lab had
    ORDER_ACCEPTED = "order_accepted"  # citizen
    ORDER_READY = "order_ready"  # citizen: the part is made
    ORDER_REOFFERED = "order_reoffered"  # citizen: it failed at a lab and goes to the next
    ORDER_FAILED = "order_failed"  # citizen: it failed at every lab tried
    ORDER_UNMATCHED = "order_unmatched"  # citizen: no lab can make it now
    CONFIRM_RECEIPT = "confirm_receipt"  # citizen: a reminder to confirm receipt
    DESIGN_REMIXED = "design_remixed"  # designer
    DESIGN_MADE = "design_made"  # designer: a make of their design was confirmed received
    EMAIL_CONFIRM = "email_confirm"  # the link that confirms an address (the one mail sent before it is)


#: kinds a lab's webhooks may subscribe to, with the Standard Webhooks event type they are sent as
LAB_EVENTS: dict[Kind, str] = {
    Kind.OFFER_MADE: "offer.created",
    Kind.OFFER_EXPIRING: "offer.expiring",
    Kind.JOB_WITHDRAWN: "job.withdrawn",
}


class Channel(enum.StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class DeliveryState(enum.StrEnum):
    PENDING = "pending"  # waiting for its next attempt
    SENDING = "sending"  # claimed by a sender until ``next_attempt_at``
    SENT = "sent"
    SKIPPED = "skipped"  # nothing to send: turned off, no SMTP, address not confirmed (``last_error`` says)
    FAILED = "failed"  # every attempt failed


class Notification(Base):
    """One thing to tell one account. The unique key is what makes an event seen twice (two hub processes,
    a retried round) one notification."""

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("recipient_id", "kind", "subject", name="uq_notifications_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[Kind] = mapped_column(str_enum(Kind))
    subject: Mapped[str] = mapped_column(String(100))  # what it is about: "job:12", "order:3", "design:7"
    fablab_id: Mapped[int | None] = mapped_column(ForeignKey("fablabs.id", ondelete="CASCADE"), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Delivery(Base):
    """One way a notification goes out (its email, or one webhook endpoint), with its attempts."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (Index("ix_notification_deliveries_due", "state", "next_attempt_at"),
                      Index("ix_notification_deliveries_endpoint", "endpoint_id", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"), index=True)
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    state: Mapped[DeliveryState] = mapped_column(str_enum(DeliveryState), default=DeliveryState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    response_status: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]


class NotifyPrefs(Base):
    """An account's choices: email on or off, kinds turned off, and the address it confirmed."""

    __tablename__ = "notify_prefs"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    email_on: Mapped[bool] = mapped_column(Boolean, default=True)
    kinds_off: Mapped[list[str]] = mapped_column(JSON, default=list)
    confirmed_email: Mapped[str | None] = mapped_column(String(320))  # the address the link was followed for
    confirmed_at: Mapped[dt.datetime | None]


class WebhookEndpoint(Base):
    """A URL a lab's operator registered for some of the lab's events, with its signing secret."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    fablab_id: Mapped[int] = mapped_column(ForeignKey("fablabs.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)  # Kind values
    secret: Mapped[str] = mapped_column(String(100))  # "whsec_" + base64 of 32 random bytes
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
