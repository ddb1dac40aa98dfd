"""The demo's console summary: one line per step of an order, read from the database."""
from __future__ import annotations

from typing import Any

from server import activity
from tests.server.orderflow import BARCELONA, Lab, order, publish


def test_an_order_reads_as_placed_offered_accepted_made(app: Any, client: Any, make_user: Any) -> None:
    db = app.extensions["cosmoloc.db"]
    start = activity.latest_id(db)
    designer, operator, citizen = make_user("designer"), make_user("operator"), make_user("citizen")
    lab = Lab(client, operator, "Fab Lab Poblenou", BARCELONA[0], BARCELONA[1])
    r = order(citizen, publish(designer))
    assert r.status_code == 201
    order_id = r.get_json()["id"]
    job = lab.jobs("offered")[0]
    assert lab.post(job["id"], "accept", machine_key="p1").status_code == 200
    assert lab.post(job["id"], "complete").status_code == 200
    lines, last = activity.since(db, start)
    assert lines[0] == f"order {order_id}: placed"
    assert lines[1].startswith(f"order {order_id}: offered to Fab Lab Poblenou (")
    assert f"order {order_id}: accepted by lab {lab.id}" in lines
    assert lines[-1] == f"order {order_id}: made"
    assert activity.since(db, last) == ([], last)  # nothing new: nothing said again
