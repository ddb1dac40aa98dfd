"""Appending to the ledger and reading it back. Services take the session and flush; the caller commits.

There is one chain. :func:`append` takes the ledger's lock for the rest of the transaction (an
advisory transaction lock on PostgreSQL; on SQLite every writing transaction already holds the only
write lock, ``BEGIN IMMEDIATE``), reads the last event and adds the next one, so hub processes
appending at once queue for a moment and never fork the chain or leave a gap. The unique ``seq``
and ``prev`` columns would refuse a fork even if the lock were bypassed.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from design_commons.ledger import GENESIS, RuleBook, RuleSet, seal
from design_commons.ledger import events as ev
from server.db import utcnow
from server.ledger.models import LedgerEvent

#: The key of PostgreSQL's advisory lock that orders appends (any constant the hub uses for nothing else).
LOCK_KEY = 0x636F_6C65  # "cole"

_RULES: RuleBook | None = None


def rule_book() -> RuleBook:
    """Every rule version shipped with the hub (read once per process: the files never change)."""
    global _RULES
    if _RULES is None:
        _RULES = RuleBook.shipped()
    return _RULES


def rules_in_force() -> RuleSet:
    return rule_book().in_force


def timestamp(at: dt.datetime) -> str:
    """The ``at`` of an event: UTC, microseconds, ``Z`` (the form hashed, so it must never vary)."""
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})


def append(session: Session, kind: str, provider: dict[str, Any] | None = None, receiver: dict[str, Any] | None = None,
           resource: dict[str, Any] | None = None, quantity: dict[str, Any] | None = None,
           detail: dict[str, Any] | None = None) -> LedgerEvent:
    """Add the next event to the chain in the session's transaction and return it (flushed, not committed).

    ``kind`` is one of ``design_commons.ledger.KINDS``; the other fields as API.md's ledger event, JSON
    without floats (amounts in minor units, shares as decimal strings): ``NotCanonical`` otherwise.
    The ledger stays locked for other appenders until the transaction ends: commit soon after.
    """
    _lock(session)
    last = session.execute(select(LedgerEvent.seq, LedgerEvent.hash).order_by(LedgerEvent.seq.desc()).limit(1)).first()
    seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS)
    at = utcnow()
    sealed = seal(prev, {"seq": seq, "at": timestamp(at), "kind": kind, "provider": provider, "receiver": receiver,
                         "resource": resource, "quantity": quantity, "detail": detail or {}})
    order_id = resource.get("id") if resource and resource.get("kind") == "order" else None
    claim = kind in ("claim", "reversal") and receiver is not None
    row = LedgerEvent(seq=seq, at=at, kind=kind, action=sealed["action"], provider=provider, receiver=receiver,
                      resource=resource, quantity=quantity, detail=detail or {}, order_id=order_id,
                      payee_kind=receiver.get("kind") if claim and receiver else None,
                      payee_id=receiver.get("id") if claim and receiver else None, prev=prev, hash=sealed["hash"])
    session.add(row)
    session.flush()
    return row


def append_event(session: Session, event: dict[str, Any]) -> LedgerEvent:
    """Append an event built by ``design_commons.ledger.events``."""
    return append(session, event["kind"], event.get("provider"), event.get("receiver"), event.get("resource"),
                  event.get("quantity"), event.get("detail"))


def event_json(row: LedgerEvent) -> dict[str, Any]:
    """An event as exported (API.md "Ledger event"); exactly the fields its hash covers, plus ``prev`` and ``hash``."""
    return {"seq": row.seq, "at": timestamp(row.at), "kind": row.kind, "action": row.action, "provider": row.provider,
            "receiver": row.receiver, "resource": row.resource, "quantity": row.quantity, "detail": row.detail,
            "prev": row.prev, "hash": row.hash}


def head(session: Session) -> str:
    """The hash of the last event (64 zeros for an empty ledger)."""
    return session.scalar(select(LedgerEvent.hash).order_by(LedgerEvent.seq.desc()).limit(1)) or GENESIS


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(LedgerEvent)) or 0


def page(session: Session, after: int, limit: int) -> list[LedgerEvent]:
    """Events with ``seq`` above ``after``, in order, at most ``limit``."""
    return list(session.scalars(select(LedgerEvent).where(LedgerEvent.seq > after).order_by(LedgerEvent.seq).limit(limit)))


def latest(session: Session, n: int) -> list[LedgerEvent]:
    """The last ``n`` events, newest first."""
    return list(session.scalars(select(LedgerEvent).order_by(LedgerEvent.seq.desc()).limit(n)))


def all_events(session: Session, batch: int = 2000) -> Iterator[dict[str, Any]]:
    """Every event as exported, in order, read in batches."""
    after = 0
    while True:
        rows = page(session, after, batch)
        if not rows:
            return
        for row in rows:
            yield event_json(row)
        after = rows[-1].seq


def daily_heads(session: Session, days: int = 14, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """The head at the end of each of the last ``days`` UTC days (today: so far), newest first; days before
    the first event are left out. Anyone who noted a day's head can later check the chain still leads there."""
    now = now or utcnow()
    today = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    out = []
    for back in range(days):
        start = today - dt.timedelta(days=back)
        end = start + dt.timedelta(days=1)
        last = session.execute(select(LedgerEvent.seq, LedgerEvent.hash).where(LedgerEvent.at < end)
                               .order_by(LedgerEvent.seq.desc()).limit(1)).first()
        if last is None:
            break
        out.append({"date": start.date().isoformat(), "seq": last.seq, "hash": last.hash, "complete": end <= now})
    return out


# -- events written where they happen --------------------------------------------------------------------------

def design_published(session: Session, design: Any, parents: list[tuple[int, Fraction | None]]) -> None:
    """A design was published: its first version is produced; a remix also cites the designs it came from."""
    owner = design.owner
    append_event(session, ev.design_published(design.id, design.title, design.license_id, owner.id, owner.name))
    if parents:
        append_event(session, ev.design_remixed(design.id, parents, owner.id, owner.name))


def design_versioned(session: Session, design: Any, number: int) -> None:
    owner = design.owner
    append_event(session, ev.design_versioned(design.id, number, owner.id, owner.name))
