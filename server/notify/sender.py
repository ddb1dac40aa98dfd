"""The background sender: claims due deliveries, sends them (SMTP, webhooks) and records what happened.

Any number of hub processes run the rounds at once. A delivery is claimed in a short transaction
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's write transactions take turns) that marks it
``sending`` until a lease runs out, and is sent after that commit, never inside a request's
transaction. A failed attempt is tried again later (``RETRY_DELAYS_S``, a little over a day in
all), then marked failed; a sender that dies mid-send leaves its claim to lapse and be taken again.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select, update

from server.db import Database, utcnow
from server.notify import messages, outbox, tokens, webhooks
from server.notify.config import NotifySettings
from server.notify.models import LAB_EVENTS, Channel, Delivery, DeliveryState, Kind, Notification, NotifyPrefs, WebhookEndpoint

log = logging.getLogger(__name__)

#: wait before attempt 2, 3, ... (Standard Webhooks' schedule: about 27 hours from the first to the last)
RETRY_DELAYS_S = (5, 300, 1800, 7200, 18000, 36000, 36000)
LEASE = dt.timedelta(minutes=2)  # a claim longer than any one send (SMTP and webhook timeouts are shorter)
BATCH = 50
SMTP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Outcome:
    state: DeliveryState
    error: str = ""
    status: int | None = None

    @classmethod
    def retry(cls, error: str, status: int | None = None) -> Outcome:
        return cls(DeliveryState.PENDING, error, status)


def claim(database: Database, now: dt.datetime, batch: int = BATCH) -> list[tuple[int, int]]:
    """Take up to ``batch`` due deliveries for this process (marked ``sending`` for the lease).

    Returns (id, attempt number) pairs: the attempt number is the claim's fencing token, so a sender
    whose lease ran out (and whose delivery another process took) neither sends nor records it.
    """
    with database.session() as session:
        due = (select(Delivery.id, Delivery.attempts)
               .where(Delivery.state.in_([DeliveryState.PENDING, DeliveryState.SENDING]),
                      Delivery.next_attempt_at <= now)
               .order_by(Delivery.next_attempt_at, Delivery.id).limit(batch).with_for_update(skip_locked=True))
        claimed = [(row.id, row.attempts + 1) for row in session.execute(due)]
        if claimed:
            session.execute(update(Delivery).where(Delivery.id.in_([i for i, _ in claimed]))
                            .values(state=DeliveryState.SENDING, next_attempt_at=now + LEASE,
                                    attempts=Delivery.attempts + 1))
    return claimed


def _still_mine(database: Database, delivery_id: int, attempt: int, until: dt.datetime | None = None) -> bool:
    """True while the claim holds (renewing its lease to ``until`` when given)."""
    mine = (update(Delivery).where(Delivery.id == delivery_id, Delivery.state == DeliveryState.SENDING,
                                   Delivery.attempts == attempt))
    with database.session() as session:
        done = session.execute(mine.values(next_attempt_at=until) if until else mine.values(attempts=attempt))
        return bool(getattr(done, "rowcount", 0))


def deliver_due(database: Database, notify: NotifySettings, secret_key: str, base_url: str,
                now: dt.datetime | None = None) -> int:
    """One delivery round: send what is due; return how many were sent."""
    now = now or utcnow()
    started = time.monotonic()
    sent = 0
    for delivery_id, attempt in claim(database, now):
        # a slow mail server may have held the round past an earlier lease: each send renews its own first
        current = now + dt.timedelta(seconds=time.monotonic() - started)
        if not _still_mine(database, delivery_id, attempt, current + LEASE):
            continue
        try:
            outcome = _attempt(database, notify, secret_key, base_url, delivery_id, current)
        except Exception as exc:  # one broken delivery must not stop the round
            log.exception("delivery %s failed", delivery_id)
            outcome = Outcome.retry(f"{type(exc).__name__}")
        sent += _finish(database, delivery_id, attempt, outcome, current) and outcome.state == DeliveryState.SENT
    return sent


def _finish(database: Database, delivery_id: int, attempt: int, outcome: Outcome, now: dt.datetime) -> bool:
    """Record the attempt's outcome, unless another sender has taken the delivery since (False then)."""
    with database.session() as session:
        delivery = session.get(Delivery, delivery_id, with_for_update=True)
        if delivery is None or delivery.state != DeliveryState.SENDING or delivery.attempts != attempt:
            return False
        delivery.last_error, delivery.response_status = outcome.error[:500], outcome.status
        if outcome.state == DeliveryState.PENDING:
            if delivery.attempts > len(RETRY_DELAYS_S):
                delivery.state = DeliveryState.FAILED
            else:
                delivery.state = DeliveryState.PENDING
                delivery.next_attempt_at = now + dt.timedelta(seconds=RETRY_DELAYS_S[delivery.attempts - 1])
        else:
            delivery.state = outcome.state
            if outcome.state == DeliveryState.SENT:
                delivery.sent_at = now
        return True


def _attempt(database: Database, notify: NotifySettings, secret_key: str, base_url: str, delivery_id: int,
             now: dt.datetime) -> Outcome:
    from server.accounts.models import Account

    with database.session() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None:
            return Outcome(DeliveryState.SKIPPED, "gone")
        notification = session.get(Notification, delivery.notification_id)
        assert notification is not None
        if delivery.channel == Channel.WEBHOOK:
            endpoint = session.get(WebhookEndpoint, delivery.endpoint_id) if delivery.endpoint_id else None
            if endpoint is None or not endpoint.active:
                return Outcome(DeliveryState.SKIPPED, "the webhook was removed")
            url, secret = endpoint.url, endpoint.secret
            body = _webhook_body(notification)
        else:
            account = session.get(Account, notification.recipient_id)
            prefs = session.get(NotifyPrefs, notification.recipient_id)
            decided = _email_decision(session, notify, notification, account, prefs, now, base_url, secret_key)
            if isinstance(decided, Outcome):
                return decided
            mail = decided
    if delivery.channel == Channel.WEBHOOK:
        answer = webhooks.post(url, secret, f"msg_{delivery_id}", int(now.timestamp()), body,
                               notify.allow_private_webhooks)
        if answer.ok:
            return Outcome(DeliveryState.SENT, answer.body, answer.status)
        return Outcome.retry(answer.error or f"answered {answer.status}: {answer.body}", answer.status)
    try:
        _smtp_send(notify, mail)
    except (OSError, smtplib.SMTPException) as exc:
        return Outcome.retry(f"{type(exc).__name__}: {exc}")
    return Outcome(DeliveryState.SENT)


def _webhook_body(notification: Notification) -> bytes:
    payload = {"type": LAB_EVENTS[notification.kind], "timestamp": notification.created_at.isoformat(),
               "data": {"fablab_id": notification.fablab_id, **notification.detail}}
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def _email_decision(session: Any, notify: NotifySettings, notification: Notification, account: Any,
                    prefs: NotifyPrefs | None, now: dt.datetime, base_url: str, secret_key: str) -> EmailMessage | Outcome:
    """The email to send, or why none is sent. An unconfirmed address gets one confirmation link instead."""
    if notify.smtp is None:
        return Outcome(DeliveryState.SKIPPED, "email is off on this hub (COSMOLOC_SMTP_URL unset)")
    if account is None:
        return Outcome(DeliveryState.SKIPPED, "the account is gone")
    settings_url = f"{base_url}/settings/notifications"
    if notification.kind == Kind.EMAIL_CONFIRM:
        to = str(notification.detail.get("email"))
        if to != account.email:
            return Outcome(DeliveryState.SKIPPED, "the account's address changed since")
        link = f"{base_url}/notifications/confirm/{tokens.confirm_token(secret_key, account.id, to)}"
        message = messages.compose(Kind.EMAIL_CONFIRM, {"confirm_url": link}, base_url, now)
        return messages.email(message, notify.mail_from, to, None, settings_url)
    if prefs is not None and not prefs.email_on:
        return Outcome(DeliveryState.SKIPPED, "email turned off in the account's settings")
    if prefs is not None and notification.kind.value in prefs.kinds_off:
        return Outcome(DeliveryState.SKIPPED, f"{notification.kind.value} turned off (unsubscribed)")
    if prefs is None or prefs.confirmed_email != account.email:
        outbox.record(session, account.id, Kind.EMAIL_CONFIRM, f"email:{account.email}", now,
                      {"email": account.email})
        return Outcome(DeliveryState.SKIPPED, "the address is not confirmed yet (a confirmation link was sent)")
    unsubscribe = f"{base_url}/api/v1/notifications/unsubscribe/" \
                  f"{tokens.unsubscribe_token(secret_key, account.id, notification.kind.value)}"
    message = messages.compose(notification.kind, notification.detail, base_url, now)
    return messages.email(message, notify.mail_from, account.email, unsubscribe, settings_url)


def _smtp_send(notify: NotifySettings, mail: EmailMessage) -> None:
    smtp_settings = notify.smtp
    assert smtp_settings is not None
    smtp_class = smtplib.SMTP_SSL if smtp_settings.tls else smtplib.SMTP
    kwargs: dict[str, Any] = {"context": ssl.create_default_context()} if smtp_settings.tls else {}
    with smtp_class(smtp_settings.host, smtp_settings.port, timeout=SMTP_TIMEOUT_S, **kwargs) as smtp:
        smtp.ehlo()
        if not smtp_settings.tls and smtp.has_extn("starttls"):
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if smtp_settings.username:
            smtp.login(smtp_settings.username, smtp_settings.password or "")
        smtp.send_message(mail)


def start_rounds(hub: Any, notify: NotifySettings, interval_s: float) -> None:
    """This process's rounds: find notifications that come from time passing, and deliver what is due."""
    from server.periodic import Periodic

    if interval_s <= 0:
        return
    rounds = [Periodic("notification scan", max(interval_s, 10.0), lambda: scan_round(hub)),
              Periodic("notification delivery", interval_s, lambda: delivery_round(hub, notify))]
    for periodic in rounds:
        periodic.start()
    hub.rounds.extend(rounds)


def scan_round(hub: Any, now: dt.datetime | None = None) -> int:
    with hub.db.session() as session:
        return outbox.scan(session, now or utcnow(), hub.settings.offer_ttl_s)


def delivery_round(hub: Any, notify: NotifySettings, now: dt.datetime | None = None) -> int:
    from server.edge import DEFAULT_BASE_URL

    base_url = str(hub.settings.base_url).rstrip("/") or DEFAULT_BASE_URL
    return deliver_due(hub.db, notify, hub.settings.secret_key, base_url, now)
