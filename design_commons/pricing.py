"""A lab's rate card (API.md's shape) and the price it gives an estimated part.

Price = max(lab minimum, max(line minimum, setup + material + machine time + sheet)) less the
quantity discount, plus VAT when the card's prices exclude it. Setup is charged once per
order; material, time and sheet once per piece. Each line is computed exactly in decimals and
rounded once to the currency's minor unit (half-up, :data:`design_commons.money.ROUNDING`);
the total is the sum of the lines, so the lines always add up to it. With VAT included, the
VAT share is shown (``vat``) but adds no line.
"""
from __future__ import annotations

import decimal
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from design_commons import materials, money
from design_commons.estimates import Estimate
from design_commons.readyby import OpeningHours, ReadyByError, opening_hours
from design_commons.reports import CodedError

MATERIAL_RATES = ("per_gram", "per_ml", "per_cm3")
RATES = (*MATERIAL_RATES, "per_hour", "per_m2")
MAX_LINES = 200
MAX_DISCOUNTS = 20
_CTX = decimal.Context(prec=40)


class RateCardError(CodedError):
    """A rate card that cannot be used: ``code`` is stable, ``field`` the place in the body."""

    def __init__(self, code: str, field: str, message: str) -> None:
        super().__init__(code, message)
        self.field = field


@dataclass(frozen=True)
class Line:
    machine_key: str
    material: str
    setup: int = 0  # minor units
    minimum: int = 0
    rates: dict[str, Decimal] = field(default_factory=dict)  # per_gram, per_hour, ... in the major unit


@dataclass(frozen=True)
class Discount:
    min_quantity: int
    percent: Decimal


@dataclass(frozen=True)
class RateCard:
    currency: str
    vat_percent: Decimal
    prices_include_vat: bool
    minimum: int
    lines: tuple[Line, ...]
    quantity_discounts: tuple[Discount, ...]
    opening_hours: OpeningHours | None
    unattended: bool

    def line_for(self, machine_key: str, material: str) -> Line | None:
        """The line of this machine and material (materials compared by the vocabulary, else case-insensitively)."""
        return next((ln for ln in self.lines if ln.machine_key == machine_key and materials.same(ln.material, material)),
                    None)

    def discount_for(self, quantity: int) -> Discount | None:
        fitting = [d for d in self.quantity_discounts if d.min_quantity <= quantity]
        return max(fitting, key=lambda d: d.min_quantity) if fitting else None


def _wrap(where: str, fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except money.MoneyError as e:
        raise RateCardError(e.code, where, str(e)) from None


def _text(body: dict[str, Any], key: str, where: str, limit: int = 100) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise RateCardError("invalid_rate_card", where, f"{where} must be a non-empty string of at most {limit}")
    return value.strip()


def _percent(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise RateCardError("invalid_rate", where, "a percentage is a number or a decimal string")
    # a JSON number's shortest repr is the figure written ("10.5"), so floats are taken for percentages
    pct = _wrap(where, money.rate, str(value))
    if pct > 100:
        raise RateCardError("invalid_rate", where, "a percentage is at most 100")
    return pct


def _line(body: Any, i: int, code: str) -> Line:
    where = f"lines[{i}]"
    if not isinstance(body, dict):
        raise RateCardError("invalid_rate_card", where, "a line is an object")
    rates = {k: _wrap(f"{where}.{k}", money.rate, body[k]) for k in RATES if body.get(k) is not None}
    if sum(1 for k in MATERIAL_RATES if k in rates) > 1:
        raise RateCardError("invalid_rate_card", where, "a line prices material one way: per_gram, per_ml or per_cm3")
    return Line(_text(body, "machine_key", f"{where}.machine_key"),
                materials.canonical(_text(body, "material", f"{where}.material")),
                _wrap(f"{where}.setup", money.amount, body.get("setup", "0"), code),
                _wrap(f"{where}.minimum", money.amount, body.get("minimum", "0"), code), rates)


def parse_card(body: Any) -> RateCard:
    """A rate card from its JSON body (API.md), or :class:`RateCardError` naming the field at fault."""
    if not isinstance(body, dict):
        raise RateCardError("invalid_rate_card", "", "a rate card is a JSON object")
    code = _wrap("currency", money.currency, body.get("currency"))
    lines = body.get("lines", [])
    if not isinstance(lines, list) or len(lines) > MAX_LINES:
        raise RateCardError("invalid_rate_card", "lines", f"lines is a list of at most {MAX_LINES}")
    parsed = tuple(_line(ln, i, code) for i, ln in enumerate(lines))
    keys = [(ln.machine_key, ln.material.lower()) for ln in parsed]
    if len(set(keys)) != len(keys):
        raise RateCardError("invalid_rate_card", "lines", "two lines for one machine and material")
    discounts = body.get("quantity_discounts", [])
    if not isinstance(discounts, list) or len(discounts) > MAX_DISCOUNTS:
        raise RateCardError("invalid_rate_card", "quantity_discounts", f"at most {MAX_DISCOUNTS} discounts")
    steps = []
    for i, d in enumerate(discounts):
        q = d.get("min_quantity") if isinstance(d, dict) else None
        if isinstance(q, bool) or not isinstance(q, int) or not 1 <= q <= 1_000_000:
            raise RateCardError("invalid_rate_card", f"quantity_discounts[{i}].min_quantity",
                                "min_quantity is a whole number from 1 to 1000000")
        steps.append(Discount(q, _percent(d.get("percent"), f"quantity_discounts[{i}].percent")))
    if len({d.min_quantity for d in steps}) != len(steps):
        raise RateCardError("invalid_rate_card", "quantity_discounts", "two discounts for one min_quantity")
    for flag in ("prices_include_vat", "unattended"):
        if not isinstance(body.get(flag, False), bool):
            raise RateCardError("invalid_rate_card", flag, f"{flag} is true or false")
    hours = None
    if body.get("opening_hours") is not None:
        try:
            hours = opening_hours(body["opening_hours"])
        except ReadyByError as e:
            raise RateCardError(e.code, "opening_hours", str(e)) from None
    return RateCard(code, _percent(body.get("vat_percent", 0), "vat_percent"), body.get("prices_include_vat", False),
                    _wrap("minimum", money.amount, body.get("minimum", "0"), code), parsed,
                    tuple(sorted(steps, key=lambda d: d.min_quantity)), hours, body.get("unattended", False))


def card_to_json(card: RateCard) -> dict[str, Any]:
    """The card in API.md's shape (amounts back as major-unit strings), without version and time."""
    c = card.currency
    return {"currency": c, "vat_percent": str(card.vat_percent), "prices_include_vat": card.prices_include_vat,
            "minimum": money.major_text(card.minimum, c),
            "lines": [{"machine_key": ln.machine_key, "material": ln.material, "setup": money.major_text(ln.setup, c),
                       "minimum": money.major_text(ln.minimum, c), **{k: str(v) for k, v in ln.rates.items()}}
                      for ln in card.lines],
            "quantity_discounts": [{"min_quantity": d.min_quantity, "percent": str(d.percent)}
                                   for d in card.quantity_discounts],
            "opening_hours": card.opening_hours.to_json() if card.opening_hours else None,
            "unattended": card.unattended}


@dataclass(frozen=True)
class PriceLine:
    label: str
    formula: str
    amount: int  # minor units; a discount is negative


@dataclass(frozen=True)
class Price:
    currency: str
    total: int
    vat: int
    lines: tuple[PriceLine, ...]
    rate_card_version: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"currency": self.currency, "total": self.total, "vat": self.vat,
                "lines": [{"label": ln.label, "formula": ln.formula, "amount": ln.amount} for ln in self.lines],
                "rate_card_version": self.rate_card_version}


def _n(value: Decimal | float) -> str:
    """A figure in a formula: up to 4 decimals, no trailing zeros."""
    text = f"{Decimal(str(value)).quantize(Decimal('0.0001'), rounding=money.ROUNDING):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


_MATERIAL = {"per_gram": ("g", "mass"), "per_ml": ("ml", "volume"), "per_cm3": ("cm3", "volume")}


def price(card: RateCard, line: Line, estimate: Estimate, quantity: int, version: int | None = None) -> Price:
    """The price of ``quantity`` pieces of the estimated part on this line of the card."""
    c = card.currency
    m = money.major_text
    q = Decimal(quantity)
    out: list[PriceLine] = []
    with decimal.localcontext(_CTX):
        if line.setup:
            out.append(PriceLine("setup", f"setup {m(line.setup, c)} {c}, once per order", line.setup))
        for key, (unit, what) in _MATERIAL.items():
            if key in line.rates:
                per_piece = Decimal(str(estimate.mass_g if what == "mass" else estimate.material_cm3))
                amt = money.to_minor(per_piece * line.rates[key] * q, c)
                out.append(PriceLine("material", f"{_n(per_piece)} {unit} x {line.rates[key]} {c}/{unit} x {quantity}",
                                     amt))
        if "per_hour" in line.rates:
            hours = Decimal(str(estimate.machine_time_s)) / 3600
            amt = money.to_minor(hours * line.rates["per_hour"] * q, c)
            out.append(PriceLine("machine time", f"{_n(hours)} h x {line.rates['per_hour']} {c}/h x {quantity}", amt))
        if "per_m2" in line.rates:
            area = Decimal(str(estimate.sheet_m2))
            amt = money.to_minor(area * line.rates["per_m2"] * q, c)
            out.append(PriceLine("sheet", f"{_n(area)} m2 x {line.rates['per_m2']} {c}/m2 x {quantity}", amt))
        running = sum(ln.amount for ln in out)
        for label, floor in (("line minimum", line.minimum), ("lab minimum", card.minimum)):
            if floor > running:
                out.append(PriceLine(label, f"{label} {m(floor, c)} {c} - {m(running, c)} {c}", floor - running))
                running = floor
        discount = card.discount_for(quantity)
        if discount is not None and discount.percent:
            amt = money.to_minor(Decimal(running) * discount.percent / 100 / (Decimal(10) ** money.minor_digits(c)), c)
            out.append(PriceLine("quantity discount", f"-{discount.percent} % of {m(running, c)} {c} "
                                 f"({discount.min_quantity} or more pieces)", -amt))
            running -= amt
        rate = card.vat_percent
        scale = Decimal(10) ** money.minor_digits(c)
        if card.prices_include_vat:
            vat = money.to_minor(Decimal(running) * rate / (100 + rate) / scale, c)
        else:
            vat = money.to_minor(Decimal(running) * rate / 100 / scale, c)
            if vat:
                out.append(PriceLine("VAT", f"{rate} % of {m(running, c)} {c}", vat))
            running += vat
    return Price(c, running, vat, tuple(out), version)
