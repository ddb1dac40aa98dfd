"""Receipts written by the hub split along the lineage in its database and replay clean from the export alone."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from design_commons.ledger import FUND, recompute
from server.designs.models import Design
from server.errors import ApiError
from server.ledger import receipts
from tests.server.test_designs import cube_stl, publish

LAB = SimpleNamespace(id=3, name="Ateneu de Fabricació", kind="fablab")


def _chain(client) -> tuple[list[dict], str]:
    body = client.get("/api/v1/ledger/events?limit=1000").get_json()
    return body["items"], body["head"]


@pytest.fixture
def remixes(client, make_user) -> dict[str, int]:
    """Carol's remix of Bob's remix of Alice's design."""
    ids = {}
    parent = None
    for name in ("Alice", "Bob", "Carol"):
        form = {"title": f"{name}'s lid"} | ({"derived_from": str(parent)} if parent else {})
        parent = ids[name] = publish(make_user(name), [("cube.stl", cube_stl())], **form).get_json()["id"]
    return ids


def test_a_received_order_pays_the_lab_and_the_lineage_and_verifies(app, client, remixes) -> None:
    db = app.extensions["cosmoloc.db"]
    with db.session() as s:
        receipts.quote_agreed(s, 71, s.get(Design, remixes["Carol"]), LAB, 4000, "EUR")
        receipts.part_made(s, 71, LAB, report_complete=True)
    with db.session() as s:
        receipt = receipts.part_received(s, 71)
    got = {(c.payee.name, c.role, c.generation): c.amount for c in receipt.claims}
    assert got == {("Ateneu de Fabricació", "lab", None): 20, ("Carol", "designer", 0): 90, ("Bob", "ancestor", 1): 45,
                   ("Alice", "ancestor", 2): 45}
    events, head = _chain(client)
    replay = recompute(events, head=head)
    assert replay.ok, replay.problems
    assert replay.receipts[71].claims == receipt.claims
    with db.session() as s, pytest.raises(ApiError) as again:
        receipts.part_received(s, 71)
    assert again.value.code == "already_received"


def test_a_refund_nets_to_zero_and_still_verifies(app, client, remixes) -> None:
    db = app.extensions["cosmoloc.db"]
    with db.session() as s:
        receipts.quote_agreed(s, 72, s.get(Design, remixes["Bob"]), LAB, 1999, "EUR")
        receipts.part_received(s, 72, redirects={})
    with db.session() as s:
        reversed_ = receipts.refund(s, 72, "refund")
    assert sum(c.amount for c in reversed_) == -100  # 5 % of 19.99 EUR, half up
    events, head = _chain(client)
    replay = recompute(events, head=head)
    assert replay.ok, replay.problems
    assert replay.receipts[72].reversed
    net: dict = {}
    for e in events:
        if e["kind"] in ("claim", "reversal"):
            net[e["receiver"]["id"]] = net.get(e["receiver"]["id"], 0) + e["quantity"]["amount"]
    assert set(net.values()) == {0}


def test_a_redirect_and_no_report_and_no_price(app, client, remixes, make_user) -> None:
    db = app.extensions["cosmoloc.db"]
    with db.session() as s, pytest.raises(ApiError) as none:
        receipts.part_received(s, 73)
    assert none.value.code == "no_agreed_price"
    with db.session() as s:
        carol = s.get(Design, remixes["Carol"])
        receipts.quote_agreed(s, 73, carol, LAB, 10_000, "EUR")
        receipt = receipts.part_received(s, 73, redirects={carol.owner_id: FUND})
    assert all(c.payee.kind != "fablab" for c in receipt.claims)  # no build report: no lab share
    assert [(c.payee, c.amount) for c in receipt.claims if c.redirected_from] == [(FUND, 250)]
    events, head = _chain(client)
    assert recompute(events, head=head).ok


def test_a_remix_of_several_designs_with_weights_pays_a_diamond(app, client, make_user) -> None:
    """Carol's remix of Bob's remix of Alice's and Dan's originals (the worked example), and a diamond on top."""
    alice, dan, bob, carol, erin = (make_user(n) for n in ("Alice", "Dan", "Bob", "Carol", "Erin"))
    a = publish(alice, [("cube.stl", cube_stl())], title="A").get_json()["id"]
    d = publish(dan, [("cube.stl", cube_stl())], title="D").get_json()["id"]
    b = publish(bob, [("cube.stl", cube_stl())], title="B", derived_from=f"{a}, {d}").get_json()
    assert b["parents"] == [{"id": a, "weight": None}, {"id": d, "weight": None}] and b["derived_from"] == a
    c = publish(carol, [("cube.stl", cube_stl())], title="C", derived_from=str(b["id"])).get_json()["id"]
    db = app.extensions["cosmoloc.db"]
    with db.session() as s:
        receipts.quote_agreed(s, 80, s.get(Design, c), LAB, 4000, "EUR")
        receipts.part_made(s, 80, LAB, report_complete=True)
        got = {cl.payee.name: cl.amount for cl in receipts.part_received(s, 80).claims}
    assert got == {"Ateneu de Fabricació": 20, "Carol": 90, "Bob": 45, "Alice": 23, "Dan": 22}

    # Erin remixes C and A, weighted 3:1: A is reached directly and through C's lineage
    e = publish(erin, [("cube.stl", cube_stl())], title="E", derived_from=f"{c},{a}", parent_weights="3, 1").get_json()
    assert e["parents"] == [{"id": c, "weight": "3"}, {"id": a, "weight": "1"}]
    with db.session() as s:
        receipts.quote_agreed(s, 81, s.get(Design, e["id"]), LAB, 64_000, "EUR")  # C = 3200
        got = {cl.payee.name: cl.amount for cl in receipts.part_received(s, 81).claims}
    # Erin keeps 1600 and passes 1200 to C and 400 to A; C keeps 600, B 300; A gets 400 + 150 via B, Dan 150
    assert got == {"Erin": 1600, "Carol": 600, "Bob": 300, "Alice": 550, "Dan": 150}
    assert sum(got.values()) == 3200
    body = client.get("/api/v1/ledger/events?limit=1000").get_json()
    replay = recompute(body["items"], head=body["head"])
    assert replay.ok, replay.problems
    assert {c.payee.name: c.amount for c in replay.receipts[81].claims} == got


@pytest.mark.parametrize(("derived_from", "weights", "code"), [
    ("1,1", None, "invalid_input"), ("1,x", None, "invalid_input"), ("999", None, "unknown_design"),
    ("1", "2,3", "invalid_weights"), ("1", "-1", "invalid_weights"), ("", "1", "invalid_input"),
    (",".join(str(i) for i in range(1, 11)), None, "invalid_input")])
def test_bad_parents_are_refused_and_write_nothing(client, make_user, derived_from, weights, code) -> None:
    alice = make_user("Alice")
    publish(alice, [("cube.stl", cube_stl())], title="A")
    form = {"derived_from": derived_from} | ({"parent_weights": weights} if weights else {})
    r = publish(alice, [("cube.stl", cube_stl())], title="B", **form)
    assert r.status_code == 422 and r.get_json()["code"] == code, r.get_json()
    assert len(client.get("/api/v1/ledger/events").get_json()["items"]) == 1
