"""Email through a real SMTP server on loopback (aiosmtpd): confirmation first, parts, headers, one-click unsubscribe."""
from __future__ import annotations

import re

import pytest

from server.notify import sender
from server.notify.config import NotifySettings, Smtp
from tests.server.notify.receivers import smtp_server
from tests.server.orderflow import Lab, order, publish


@pytest.fixture
def inbox(app):
    with smtp_server() as (received, port):
        app.extensions["cosmoloc.notify"] = NotifySettings(
            smtp=Smtp("127.0.0.1", port, False, None, None), mail_from="hub@cosmoloc.example",
            allow_private_webhooks=False)
        yield received


def deliver(app) -> int:
    return sender.delivery_round(app.extensions["cosmoloc.hub"], app.extensions["cosmoloc.notify"])


def parts(message) -> tuple[str, str]:
    return (message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content())


def confirm_address(app, client, inbox, user) -> None:
    """The first notification to an address brings the confirmation link (queued by one round, sent by the next),
    and nothing else."""
    deliver(app)
    deliver(app)
    deliver(app)
    mails = inbox.to(user.email)
    assert [m["Subject"] for m in mails] == ["Confirm your email address for cosmoloc"]
    link = re.search(r"http://\S+/notifications/confirm/\S+", parts(mails[0])[0]).group(0)
    page = client.get(link.split("127.0.0.1:5000", 1)[1])
    assert page.status_code == 200 and b"Address confirmed" in page.data
    inbox.messages.clear()


def test_an_operator_gets_the_offer_once_with_time_left_and_can_unsubscribe(app, client, make_user, inbox):
    designer, operator, citizen = make_user("designer"), make_user("operator"), make_user("citizen")
    design = publish(designer)
    lab = Lab(client, operator, "Near lab", 41.3874, 2.1686)
    order(citizen, design)
    confirm_address(app, client, inbox, operator)
    assert deliver(app) == 0 and inbox.to(operator.email) == []  # the offer made before confirming was not sent

    order(citizen, design)
    assert inbox.to(operator.email) == []  # never sent within the request
    assert deliver(app) == 1 and deliver(app) == 0
    mails = inbox.to(operator.email)
    assert len(mails) == 1
    mail = mails[0]
    assert mail["From"] == "hub@cosmoloc.example" and "Near lab" in mail["Subject"]
    text, html = parts(mail)
    assert "14 minutes" in text or "15 minutes" in text
    assert "http://127.0.0.1:5000/dashboard" in text and 'href="http://127.0.0.1:5000/dashboard"' in html
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = mail["List-Unsubscribe"].strip("<>")
    assert unsubscribe.startswith("http://127.0.0.1:5000/api/v1/notifications/unsubscribe/")

    # the mail client's one-click POST: no session, no token, no CSRF
    anonymous = app.test_client()
    r = anonymous.post(unsubscribe.split("127.0.0.1:5000", 1)[1], data="List-Unsubscribe=One-Click",
                       content_type="application/x-www-form-urlencoded")
    assert r.status_code == 200 and r.get_json() == {"unsubscribed": "offer_made"}
    assert anonymous.post("/api/v1/notifications/unsubscribe/forged").status_code == 404
    inbox.messages.clear()
    order(citizen, design)
    assert deliver(app) == 0 and inbox.to(operator.email) == []
    prefs = operator.get("/api/v1/accounts/me/notifications").get_json()
    assert prefs["kinds"]["offer_made"] is False and prefs["kinds"]["offer_expiring"] is True
    assert prefs["email_confirmed"] is True and prefs["email_available"] is True
    assert lab.jobs("offered")


def test_the_citizen_hears_of_acceptance_and_preferences_turn_email_off(app, client, make_user, inbox):
    designer, operator, citizen = make_user("designer"), make_user("operator"), make_user("citizen")
    design = publish(designer)
    lab = Lab(client, operator, "Near lab", 41.3874, 2.1686)
    r = citizen.client.put("/api/v1/accounts/me/notifications", json={"kinds": {"no_such_kind": True}},
                           headers=citizen.headers)
    assert r.status_code == 422 and r.get_json()["code"] == "unknown_kind"
    order(citizen, design)
    job = lab.jobs("offered")[0]
    assert lab.post(job["id"], "accept").status_code == 200
    confirm_address(app, client, inbox, citizen)
    o2 = order(citizen, design).get_json()
    job2 = next(j for j in lab.jobs("offered") if j["order_id"] == o2["id"])
    assert lab.post(job2["id"], "accept").status_code == 200
    deliver(app)
    mails = inbox.to(citizen.email)
    assert [m["Subject"] for m in mails] == ["Your order of “Part” was accepted"]
    assert f"http://127.0.0.1:5000/orders/{o2['id']}" in parts(mails[0])[0]

    r = citizen.client.put("/api/v1/accounts/me/notifications", json={"email_on": False}, headers=citizen.headers)
    assert r.status_code == 200 and r.get_json()["email_on"] is False
    assert lab.post(job2["id"], "complete").status_code == 200
    inbox.messages.clear()
    deliver(app)
    assert inbox.to(citizen.email) == []


def test_the_settings_page_says_when_email_is_off(app, client, make_user):
    from server.notify.config import NotifySettings

    app.extensions["cosmoloc.notify"] = NotifySettings(smtp=None, mail_from="", allow_private_webhooks=False)
    user = make_user("someone")
    app.config["WTF_CSRF_ENABLED"] = False
    r = client.post("/login", data={"email": user.email, "password": "correct horse battery"})
    assert r.status_code in (302, 303), r.data[:300]
    page = client.get("/settings/notifications")
    assert page.status_code == 200 and b"Email is off on this hub" in page.data


def test_the_settings_page_sends_a_confirmation_link_and_saves_choices(app, client, make_user, inbox):
    user = make_user("someone")
    app.config["WTF_CSRF_ENABLED"] = False
    assert client.post("/login", data={"email": user.email, "password": "correct horse battery"}).status_code in (302, 303)
    page = client.get("/settings/notifications")
    assert b"not confirmed yet" in page.data and b"Email is off" not in page.data
    page = client.post("/settings/notifications", data={"action": "confirm"})
    assert b"on its way" in page.data
    assert b"less than an hour ago" in client.post("/settings/notifications", data={"action": "confirm"}).data
    assert inbox.to(user.email) == []  # queued, not sent by the request
    confirm_address(app, client, inbox, user)
    assert b"confirmed." in client.get("/settings/notifications").data
    page = client.post("/settings/notifications", data={"action": "save", "email_on": "on",
                                                        "kind": ["design_remixed", "design_made"]})
    assert b"Saved." in page.data
    kinds = user.get("/api/v1/accounts/me/notifications").get_json()["kinds"]
    assert {k for k, on in kinds.items() if on} == {"design_remixed", "design_made"}
