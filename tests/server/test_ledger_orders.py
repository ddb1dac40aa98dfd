"""An order with an agreed price, made and confirmed through the API, pays its lineage; its value receipt is shown
to its citizen, its lab and its payees, and the exported chain recomputes to it."""
from __future__ import annotations

from design_commons.ledger import recompute
from server.designs.models import Design
from server.fablabs.models import Fablab
from server.ledger import receipts
from tests.server.orderflow import BARCELONA, Lab, order
from tests.server.test_designs import cube_stl, publish


def _accepted_order(client, make_user):  # noqa: ANN202
    alice, bob = make_user("Alice"), make_user("Bob")
    original = publish(alice, [("cube.stl", cube_stl())], title="Lid").get_json()
    remix = publish(bob, [("cube.stl", cube_stl(22))], title="Lid, wider", derived_from=str(original["id"])).get_json()
    operator, citizen = make_user("Operator"), make_user("Citizen")
    lab = Lab(client, operator, "Near lab", *BARCELONA)
    placed = order(citizen, remix)
    assert placed.status_code == 201, placed.get_json()
    job = lab.jobs("offered")[0]
    assert lab.post(job["id"], "accept", machine_key="p1").status_code == 200
    return {"alice": alice, "bob": bob, "operator": operator, "citizen": citizen, "lab": lab, "job": job,
            "order": placed.get_json(), "remix": remix}


def test_a_priced_order_pays_its_lineage_when_received(app, client, make_user) -> None:
    w = _accepted_order(client, make_user)
    order_id = w["order"]["id"]
    db = app.extensions["cosmoloc.db"]
    with db.session() as s:  # what the quotes work does when a lab accepts at a price
        receipts.quote_agreed(s, order_id, s.get(Design, w["remix"]["id"]), s.get(Fablab, w["lab"].id), 4000, "EUR")
    early = w["citizen"].get(f"/api/v1/orders/{order_id}/value")
    assert early.status_code == 409 and early.get_json()["code"] == "not_received"
    assert w["lab"].post(w["job"]["id"], "complete").status_code == 200
    assert w["citizen"].post(f"/api/v1/orders/{order_id}/confirm").status_code == 200

    value = w["citizen"].get(f"/api/v1/orders/{order_id}/value")
    assert value.status_code == 200, value.get_json()
    body = value.get_json()
    assert body["price"] == 4000 and body["currency"] == "EUR" and body["contribution"] == 200
    # no build report yet, so no lab share: Bob keeps half, Alice's original gets the other half
    assert [(c["payee"]["name"], c["role"], c["generation"], c["amount"]) for c in body["claims"]] == [
        ("Bob", "designer", 0, 100), ("Alice", "ancestor", 1, 100)]
    assert sum(c["amount"] for c in body["claims"]) == body["contribution"]
    for viewer in ("alice", "bob", "operator"):
        assert w[viewer].get(f"/api/v1/orders/{order_id}/value").get_json() == body
    assert make_user("Stranger").get(f"/api/v1/orders/{order_id}/value").status_code == 404

    chain = client.get("/api/v1/ledger/events?limit=1000").get_json()
    kinds = [e["kind"] for e in chain["items"] if (e["resource"] or {}).get("kind") == "order"]
    assert kinds == ["quote_agreed", "part_made", "part_received", "claim", "claim"]
    assert set(body["event_hashes"]) <= {e["hash"] for e in chain["items"]}
    replay = recompute(chain["items"], head=chain["head"])
    assert replay.ok, replay.problems
    assert [c.amount for c in replay.receipts[order_id].claims] == [100, 100]
    assert w["citizen"].post(f"/api/v1/orders/{order_id}/confirm").status_code == 200  # again: nothing new
    assert client.get("/api/v1/ledger/events?limit=1000").get_json()["head"] == chain["head"]


def test_an_order_without_an_agreed_price_contributes_nothing(client, make_user) -> None:
    w = _accepted_order(client, make_user)
    order_id = w["order"]["id"]
    assert w["lab"].post(w["job"]["id"], "complete").status_code == 200
    assert w["citizen"].post(f"/api/v1/orders/{order_id}/confirm").status_code == 200
    r = w["citizen"].get(f"/api/v1/orders/{order_id}/value")
    assert r.status_code == 409 and r.get_json()["code"] == "no_agreed_price"
    items = client.get("/api/v1/ledger/events?limit=1000").get_json()["items"]
    assert [e for e in items if (e["resource"] or {}).get("kind") == "order"] == []


def test_a_value_choice_sends_the_shares_where_it_says_and_earnings_add_up(app, client, make_user) -> None:
    w = _accepted_order(client, make_user)
    order_id = w["order"]["id"]
    bad = [{"redirect_to": "somewhere"}, {"redirect_to": w["bob"].id}, {"redirect_to": 2**40}, {"redirect_to": 1.5}, {}]
    for body in bad:
        r = w["bob"].client.put("/api/v1/accounts/me/value-choice", json=body, headers=w["bob"].headers)
        assert r.status_code == 422 and r.mimetype == "application/problem+json", body
    r = w["bob"].client.put("/api/v1/accounts/me/value-choice", json={"redirect_to": "fund"}, headers=w["bob"].headers)
    assert r.status_code == 200 and r.get_json()["redirect_to"] == "fund"
    db = app.extensions["cosmoloc.db"]
    with db.session() as s:
        receipts.quote_agreed(s, order_id, s.get(Design, w["remix"]["id"]), s.get(Fablab, w["lab"].id), 2500, "EUR")
    assert w["lab"].post(w["job"]["id"], "complete").status_code == 200
    assert w["citizen"].post(f"/api/v1/orders/{order_id}/confirm").status_code == 200
    body = w["citizen"].get(f"/api/v1/orders/{order_id}/value").get_json()
    assert body["contribution"] == 125
    got = [(c["payee"]["kind"], c["redirected_from"]["name"] if c["redirected_from"] else None, c["amount"])
           for c in body["claims"]]
    # 62.5 each: a tie of remainders goes to accounts before the fund
    assert got == [("fund", "Bob", 62), ("account", None, 63)]
    assert w["bob"].get(f"/api/v1/orders/{order_id}/value").status_code == 200  # Bob chose where his share went
    alice = w["alice"].get("/api/v1/accounts/me/earnings").get_json()
    assert alice["currency_totals"] == {"EUR": 63} and [i["order_id"] for i in alice["items"]] == [order_id]
    assert w["bob"].get("/api/v1/accounts/me/earnings").get_json() == {"currency_totals": {}, "items": []}
    fund = client.get("/ledger/fund").get_data(as_text=True)
    assert 'data-testid="fund-EUR">€0.62<' in fund and "chosen by Bob" in fund
    later = w["alice"].get("/api/v1/accounts/me/earnings?from=2999-01-01").get_json()
    assert later["items"] == []
    assert w["alice"].get("/api/v1/accounts/me/earnings?from=yesterday").status_code == 422
    chain = client.get("/api/v1/ledger/events?limit=1000").get_json()
    assert recompute(chain["items"], head=chain["head"]).ok


def _web_sign_in(client, user) -> None:
    """A browser session for the account (the pages use the session cookie, not bearer tokens)."""
    client.application.config["WTF_CSRF_ENABLED"] = False
    r = client.post("/login", data={"email": user.email, "password": "correct horse battery"})
    assert r.status_code in (302, 303), r.status_code


def test_the_receipt_and_earnings_pages(app, client, make_user) -> None:
    w = _accepted_order(client, make_user)
    order_id = w["order"]["id"]
    db = app.extensions["cosmoloc.db"]
    with db.session() as s:
        receipts.quote_agreed(s, order_id, s.get(Design, w["remix"]["id"]), s.get(Fablab, w["lab"].id), 4500, "EUR")
    assert w["lab"].post(w["job"]["id"], "complete").status_code == 200
    assert w["citizen"].post(f"/api/v1/orders/{order_id}/confirm").status_code == 200

    _web_sign_in(client, w["alice"])
    page = client.get(f"/ledger/orders/{order_id}").get_data(as_text=True)
    assert 'data-testid="contribution">€2.25<' in page  # 5 % of 45.00 EUR
    assert "Lid, wider" in page and "passed up</span> <strong>€1.125</strong>" in page  # Bob's remix passes half to Alice's
    assert page.count("€1.12") >= 2 and "€1.13" in page  # 112.5 cents each: the lower account id (Alice) gets 113
    earned = client.get("/ledger/earnings").get_data(as_text=True)
    assert 'data-testid="total-EUR">€1.13<' in earned and "Lid</a>" in earned
    csv_rows = client.get("/ledger/earnings.csv").get_data(as_text=True).strip().splitlines()
    assert csv_rows[0].startswith("seq,at,kind,order_id") and csv_rows[1].split(",")[7] == "113" and len(csv_rows) == 2

    client.post("/logout")
    _web_sign_in(client, make_user("Stranger"))
    assert client.get(f"/ledger/orders/{order_id}").status_code == 404
    assert "Nothing yet" in client.get("/ledger/earnings").get_data(as_text=True)
