"""The ledger's pages: the chain's head and its daily heads, and the methods page with the rule set."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from design_commons.ledger.events import decimal_string
from design_commons.ledger.rules import RULESETS
from server.edge import db
from server.ledger import service

bp = Blueprint("ledger_web", __name__)


@bp.get("/ledger")
def ledger() -> Any:
    session = db()
    recent = [service.event_json(r) for r in service.latest(session, 30)]
    return render_template("ledger/index.html", head=service.head(session), count=service.count(session),
                           days=service.daily_heads(session), recent=recent)


@bp.get("/ledger/methods")
def methods() -> Any:
    rule_set = service.rules_in_force()
    older = sorted((r for v, r in service.rule_book().by_version.items() if v != rule_set.version),
                   key=lambda r: -r.version)
    text = (RULESETS / f"{rule_set.version}.toml").read_text(encoding="utf-8")
    keeps = decimal_string(1 - rule_set.pass_up)
    return render_template("ledger/methods.html", rules=rule_set.public(), text=text, older=older, keeps=keeps)
