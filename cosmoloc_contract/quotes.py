"""Rate cards and quotes (API.md "Prices, quotes and ready times").

Money is integers in the currency's minor unit with its ISO 4217 ``currency``; rates on a card are
decimal strings in the major unit (``"0.025"`` EUR per gram).
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cosmoloc_contract.common import Answer
from cosmoloc_contract.enums import DeliveryMode, LabKind, QuoteSort
from cosmoloc_contract.fields import DbId, ProcessName
from cosmoloc_contract.orders import MAX_ORDER_DISTANCE_KM

#: The last leg quotes assume unless the citizen picks another: like the references, which end in a drop.
DEFAULT_DELIVERY_MODE = DeliveryMode("parcel")

# -- requests --------------------------------------------------------------------------------


class QuoteQuery(BaseModel):
    """``GET /api/v1/designs/{id}/quotes``' query string."""

    model_config = ConfigDict(extra="forbid")
    file_id: DbId | None = Field(default=None, description="default: the first manufacturable file of the latest version")
    material: str = Field(min_length=1, max_length=64)
    quantity: int = Field(default=1, ge=1, le=10_000)
    process: ProcessName | None = None
    thickness_mm: float | None = Field(default=None, gt=0, le=1000, description="sheet stock, for cutting")
    near: str | None = Field(default=None, max_length=100, description="latitude,longitude in degrees")
    address: str | None = Field(default=None, max_length=500, description="instead of near")
    max_distance_km: float = Field(default=100.0, gt=0, le=MAX_ORDER_DISTANCE_KM)
    delivery_mode: DeliveryMode = DEFAULT_DELIVERY_MODE
    sort: QuoteSort = QuoteSort.NEAREST
    page: int = Field(default=1, ge=1, le=1_000_000)
    per_page: int = Field(default=20, ge=1, le=100)

    @field_validator("material")
    @classmethod
    def _material(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v.strip()


class RateLine(BaseModel):
    """One machine and material: amounts and rates as decimal strings in the card's currency."""

    machine_key: str
    material: str
    setup: str | None = Field(default=None, description='default "0"')
    minimum: str | None = Field(default=None, description='default "0"')
    per_gram: str | None = Field(default=None, description="material, FDM")
    per_ml: str | None = Field(default=None, description="material, resin")
    per_cm3: str | None = Field(default=None, description="material, powder")
    per_hour: str | None = Field(default=None, description="machine time")
    per_m2: str | None = Field(default=None, description="sheet stock, for cutting")


class QuantityDiscount(BaseModel):
    min_quantity: int = Field(ge=1, le=1_000_000)
    percent: str | float = Field(description="a decimal string or a number")


class OpeningHours(BaseModel):
    timezone: str = Field(description="an IANA time zone: Europe/Madrid")
    week: dict[str, list[tuple[str, str]]] = Field(
        description='per day (mon..sun), spans of wall time: {"mon": [["09:00", "19:00"]]}')
    closed: list[str] = Field(default_factory=list, description="dates the lab is closed (ISO 8601)")


class RateCardBody(BaseModel):
    """``PUT /api/v1/fablabs/{id}/rates``: the lab's prices (read field by field, so each refusal names its field)."""

    currency: str = Field(description="ISO 4217")
    vat_percent: str | float = 0
    prices_include_vat: bool = False
    minimum: str = "0"
    lines: list[RateLine] = Field(default_factory=list)
    quantity_discounts: list[QuantityDiscount] = Field(default_factory=list)
    opening_hours: OpeningHours | None = None
    unattended: bool = Field(default=False, description="machines run outside the opening hours")


# -- answers ---------------------------------------------------------------------------------


class StoredRateLine(Answer):
    machine_key: str
    material: str
    setup: str
    minimum: str
    per_gram: str | None = None
    per_ml: str | None = None
    per_cm3: str | None = None
    per_hour: str | None = None
    per_m2: str | None = None


class StoredDiscount(Answer):
    min_quantity: int
    percent: str


class StoredHours(Answer):
    timezone: str
    week: dict[str, list[tuple[str, str]]]
    closed: list[str]


class RateCard(Answer):
    """A lab's current rate card: every change is a new ``version``, earlier ones are kept."""

    currency: str
    vat_percent: str
    prices_include_vat: bool
    minimum: str
    lines: list[StoredRateLine]
    quantity_discounts: list[StoredDiscount]
    opening_hours: StoredHours | None
    unattended: bool
    version: int
    updated_at: str


class QuotedLab(Answer):
    id: int
    name: str
    kind: LabKind


class PriceLine(Answer):
    label: str
    formula: str
    amount: int = Field(description="minor units; a discount is negative")


class Price(Answer):
    currency: str
    total: int
    vat: int
    lines: list[PriceLine]
    rate_card_version: int | None


class Estimate(Answer):
    mass_g: float
    material_cm3: float
    machine_time_s: int
    sheet_m2: float
    source: str = Field(description="geometry, slicer or history")
    is_estimate: bool
    assumptions: dict[str, Any]


class ReadyBy(Answer):
    p50: str
    p90: str


class Emission(Answer):
    """kg CO2e of a leg with its low and high band and the formula it came from."""

    kg_co2e: float
    low: float
    high: float
    formula: str


class ReferenceLeg(Emission):
    name: str


class Transport(Emission):
    """The chosen last leg beside the shipped-from-far reference; the factors are at ``method_url``."""

    mode: DeliveryMode
    reference: ReferenceLeg
    saving_kg_co2e: float = Field(description="the reference less the chosen leg (may be negative)")
    words: str
    method_url: str


class Quote(Answer):
    """One eligible lab's price (null: price on request), estimate, ready-by and last-leg CO2e."""

    fablab: QuotedLab
    machine_key: str
    distance_km: float
    price: Price | None
    estimate: Estimate
    ready_by: ReadyBy | None = Field(description="null when the work lies beyond ten years of openings")
    transport: Transport


class QuoteList(Answer):
    """A page of quotes; ``total_exact`` says whether every lab in reach was judged."""

    items: list[Quote]
    page: int
    per_page: int
    total: int
    total_exact: bool
