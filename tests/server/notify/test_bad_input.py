"""Bad input to the notification routes gets problem+json with a stable code (or a plain page), never a 500."""
from __future__ import annotations

from tests.server.orderflow import Lab


def test_preferences_and_links_refuse_bad_input(client, make_user):
    user = make_user("someone")
    put = lambda body: user.client.put("/api/v1/accounts/me/notifications", json=body, headers=user.headers)  # noqa: E731
    for body, code in (([1], "invalid_body"), ({"email_on": "yes"}, "invalid_input"),
                       ({"kinds": ["offer_made"]}, "invalid_input"), ({"kinds": {"offer_made": 1}}, "invalid_input"),
                       ({"kinds": {"email_confirm": False}}, "unknown_kind")):
        r = put(body)
        assert r.status_code == 422 and r.get_json()["code"] == code, (body, r.get_json())
    assert client.get("/api/v1/accounts/me/notifications").status_code == 401
    assert user.get("/api/v1/accounts/me/notifications").get_json()["kinds"]["offer_made"] is True
    assert client.post("/api/v1/notifications/unsubscribe/" + "x" * 300).status_code == 404
    assert client.get("/notifications/unsubscribe/nope").status_code == 404
    page = client.get("/notifications/confirm/nope")
    assert page.status_code == 400 and b"This link does not work" in page.data


def test_webhook_routes_refuse_bad_input(client, make_user):
    operator, other = make_user("operator"), make_user("other")
    lab = Lab(client, operator, "Lab", 41.3874, 2.1686)
    base = f"/api/v1/fablabs/{lab.id}/webhooks"
    assert client.get(base).status_code == 401
    assert other.get(base).get_json()["code"] == "not_operator"
    assert operator.get("/api/v1/fablabs/99999/webhooks").status_code == 404
    assert operator.get("/api/v1/fablabs/99999999999/webhooks").status_code == 404
    for body, code in (({"url": 5, "events": ["offer_made"]}, "invalid_url"), ({"events": ["offer_made"]}, "invalid_url"),
                       ({"url": "http://example.org/", "events": "offer_made"}, "invalid_events"),
                       ({"url": "http://example.org/" + "a" * 3000, "events": ["offer_made"]}, "webhook_url_refused")):
        r = operator.post(base, json=body)
        assert r.status_code == 422 and r.get_json()["code"] == code, (body, r.get_json())
    assert operator.client.delete(f"{base}/12345", headers=operator.headers).status_code == 404
    assert operator.get(f"{base}/deliveries").get_json() == {"items": []}
