"""What an account is owed on the ledger, and where it chose to send its shares. Services flush; the caller commits."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from design_commons.ledger import FUND, Payee
from server.accounts.models import Account
from server.db import utcnow
from server.errors import invalid
from server.input_rules import MAX_DB_INT
from server.ledger import service
from server.ledger.models import LedgerEvent, ValueChoice


def choice_json(choice: ValueChoice | None) -> dict[str, Any]:
    if choice is None:
        return {"redirect_to": None}
    return {"redirect_to": "fund" if choice.to_fund else choice.to_account_id,
            "updated_at": choice.updated_at.isoformat()}


def set_value_choice(session: Session, account: Account, redirect_to: Any) -> ValueChoice | None:
    """``redirect_to``: ``"fund"``, another account's id, or None (keep my shares). 422 for anything else."""
    if redirect_to is not None and redirect_to != "fund":
        if not isinstance(redirect_to, int) or isinstance(redirect_to, bool) or not 1 <= redirect_to <= MAX_DB_INT:
            raise invalid('redirect_to is "fund", an account id or null.', {"redirect_to": ["fund, an account id or null"]},
                          code="invalid_body")
        if redirect_to == account.id:
            raise invalid("Your shares already come to you.", {"redirect_to": ["your own account"]}, code="invalid_body")
        if session.get(Account, redirect_to) is None:
            raise invalid("redirect_to names no account.", {"redirect_to": ["no such account"]}, code="unknown_account")
    choice = session.get(ValueChoice, account.id, with_for_update=True)
    if redirect_to is None:
        if choice is not None:
            session.delete(choice)
            session.flush()
        return None
    if choice is None:
        choice = ValueChoice(account_id=account.id)
        session.add(choice)
    choice.to_fund, choice.to_account_id = redirect_to == "fund", None if redirect_to == "fund" else redirect_to
    choice.updated_at = utcnow()
    session.flush()
    return choice


def redirects_for(session: Session, account_ids: Iterable[int]) -> dict[int, Payee]:
    """The standing choices of these accounts, as ``split()`` takes them."""
    ids = sorted(set(account_ids))
    if not ids:
        return {}
    out: dict[int, Payee] = {}
    for choice in session.scalars(select(ValueChoice).where(ValueChoice.account_id.in_(ids))):
        if choice.to_fund:
            out[choice.account_id] = FUND
        elif choice.to_account_id is not None:
            target = session.get(Account, choice.to_account_id)
            if target is not None:
                out[choice.account_id] = Payee("account", target.id, target.name)
    return out


def earnings(session: Session, account: Account | None, start: dt.datetime | None, end: dt.datetime | None
             ) -> dict[str, Any]:
    """Every claim (and reversal) owed to the account (None: the commons fund) between ``start`` and ``end``, with
    totals per currency."""
    if account is None:
        query = select(LedgerEvent).where(LedgerEvent.payee_kind == "fund")
    else:
        query = select(LedgerEvent).where(LedgerEvent.payee_kind == "account", LedgerEvent.payee_id == account.id)
    if start is not None:
        query = query.where(LedgerEvent.at >= start)
    if end is not None:
        query = query.where(LedgerEvent.at < end)
    totals: dict[str, int] = defaultdict(int)
    items = []
    for row in session.scalars(query.order_by(LedgerEvent.seq)):
        quantity, detail = row.quantity or {}, row.detail
        totals[quantity["currency"]] += int(quantity["amount"])
        items.append({"seq": row.seq, "at": service.timestamp(row.at), "kind": row.kind, "order_id": row.order_id,
                      "role": detail.get("role"), "design_id": detail.get("design"), "generation": detail.get("generation"),
                      "amount": quantity["amount"], "currency": quantity["currency"],
                      "redirected_from": detail.get("redirected_from"), "hash": row.hash})
    return {"currency_totals": dict(totals), "items": items}
