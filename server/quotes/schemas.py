"""Query arguments of quotes and the JSON shapes of rate cards (API.md "Prices, quotes and ready times").

The shapes are :mod:`cosmoloc_contract.quotes`'; here is how the hub reads a query into them and writes
a stored card out.
"""
from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from cosmoloc_contract.quotes import QuoteQuery
from server.errors import invalid
from server.quotes.models import RateCardVersion


def point(args: QuoteQuery) -> tuple[float | None, float | None]:
    """``near=lat,lon`` as numbers (None, None without it); 422 ``invalid_query`` when unreadable."""
    if args.near is None:
        return None, None
    try:
        lat, lon = (float(x) for x in args.near.split(","))
    except ValueError:
        raise invalid("near is latitude,longitude in degrees.", {"near": ["lat,lon"]}, code="invalid_query") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise invalid("near is out of range.", {"near": ["latitude -90..90, longitude -180..180"]},
                      code="invalid_query")
    return lat, lon


def quote_args(args: dict[str, str]) -> QuoteQuery:
    """The query string checked into :class:`QuoteQuery`; 422 ``invalid_query`` with per-field errors."""
    try:
        return QuoteQuery.model_validate(args)
    except ValidationError as exc:
        errors: dict[str, Any] = {}
        for err in exc.errors():
            errors.setdefault(".".join(str(p) for p in err["loc"]) or "query", []).append(err["msg"])
        raise invalid("Some query arguments are missing or invalid.", errors, code="invalid_query") from None


def card_json(row: RateCardVersion) -> dict[str, Any]:
    """A stored rate card as API.md shows it: the card with its ``version`` and ``updated_at``."""
    return {**row.card, "version": row.version, "updated_at": row.created_at.isoformat()}
