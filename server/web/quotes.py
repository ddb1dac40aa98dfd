"""The design page's quotes: every lab that would make the part, as a table the citizen sorts.

The page asks the quotes service (server.quotes.service, the same as ``GET /api/v1/designs/{id}/quotes``)
for the place typed in (``address``, geocoded like the order form's) or a point (``near``). Price,
ready-by and distance sort through the service (cheapest, soonest, nearest); lab kind and CO2e sort
the labs on the page.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from flask import request
from sqlalchemy.orm import Session

from design_commons import money, transport
from server.db import utcnow
from server.errors import ApiError
from server.quotes import schemas, service
from server.web.ratecards import reader_locale
from server.web.site import settings

PER_PAGE = 50
COLUMNS = {"price": "cheapest", "ready": "soonest", "distance": "nearest", "kind": "nearest", "co2e": "nearest"}


def _when(text: str | None) -> str:
    if text is None:
        return "not within ten years of its opening hours"
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).strftime("%a %d %b %Y, %H:%M UTC")


def _row(q: dict[str, Any], locale: str) -> dict[str, Any]:
    price = q["price"]
    ready = q["ready_by"]
    return {"lab_id": q["fablab"]["id"], "lab": q["fablab"]["name"], "kind": q["fablab"]["kind"],
            "price": money.display(price["total"], price["currency"], locale) if price else "price on request",
            "price_sort": (price["currency"], price["total"]) if price else None,
            "ready": _when(ready["p50"] if ready else None), "ready_p90": _when(ready["p90"]) if ready else "",
            "distance_km": q["distance_km"], "co2e_kg": q["transport"]["kg_co2e"],
            "reference_kg": q["transport"]["reference"]["kg_co2e"], "source": q["estimate"]["source"]}


def quotes_table(session: Session, design_id: int) -> dict[str, Any]:
    """What the quotes section shows for the page's query string: the form's values, rows or an error."""
    args = request.args
    column = args.get("quote_sort", "price")
    column = column if column in COLUMNS else "price"
    values = {k: args.get(k, "") for k in ("material", "quantity", "address", "near", "delivery_mode")}
    out: dict[str, Any] = {"values": values, "sort": column, "modes": transport.MODES, "rows": None, "error": None,
                           "columns": list(COLUMNS)}
    if not values["material"] or not (values["address"] or values["near"]):
        return out
    query = {k: v for k, v in values.items() if v}
    query.update(sort=COLUMNS[column], per_page=str(PER_PAGE))
    try:
        page = service.quotes(session, design_id, schemas.quote_args(query), settings().node_stale_after_s, utcnow())
    except ApiError as exc:
        session.rollback()
        out["error"] = exc.detail
        return out
    locale = reader_locale()
    rows = [_row(q.to_json(), locale) for q in page.items]
    if column == "kind":
        rows.sort(key=lambda r: (r["kind"], r["distance_km"]))
    elif column == "co2e":
        rows.sort(key=lambda r: (r["co2e_kg"], r["distance_km"]))
    out.update(rows=rows, total=page.total, total_exact=page.total_exact)
    return out
