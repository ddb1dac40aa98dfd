"""Placing a matched order costs a fixed, small number of SQL statements (SQLite and PostgreSQL).

A user never sees the count, but every statement is a round trip to PostgreSQL: this holds the order path
at its figure so that a lazy load or an extra flush does not creep back in unnoticed.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from tests.server.orderflow import Lab, order, publish

# the token's account, the citizen's bounds (their account row locked, with the counts of their orders), the
# design with its file, the labs in reach, their facts and machines, then one INSERT
# each into orders, jobs and order_events (SQLite writes the two events one by one: it cannot return the ids
# of a multi-row INSERT in order), then the notifications of the offer and the order (their recipients and one
# INSERT ... ON CONFLICT into the outbox each)
MATCHED_ORDER_STATEMENTS = {"postgresql": 12, "sqlite": 13}


@contextmanager
def statements(app: Any) -> Iterator[list[str]]:
    """The SQL statements the hub's engine sends inside the block, transaction control aside."""
    engine = app.extensions["cosmoloc.db"].engine
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_placing_a_matched_order_takes_few_statements(app, client, make_user):
    designer, operator, citizen = make_user("designer"), make_user("operator"), make_user("citizen")
    design = publish(designer)
    near = Lab(client, operator, "Near lab", 41.3874, 2.1686)
    Lab(client, operator, "Far lab", 41.6176, 0.6200)
    order(citizen, design)  # a first order, so that the next one is not the first of anything

    with statements(app) as seen:
        r = order(citizen, design)

    o = r.get_json()
    assert r.status_code == 201 and o["status"] == "offered", o
    assert o["fablab"]["id"] == near.id and o["fablab"]["name"] == "Near lab" and o["job"]["state"] == "offered"
    assert [e["kind"] for e in o["events"]] == ["created", "offered"]
    assert sorted(j["order_id"] for j in near.jobs("offered")) == [o["id"] - 1, o["id"]]
    limit = MATCHED_ORDER_STATEMENTS[app.extensions["cosmoloc.db"].engine.dialect.name]
    assert len(seen) <= limit, "\n".join(s[:160] for s in seen)
