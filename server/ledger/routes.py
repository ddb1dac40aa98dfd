"""The ledger's public API: the chain, page by page, and the rule set in force."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from server.edge import db
from server.errors import invalid
from server.input_rules import MAX_DB_INT
from server.ledger import service

bp = Blueprint("ledger_api", __name__, url_prefix="/api/v1/ledger")

MAX_LIMIT = 1000


def _int_arg(name: str, default: int, lo: int, hi: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = lo - 1
    if not lo <= value <= hi:
        raise invalid(f"{name} must be an integer from {lo} to {hi}.", {name: [f"from {lo} to {hi}"]}, code="invalid_query")
    return value


@bp.get("/events")
def events() -> dict[str, Any]:
    """``?after=seq&limit=n``: the events after ``after`` (default 0), at most ``limit`` (default 100, at most 1000),
    with the head of the whole chain; ``next_after`` is the ``after`` of the next page (null: this was the last)."""
    after = _int_arg("after", 0, 0, MAX_DB_INT)
    limit = _int_arg("limit", 100, 1, MAX_LIMIT)
    session = db()
    head = service.head(session)  # read first: every event of the page is at or before it
    rows = service.page(session, after, limit)
    items = [service.event_json(r) for r in rows]
    more = bool(rows) and rows[-1].hash != head
    return {"items": items, "head": head, "next_after": rows[-1].seq if more else None}


@bp.get("/rules")
def rules() -> dict[str, Any]:
    return service.rules_in_force().public()
