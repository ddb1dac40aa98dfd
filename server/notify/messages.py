"""What each kind of notification says: a subject, paragraphs and links, as plain text and as HTML."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from markupsafe import escape

from server.notify.models import Kind


@dataclass
class Message:
    subject: str
    paragraphs: list[str]
    links: list[tuple[str, str]] = field(default_factory=list)  # (label, absolute URL)


def _time_left(detail: dict[str, Any], now: dt.datetime) -> str:
    try:
        expires_at = dt.datetime.fromisoformat(str(detail.get("expires_at")))
    except ValueError:
        return "a few minutes"
    minutes = max(0, int((expires_at - now).total_seconds() // 60))
    return "less than a minute" if minutes < 1 else f"{minutes} minute{'s' if minutes != 1 else ''}"


def compose(kind: Kind, detail: dict[str, Any], base_url: str, now: dt.datetime) -> Message:
    """The message for one notification; ``detail`` is what the outbox stored with it."""
    title = detail.get("design_title") or "a design"
    order_link = ("See the order", f"{base_url}/orders/{detail.get('order_id')}")
    dashboard = ("Open the dashboard", f"{base_url}/dashboard")
    job = f"{detail.get('quantity', 1)} × “{title}” in {detail.get('material', '')}"
    if kind == Kind.OFFER_MADE:
        left = _time_left(detail, now)
        return Message(f"New offer for {detail.get('fablab_name')}: {title} ({left} to answer)",
                       [f"{detail.get('fablab_name')} has been offered a job: {job}.",
                        f"The offer is yours for {left}; after that it goes to the next lab. "
                        "Accept or decline it on the dashboard."], [dashboard])
    if kind == Kind.OFFER_EXPIRING:
        left = _time_left(detail, now)
        return Message(f"Offer ends in {left}: {title}",
                       [f"The offer to {detail.get('fablab_name')} ({job}) has not been answered.",
                        f"It ends in {left}; then the order goes to the next lab."], [dashboard])
    if kind == Kind.JOB_WITHDRAWN:
        return Message(f"Job withdrawn: {title}",
                       [f"The citizen cancelled the order; the job for {detail.get('fablab_name')} ({job}) "
                        "is withdrawn. Please do not make it."], [dashboard])
    simple: dict[Kind, tuple[str, str, tuple[str, str]]] = {
        Kind.ORDER_ACCEPTED: (f"Your order of “{title}” was accepted",
                              "A lab accepted your order and will make it.", order_link),
        Kind.ORDER_READY: (f"Your “{title}” is ready",
                           "The lab has made your part. Collect it, then confirm you received it.", order_link),
        Kind.ORDER_REOFFERED: (f"Your order of “{title}” goes to another lab",
                               f"The lab could not make it ({detail.get('reason') or 'no reason given'}); "
                               "the order is being offered to the next one.", order_link),
        Kind.ORDER_FAILED: (f"Your order of “{title}” could not be made",
                            "Every lab that tried failed; the order is closed.", order_link),
        Kind.ORDER_UNMATCHED: (f"No lab can make “{title}” yet",
                               f"No lab within {detail.get('max_distance_km', '?')} km can make it now. "
                               "The hub keeps trying as labs become free.", order_link),
        Kind.CONFIRM_RECEIPT: (f"Did you receive “{title}”?",
                               "Your part was made a few days ago. Please confirm you received it: "
                               "it tells the designer and the lab their work arrived.", order_link),
        Kind.DESIGN_REMIXED: (f"“{title}” was remixed",
                              f"A new design, “{detail.get('remix_title')}”, remixes yours.",
                              ("See the remix", f"{base_url}/designs/{detail.get('remix_id')}")),
        Kind.DESIGN_MADE: (f"Someone received a “{title}”",
                           "A citizen confirmed they received a part made from your design.",
                           ("See the design", f"{base_url}/designs/{detail.get('design_id')}")),
    }
    if kind in simple:
        subject, text, link = simple[kind]
        return Message(subject, [text], [link])
    if kind == Kind.EMAIL_CONFIRM:
        return Message("Confirm your email address for cosmoloc",
                       ["Follow this link to confirm that this address is yours. Until you do, "
                        "cosmoloc sends it nothing else.", "The link works for a week."],
                       [("Confirm my address", str(detail.get("confirm_url")))])
    raise ValueError(f"no message for {kind}")


def email(message: Message, sender: str, to: str, unsubscribe_url: str | None, settings_url: str) -> EmailMessage:
    """An email with a plain-text and an HTML part; with RFC 8058 one-click unsubscribe when given a URL."""
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = sender
    mail["To"] = to
    text = "\n\n".join(message.paragraphs + [f"{label}: {url}" for label, url in message.links])
    footer = f"Choose what cosmoloc sends you: {settings_url}"
    if unsubscribe_url:
        mail["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        footer += f"\nStop this kind of message: {unsubscribe_url}"
    mail.set_content(f"{text}\n\n-- \n{footer}\n")
    html = "".join(f"<p>{escape(p)}</p>" for p in message.paragraphs)
    html += "".join(f'<p><a href="{escape(url)}">{escape(label)}</a></p>' for label, url in message.links)
    html += f'<hr><p><small><a href="{escape(settings_url)}">Choose what cosmoloc sends you</a>'
    if unsubscribe_url:
        html += f' · <a href="{escape(unsubscribe_url)}">Stop this kind of message</a>'
    html += "</small></p>"
    mail.add_alternative(f"<!doctype html><html><body>{html}</body></html>", subtype="html")
    return mail
