"""A short account of what the hub's orders go through, for a console (``cosmoloc demo``).

Read from the orders' events in the database, so it tells what every process of the hub did
(placed, offered, accepted, made, received...), one line each, instead of the access log's line
for every heartbeat.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from server.db import Database

#: the events worth a line, and how they read
PHRASES: dict[str, str] = {
    "created": "placed",
    "offered": "offered to {fablab_name} ({distance_km} km)",
    "unmatched": "no lab can make it yet",
    "accepted": "accepted by lab {fablab_id}",
    "declined": "declined by lab {fablab_id}: {reason}",
    "expired": "offer expired",
    "in_production": "in production",
    "completed": "made",
    "failed_at_lab": "failed at the lab",
    "received": "received by the citizen",
    "cancelled": "cancelled",
    "rejected": "rejected: its file did not pass validation",
}


def describe(order_id: int, kind: str, detail: dict[str, Any]) -> str | None:
    phrase = PHRASES.get(kind)
    if phrase is None:
        return None
    try:
        text = phrase.format(**detail)
    except (KeyError, IndexError, ValueError):
        text = phrase.split(" {")[0].split(" (")[0].rstrip(":")
    return f"order {order_id}: {text}"


def since(db: Database, after_id: int) -> tuple[list[str], int]:
    """The lines of the events after ``after_id``, and the last event id read."""
    from server.orders.models import OrderEvent

    with db.session() as session:
        rows = session.execute(select(OrderEvent.id, OrderEvent.order_id, OrderEvent.kind, OrderEvent.detail)
                               .where(OrderEvent.id > after_id).order_by(OrderEvent.id).limit(500)).all()
    lines = [line for _id, order_id, kind, detail in rows if (line := describe(order_id, kind, detail or {}))]
    return lines, (rows[-1][0] if rows else after_id)


def latest_id(db: Database) -> int:
    from sqlalchemy import func

    from server.orders.models import OrderEvent

    with db.session() as session:
        return int(session.scalar(select(func.max(OrderEvent.id))) or 0)


def follow(database_url: str, say: Callable[[str], None], interval_s: float = 2.0) -> threading.Event:
    """Print each new order event's line every ``interval_s`` seconds on a daemon thread; set the event to stop."""
    stop = threading.Event()

    def run() -> None:
        db = Database(database_url)
        try:
            last = latest_id(db)
            while not stop.wait(interval_s):
                try:
                    lines, last = since(db, last)
                except Exception as exc:  # the console summary never stops the demo
                    say(f"(activity unavailable: {type(exc).__name__})")
                    continue
                for line in lines:
                    say(line)
        finally:
            db.dispose()

    threading.Thread(target=run, name="cosmoloc-activity", daemon=True).start()
    return stop
