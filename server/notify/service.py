"""Preferences, address confirmation, unsubscribe and webhook endpoints; services flush, callers commit."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.errors import ApiError, invalid, not_found
from server.notify import outbox, webhooks
from server.notify.models import LAB_EVENTS, Channel, Delivery, Kind, Notification, NotifyPrefs, WebhookEndpoint

#: kinds an account may turn off (the confirmation link is not one of them)
CHOOSABLE = [k for k in Kind if k != Kind.EMAIL_CONFIRM]
DELIVERY_LOG = 50


def prefs_of(session: Session, account_id: int) -> NotifyPrefs:
    prefs = session.get(NotifyPrefs, account_id)
    if prefs is None:
        prefs = NotifyPrefs(account_id=account_id, email_on=True, kinds_off=[])
        session.add(prefs)
        session.flush()
    return prefs


def prefs_json(prefs: NotifyPrefs, email: str, email_available: bool) -> dict[str, Any]:
    return {"email_available": email_available, "email_on": prefs.email_on,
            "email_confirmed": prefs.confirmed_email == email,
            "kinds": {k.value: k.value not in prefs.kinds_off for k in CHOOSABLE}}


def set_prefs(session: Session, account_id: int, email_on: bool | None, kinds: dict[str, bool] | None) -> NotifyPrefs:
    """Change the choices; an unknown kind is a 422 ``unknown_kind`` and nothing changes."""
    known = {k.value for k in CHOOSABLE}
    unknown = sorted(set(kinds or {}) - known)
    if unknown:
        raise invalid(f"Unknown notification kinds: {', '.join(unknown)}.", {"kinds": unknown}, code="unknown_kind")
    prefs = prefs_of(session, account_id)
    if email_on is not None:
        prefs.email_on = email_on
    if kinds:
        off = set(prefs.kinds_off)
        for kind, on in kinds.items():
            (off.discard if on else off.add)(kind)
        prefs.kinds_off = sorted(off)
    session.flush()
    return prefs


def unsubscribe(session: Session, account_id: int, kind: str) -> None:
    if kind in {k.value for k in CHOOSABLE}:
        set_prefs(session, account_id, None, {kind: False})


def ask_confirmation(session: Session, account_id: int, email: str, now: dt.datetime) -> bool:
    """Queue a confirmation link for the account's address (at most one an hour); False if one was queued."""
    return outbox.record(session, account_id, Kind.EMAIL_CONFIRM, f"email:{email}:{now:%Y%m%d%H}", now,
                         {"email": email}) is not None


def confirm(session: Session, account: Any, email: str, now: dt.datetime) -> bool:
    """Mark the address confirmed if it is still the account's; False when it is not."""
    if account is None or account.email != email:
        return False
    prefs = prefs_of(session, account.id)
    prefs.confirmed_email, prefs.confirmed_at = email, now
    session.flush()
    return True


# --- webhooks -----------------------------------------------------------------------------------------------

def endpoint_json(endpoint: WebhookEndpoint, with_secret: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"id": endpoint.id, "fablab_id": endpoint.fablab_id, "url": endpoint.url,
                           "events": endpoint.events, "created_at": endpoint.created_at.isoformat()}
    if with_secret:
        out["secret"] = endpoint.secret
    return out


def parse_events(raw: Any) -> list[str]:
    names = {k.value: k for k in LAB_EVENTS}
    if not isinstance(raw, list) or not raw or not all(isinstance(e, str) and e in names for e in raw):
        raise invalid(f"events is a non-empty list of: {', '.join(names)}.", {"events": list(names)},
                      code="invalid_events")
    return sorted(set(raw))


def add_endpoint(session: Session, lab_id: int, url: Any, events: Any, allow_private: bool,
                 now: dt.datetime) -> WebhookEndpoint:
    """Register a URL for some of the lab's events (the caller checked the operator); 422 when refused.

    The URL's host is resolved before the session is used: the caller should have no transaction open,
    so a slow name server holds no database lock.
    """
    if not isinstance(url, str):
        raise invalid("url is a string.", {"url": ["required"]}, code="invalid_url")
    chosen = parse_events(events)
    try:
        webhooks.check_url(url, allow_private)
    except webhooks.RefusedUrl as exc:
        raise invalid(f"This URL cannot receive webhooks: {exc}.", {"url": [str(exc)]},
                      code="webhook_url_refused") from None
    count = session.scalar(select(func.count()).select_from(WebhookEndpoint)
                           .where(WebhookEndpoint.fablab_id == lab_id, WebhookEndpoint.active.is_(True))) or 0
    if count >= webhooks.MAX_ENDPOINTS_PER_LAB:
        raise ApiError(422, "too_many_webhooks", f"A lab may have at most {webhooks.MAX_ENDPOINTS_PER_LAB} webhooks.")
    endpoint = WebhookEndpoint(fablab_id=lab_id, url=url, events=chosen, secret=webhooks.new_secret(),
                               active=True, created_at=now)
    session.add(endpoint)
    session.flush()
    return endpoint


def endpoints_of(session: Session, lab_id: int) -> list[WebhookEndpoint]:
    return list(session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.fablab_id == lab_id,
                                                              WebhookEndpoint.active.is_(True))
                                .order_by(WebhookEndpoint.id)))


def remove_endpoint(session: Session, lab_id: int, endpoint_id: int) -> None:
    """Stop an endpoint (kept, inactive, so its delivery log stays readable); 404 for another lab's."""
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.fablab_id != lab_id or not endpoint.active:
        raise not_found("webhook")
    endpoint.active = False
    session.flush()


def delivery_log(session: Session, lab_id: int, limit: int = DELIVERY_LOG) -> list[dict[str, Any]]:
    """The lab's latest webhook deliveries, newest first."""
    rows = session.execute(select(Delivery, Notification, WebhookEndpoint)
                           .join(Notification, Notification.id == Delivery.notification_id)
                           .join(WebhookEndpoint, WebhookEndpoint.id == Delivery.endpoint_id)
                           .where(Delivery.channel == Channel.WEBHOOK, WebhookEndpoint.fablab_id == lab_id)
                           .order_by(Delivery.id.desc()).limit(limit))
    return [{"id": d.id, "endpoint_id": e.id, "url": e.url, "event": LAB_EVENTS[n.kind], "state": d.state.value,
             "attempts": d.attempts, "response_status": d.response_status, "last_error": d.last_error,
             "created_at": d.created_at.isoformat(), "sent_at": d.sent_at.isoformat() if d.sent_at else None,
             "next_attempt_at": d.next_attempt_at.isoformat()} for d, n, e in rows]
