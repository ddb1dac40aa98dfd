"""Query arguments of quotes and the JSON shapes of rate cards (API.md "Prices, quotes and ready times")."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from design_commons import transport
from server.errors import invalid
from server.fablabs.schemas import PROCESSES
from server.input_rules import DbId
from server.orders.schemas import MAX_ORDER_DISTANCE_KM
from server.quotes.models import RateCardVersion

SORTS = ("nearest", "cheapest", "soonest")
DEFAULT_DELIVERY_MODE = "parcel"  # like the references, which end in a drop; the citizen picks another


class QuoteArgs(BaseModel):
    """``GET /api/v1/designs/{id}/quotes``' query string."""

    model_config = ConfigDict(extra="forbid")
    file_id: DbId | None = None
    material: str = Field(min_length=1, max_length=64)
    quantity: int = Field(default=1, ge=1, le=10_000)
    process: str | None = None
    thickness_mm: float | None = Field(default=None, gt=0, le=1000)
    near: str | None = Field(default=None, max_length=100)
    address: str | None = Field(default=None, max_length=500)
    max_distance_km: float = Field(default=100.0, gt=0, le=MAX_ORDER_DISTANCE_KM)
    delivery_mode: Literal[transport.MODES] = DEFAULT_DELIVERY_MODE  # type: ignore[valid-type]
    sort: Literal[SORTS] = "nearest"  # type: ignore[valid-type]
    page: int = Field(default=1, ge=1, le=1_000_000)
    per_page: int = Field(default=20, ge=1, le=100)

    @field_validator("material")
    @classmethod
    def _material(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v.strip()

    @field_validator("process")
    @classmethod
    def _process(cls, v: str | None) -> str | None:
        if v is not None and v not in PROCESSES:
            raise ValueError(f"one of {', '.join(PROCESSES)}")
        return v

    def point(self) -> tuple[float | None, float | None]:
        """``near=lat,lon`` as numbers (None, None without it); 422 ``invalid_query`` when unreadable."""
        if self.near is None:
            return None, None
        try:
            lat, lon = (float(x) for x in self.near.split(","))
        except ValueError:
            raise invalid("near is latitude,longitude in degrees.", {"near": ["lat,lon"]}, code="invalid_query") from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise invalid("near is out of range.", {"near": ["latitude -90..90, longitude -180..180"]},
                          code="invalid_query")
        return lat, lon


def quote_args(args: dict[str, str]) -> QuoteArgs:
    """The query string checked into :class:`QuoteArgs`; 422 ``invalid_query`` with per-field errors."""
    try:
        return QuoteArgs.model_validate(args)
    except ValidationError as exc:
        errors: dict[str, Any] = {}
        for err in exc.errors():
            errors.setdefault(".".join(str(p) for p in err["loc"]) or "query", []).append(err["msg"])
        raise invalid("Some query arguments are missing or invalid.", errors, code="invalid_query") from None


def card_json(row: RateCardVersion) -> dict[str, Any]:
    """A stored rate card as API.md shows it: the card with its ``version`` and ``updated_at``."""
    return {**row.card, "version": row.version, "updated_at": row.created_at.isoformat()}
