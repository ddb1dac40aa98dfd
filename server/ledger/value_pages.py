"""The pages where people see the value: an order's value receipt with its lineage, and what my designs earned."""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction
from typing import Any

from babel.numbers import format_currency, get_currency_precision
from flask import Response, abort, render_template
from sqlalchemy import select

from server.designs.models import Design
from server.edge import db
from server.ledger import earnings, receipts
from server.ledger.pages import bp
from server.orders.models import Order
from server.web.site import sign_in_required, signed_in


def money(minor: int | Fraction, currency: str) -> str:
    """An amount in minor units as people read it (``200, "EUR"`` is €2.00; a fraction shows one more digit)."""
    places = get_currency_precision(currency)
    if isinstance(minor, Fraction) and minor.denominator != 1:
        value = Decimal(minor.numerator) / Decimal(minor.denominator)
        return format_currency(value.scaleb(-places), currency, locale="en", format="¤#,##0." + "0" * (places + 1),
                               currency_digits=False)
    return format_currency(Decimal(int(minor)).scaleb(-places), currency, locale="en")


def _titles(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {row.id: row.title for row in db().execute(select(Design.id, Design.title).where(Design.id.in_(ids)))}


def _tree(design_id: int, edges: dict[tuple[int, int], Fraction], depth: int = 0) -> dict[str, Any]:
    """The lineage from the ordered design up, each parent with what was passed to it (a diamond shows twice)."""
    parents = sorted(p for (child, p) in edges if child == design_id)
    return {"id": design_id, "parents": [(edges[(design_id, p)], _tree(p, edges, depth + 1)) for p in parents]
            if depth < 16 else []}


@bp.get("/ledger/orders/<int:order_id>")
@sign_in_required
def receipt_page(order_id: int) -> Any:
    session = db()
    order = session.get(Order, order_id)
    receipt = receipts.value_receipt(session, order_id)
    if order is None or not receipts.can_view(order, signed_in(), receipt):
        abort(404)
    tree = None
    ids = {c["design_id"] for c in (receipt or {}).get("claims", []) if c["design_id"]} | {order.design_id}
    found = receipts.lineage_edges(session, order_id) if receipt is not None else None
    if found is not None:
        tree = _tree(*found)
        ids |= {p for (_c, p) in found[1]}
    return render_template("ledger/receipt.html", order=order, receipt=receipt, tree=tree, titles=_titles(ids),
                           money=money)


def _my_earnings() -> dict[str, Any]:
    mine = earnings.earnings(db(), signed_in(), None, None)
    by_month: dict[tuple[str, str], int] = defaultdict(int)
    by_design: dict[tuple[int, str], int] = defaultdict(int)
    for item in mine["items"]:
        by_month[(item["at"][:7], item["currency"])] += item["amount"]
        if item["design_id"] is not None:
            by_design[(item["design_id"], item["currency"])] += item["amount"]
    return {"items": mine["items"], "totals": mine["currency_totals"], "by_month": sorted(by_month.items(), reverse=True),
            "by_design": sorted(by_design.items()), "titles": _titles({d for d, _c in by_design})}


@bp.get("/ledger/earnings")
@sign_in_required
def earnings_page() -> Any:
    return render_template("ledger/earnings.html", money=money, **_my_earnings())


@bp.get("/ledger/earnings.csv")
@sign_in_required
def earnings_csv() -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["seq", "at", "kind", "order_id", "design_id", "role", "generation", "amount_minor", "currency",
                     "redirected_from", "event_hash"])
    for i in _my_earnings()["items"]:
        origin = i["redirected_from"]
        writer.writerow([i["seq"], i["at"], i["kind"], i["order_id"], i["design_id"], i["role"], i["generation"],
                         i["amount"], i["currency"], origin["name"] if origin else "", i["hash"]])
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="cosmoloc-earnings.csv"'})


@bp.get("/ledger/fund")
def fund_page() -> Any:
    """Public: what came into the commons fund, from which orders and designs, and why."""
    fund = earnings.earnings(db(), None, None, None)
    titles = _titles({i["design_id"] for i in fund["items"] if i["design_id"] is not None})
    return render_template("ledger/fund.html", money=money, items=fund["items"], totals=fund["currency_totals"],
                           titles=titles)
