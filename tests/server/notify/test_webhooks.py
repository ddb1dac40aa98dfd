"""Webhooks for labs: registered by the operator, signed per Standard Webhooks, retried, refused inside networks."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json

import pytest

from server.db import utcnow
from server.notify import sender
from server.notify.config import NotifySettings
from tests.server.notify.receivers import http_receiver
from tests.server.orderflow import Lab, order, publish


def settings(allow_private: bool) -> NotifySettings:
    return NotifySettings(smtp=None, mail_from="", allow_private_webhooks=allow_private)


@pytest.fixture
def world(app, client, make_user):
    designer, operator, citizen = make_user("designer"), make_user("operator"), make_user("citizen")
    design = publish(designer)
    lab = Lab(client, operator, "Near lab", 41.3874, 2.1686)
    app.extensions["cosmoloc.notify"] = settings(True)
    return {"operator": operator, "citizen": citizen, "design": design, "lab": lab, "hub": app.extensions["cosmoloc.hub"]}


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The receiver's side of Standard Webhooks, written from the specification."""
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(sig.split(",", 1) == ["v1", expected] for sig in headers["webhook-signature"].split())


def test_an_offer_reaches_the_labs_webhook_signed_once(app, world):
    operator, lab, hub = world["operator"], world["lab"], world["hub"]
    with http_receiver() as (received, port):
        r = operator.post(f"/api/v1/fablabs/{lab.id}/webhooks",
                          json={"url": f"http://127.0.0.1:{port}/hooks?lab=1", "events": ["offer_made", "job_withdrawn"]})
        assert r.status_code == 201, r.get_json()
        endpoint = r.get_json()
        assert endpoint["secret"].startswith("whsec_") and endpoint["events"] == ["job_withdrawn", "offer_made"]
        listed = operator.get(f"/api/v1/fablabs/{lab.id}/webhooks").get_json()["items"]
        assert [e["id"] for e in listed] == [endpoint["id"]] and "secret" not in listed[0]  # shown once
        o = order(world["citizen"], world["design"]).get_json()
        assert received.requests == []  # not sent within the request
        sender.delivery_round(hub, app.extensions["cosmoloc.notify"])
        sender.delivery_round(hub, app.extensions["cosmoloc.notify"])
        assert len(received.requests) == 1
        headers, body = received.requests[0]
        assert verify(endpoint["secret"], headers, body)
        assert not verify("whsec_" + base64.b64encode(b"x" * 32).decode(), headers, body)
        assert abs(int(headers["webhook-timestamp"]) - utcnow().timestamp()) < 60
        payload = json.loads(body)
        assert payload["type"] == "offer.created" and payload["data"]["order_id"] == o["id"]
        assert payload["data"]["fablab_id"] == lab.id and payload["data"]["expires_at"]
        log = operator.get(f"/api/v1/fablabs/{lab.id}/webhooks/deliveries").get_json()["items"]
        assert [(d["event"], d["state"], d["response_status"]) for d in log] == [("offer.created", "sent", 200)]
        # another operator sees none of it
        stranger = world["citizen"]
        assert stranger.get(f"/api/v1/fablabs/{lab.id}/webhooks").status_code == 403


def test_a_failing_receiver_is_retried_with_backoff_then_given_up(app, world):
    operator, lab, hub = world["operator"], world["lab"], world["hub"]
    with http_receiver() as (received, port):
        received.answers = [500, 503]
        r = operator.post(f"/api/v1/fablabs/{lab.id}/webhooks",
                          json={"url": f"http://127.0.0.1:{port}/", "events": ["offer_made"]})
        assert r.status_code == 201
        order(world["citizen"], world["design"])
        now = utcnow()
        notify = app.extensions["cosmoloc.notify"]
        sender.delivery_round(hub, notify, now)
        sender.delivery_round(hub, notify, now + dt.timedelta(seconds=2))  # not due yet: 5 s after the first
        assert len(received.requests) == 1
        sender.delivery_round(hub, notify, now + dt.timedelta(seconds=6))
        sender.delivery_round(hub, notify, now + dt.timedelta(seconds=6 + 301))
        assert len(received.requests) == 3
        ids = {h["webhook-id"] for h, _ in received.requests}
        assert len(ids) == 1  # the same message id on every attempt, so the receiver can drop repeats
        log = operator.get(f"/api/v1/fablabs/{lab.id}/webhooks/deliveries").get_json()["items"]
        assert log[0]["state"] == "sent" and log[0]["attempts"] == 3

        received.answers = [500] * 20
        order(world["citizen"], world["design"])
        at = now
        for delay in (0, *sender.RETRY_DELAYS_S):
            at += dt.timedelta(seconds=delay + 1)
            sender.delivery_round(hub, notify, at)
        assert (at - now) > dt.timedelta(hours=24)
        log = operator.get(f"/api/v1/fablabs/{lab.id}/webhooks/deliveries").get_json()["items"]
        assert log[0]["state"] == "failed" and log[0]["attempts"] == len(sender.RETRY_DELAYS_S) + 1
        assert log[0]["response_status"] == 500


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x", "http://localhost/", "http://10.1.2.3/", "http://192.168.0.1/",
                                 "http://169.254.169.254/latest/meta-data", "http://[::1]/", "http://[fc00::1]/",
                                 "http://100.64.0.1/", "http://0.0.0.0/", "http://[::ffff:127.0.0.1]/",
                                 "ftp://example.org/", "http://user:pw@example.org/", "not a url", "http://[::1/",
                                 "http://example.org:99999/", "http://%zz/"])
def test_webhooks_inside_networks_are_refused(url):
    from server.notify import webhooks

    with pytest.raises(webhooks.RefusedUrl):
        webhooks.check_url(url, allow_private=False)
    answer = webhooks.post(url, "whsec_" + base64.b64encode(b"k" * 32).decode(), "msg_1", 0, b"{}", False)
    assert answer.status is None and answer.error.startswith("refused:")


def test_the_api_refuses_a_loopback_webhook_and_says_why(app, world):
    app.extensions["cosmoloc.notify"] = settings(False)
    r = world["operator"].post(f"/api/v1/fablabs/{world['lab'].id}/webhooks",
                               json={"url": "http://127.0.0.1:8080/", "events": ["offer_made"]})
    assert r.status_code == 422 and r.get_json()["code"] == "webhook_url_refused"
    assert "127.0.0.1" in r.get_json()["detail"]


def test_an_address_that_turns_private_after_registration_is_refused_at_send_time(app, world):
    """As with DNS rebinding: the host is resolved and checked again at each send."""
    operator, lab, hub = world["operator"], world["lab"], world["hub"]
    with http_receiver() as (received, port):
        r = operator.post(f"/api/v1/fablabs/{lab.id}/webhooks",
                          json={"url": f"http://127.0.0.1:{port}/", "events": ["offer_made"]})
        assert r.status_code == 201
        order(world["citizen"], world["design"])
        sender.delivery_round(hub, settings(False))
        assert received.requests == []
        log = operator.get(f"/api/v1/fablabs/{lab.id}/webhooks/deliveries").get_json()["items"]
        assert log[0]["state"] == "pending" and log[0]["last_error"].startswith("refused:")


def test_bad_registrations_and_the_bound_per_lab(app, world):
    operator, lab = world["operator"], world["lab"]
    base = f"/api/v1/fablabs/{lab.id}/webhooks"
    r = operator.post(base, json={"url": "http://127.0.0.1:1/", "events": ["order_ready"]})
    assert r.status_code == 422 and r.get_json()["code"] == "invalid_events"
    r = operator.post(base, json={"url": "http://127.0.0.1:1/", "events": []})
    assert r.status_code == 422 and r.get_json()["code"] == "invalid_events"
    assert operator.post(base, json=["x"]).status_code == 422
    made = [operator.post(base, json={"url": f"http://127.0.0.1:1/{i}", "events": ["offer_made"]}) for i in range(10)]
    assert {m.status_code for m in made} == {201}
    r = operator.post(base, json={"url": "http://127.0.0.1:1/x", "events": ["offer_made"]})
    assert r.status_code == 422 and r.get_json()["code"] == "too_many_webhooks"
    r = operator.post(base, json={"url": "http://[::1/", "events": ["offer_made"]})
    assert r.status_code == 422 and r.get_json()["code"] == "webhook_url_refused"
    first = made[0].get_json()["id"]
    assert operator.client.delete(f"{base}/{first}", headers=operator.headers).status_code == 204
    assert operator.client.delete(f"{base}/{first}", headers=operator.headers).status_code == 404
    assert operator.post(base, json={"url": "http://127.0.0.1:1/x", "events": ["offer_made"]}).status_code == 201


def test_the_dashboard_page_lists_webhooks_and_deliveries(app, client, world):
    operator, lab, hub = world["operator"], world["lab"], world["hub"]
    app.config["WTF_CSRF_ENABLED"] = False
    assert client.post("/login", data={"email": operator.email, "password": "correct horse battery"}).status_code in (302, 303)
    with http_receiver() as (received, port):
        page = client.post(f"/dashboard/labs/{lab.id}/webhooks",
                           data={"url": f"http://127.0.0.1:{port}/", "event": ["offer_made"]})
        assert page.status_code == 200 and b"whsec_" in page.data and page.headers["Cache-Control"] == "no-store"
        order(world["citizen"], world["design"])
        sender.delivery_round(hub, app.extensions["cosmoloc.notify"])
        assert client.post(f"/dashboard/labs/{lab.id}/webhooks", data={"remove": "x"}).status_code == 200
        page = client.get(f"/dashboard/labs/{lab.id}/webhooks")
        assert b"offer.created" in page.data and b"sent" in page.data and b"whsec_" not in page.data
