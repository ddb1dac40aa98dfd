"""Web sessions kept on the hub: the cookie holds a random id, the hub a row that can be ended.

A signed cookie alone cannot be taken back: a copy keeps working after sign-out. With a row
per session, signing out deletes it, changing the password deletes every row of the account,
and each row expires ``session_max_age_s`` after sign-in.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.accounts.models import Account, WebSession
from server.db import utcnow


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start(session: Session, account_id: int, max_age_s: int) -> str:
    """Open a session for the account; return its id for the cookie (never stored itself).

    The account's expired sessions are removed on the way, so rows do not pile up.
    """
    now = utcnow()
    session.execute(delete(WebSession).where(WebSession.account_id == account_id, WebSession.expires_at <= now))
    session_id = secrets.token_urlsafe(32)
    session.add(WebSession(id_hash=_hash(session_id), account_id=account_id, created_at=now,
                           expires_at=now + dt.timedelta(seconds=max_age_s)))
    session.flush()
    return session_id


def account_for(session: Session, session_id: str) -> Account | None:
    """The account of a session that has not ended or expired (one query), else None."""
    return session.scalar(select(Account).join(WebSession, WebSession.account_id == Account.id)
                          .where(WebSession.id_hash == _hash(session_id), WebSession.expires_at > utcnow()))


def prune_expired(session: Session, now: dt.datetime | None = None) -> int:
    """Delete every account's expired sessions (the hub's tidy-up); return how many."""
    result = session.execute(delete(WebSession).where(WebSession.expires_at <= (now or utcnow())))
    return int(getattr(result, "rowcount", 0) or 0)


def end(session: Session, session_id: str) -> None:
    session.execute(delete(WebSession).where(WebSession.id_hash == _hash(session_id)))


def end_all(session: Session, account_id: int) -> int:
    """End every session of the account ("sign out everywhere"); return how many there were."""
    result = session.execute(delete(WebSession).where(WebSession.account_id == account_id))
    return int(getattr(result, "rowcount", 0) or 0)
