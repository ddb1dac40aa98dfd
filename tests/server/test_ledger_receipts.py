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
