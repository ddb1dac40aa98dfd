"""The operator's rate-card form (dashboard) and a lab's rates in plain words (lab page).

The form is read into API.md's rate-card body and published through the same service as
``PUT /api/v1/fablabs/{id}/rates``, so the web and the API accept and refuse the same cards. Amounts
are written for people by Babel in the reader's locale (the browser's ``Accept-Language``).
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency
from flask import flash, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from design_commons import readyby
from server.db import utcnow
from server.edge import db
from server.errors import ApiError
from server.fablabs import service as fablabs
from server.quotes import service as quotes
from server.web.fablabs import lab_json
from server.web.site import bp, form_page, sign_in_required, signed_in

LINE_ROWS = 20
DISCOUNT_ROWS = 5
LINE_FIELDS = ("setup", "per_gram", "per_ml", "per_cm3", "per_hour", "per_m2", "minimum")
DAY_NAMES = {"mon": "Monday", "tue": "Tuesday", "wed": "Wednesday", "thu": "Thursday", "fri": "Friday",
             "sat": "Saturday", "sun": "Sunday"}
RATE_WORDS = {"per_gram": "per gram", "per_ml": "per ml", "per_cm3": "per cm³", "per_hour": "per hour of machine time",
              "per_m2": "per m² of sheet"}


def reader_locale() -> str:
    """The best locale Babel has for the browser's Accept-Language, else English."""
    for tag, _quality in request.accept_languages:
        try:
            return str(Locale.parse(tag.replace("-", "_")))
        except (ValueError, UnknownLocaleError):
            continue
    return "en"


def _money(text: str, currency: str, locale: str) -> str:
    # every decimal the card gives is shown: a rate of 0.005 EUR per gram is not rounded to a cent
    return str(format_currency(Decimal(text), currency, locale=locale, decimal_quantization=False))


def _hours_words(hours: dict[str, Any]) -> list[str]:
    week = hours.get("week") or {}
    days = [f"{DAY_NAMES[d]} {', '.join(f'{a}–{b}' for a, b in week[d])}" for d in readyby.DAYS if week.get(d)]
    out = [f"Open {'; '.join(days)} ({hours['timezone']} time)." if days else "No opening hours published."]
    if hours.get("closed"):
        out.append(f"Closed on {', '.join(hours['closed'])}.")
    return out


def rates_in_words(card: dict[str, Any], machine_names: dict[str, str], locale: str) -> dict[str, Any]:
    """A card (API.md's shape) as sentences: ``{"general": [...], "lines": [...], "hours": [...]}``."""
    c = card["currency"]
    vat = Decimal(card["vat_percent"])
    general = [f"Prices in {c}; {vat.normalize():f} % VAT {'included' if card['prices_include_vat'] else 'added'}."]
    if Decimal(card["minimum"]):
        general.append(f"Every order costs at least {_money(card['minimum'], c, locale)}.")
    for d in card.get("quantity_discounts") or []:
        general.append(f"{Decimal(d['percent']).normalize():f} % off from {d['min_quantity']} pieces.")
    lines = []
    for ln in card.get("lines") or []:
        parts = [f"setup {_money(ln['setup'], c, locale)}"] if Decimal(ln["setup"]) else []
        parts += [f"{_money(ln[k], c, locale)} {words}" for k, words in RATE_WORDS.items() if k in ln]
        if Decimal(ln.get("minimum") or 0):
            parts.append(f"at least {_money(ln['minimum'], c, locale)}")
        name = machine_names.get(ln["machine_key"], ln["machine_key"])
        lines.append(f"{name}, {ln['material']}: {', '.join(parts) or 'no charge'}.")
    if card.get("unattended"):
        hours = ["Machines run unattended: every hour of the day counts towards ready times."]
    elif card.get("opening_hours"):
        hours = _hours_words(card["opening_hours"])
    else:
        hours = ["No opening hours published: every hour counts towards ready times."]
    return {"general": general, "lines": lines, "hours": hours}


def _spans(text: str) -> list[list[str]]:
    """``"09:00-13:00, 15:00-19:00"`` as ``[["09:00", "13:00"], ["15:00", "19:00"]]`` (checked by the card's rules)."""
    out = []
    for part in text.replace("–", "-").split(","):
        part = part.strip()
        if part:
            start, _, end = part.partition("-")
            out.append([start.strip(), end.strip()])
    return out


def card_from_form(form: MultiDict[str, str]) -> dict[str, Any]:
    """The rate-card body (API.md) for the form's fields; blank rows are left out."""
    body: dict[str, Any] = {"currency": form.get("currency", "").strip().upper(),
                            "vat_percent": form.get("vat_percent", "").strip() or "0",
                            "prices_include_vat": bool(form.get("prices_include_vat")),
                            "minimum": form.get("minimum", "").strip() or "0",
                            "unattended": bool(form.get("unattended")), "lines": [], "quantity_discounts": []}
    for n in range(LINE_ROWS):
        p = f"line-{n}-"
        key, material = form.get(p + "machine_key", "").strip(), form.get(p + "material", "").strip()
        if not key and not material:
            continue
        line: dict[str, Any] = {"machine_key": key, "material": material}
        line.update({f: form[p + f].strip() for f in LINE_FIELDS if form.get(p + f, "").strip()})
        body["lines"].append(line)
    for n in range(DISCOUNT_ROWS):
        p = f"discount-{n}-"
        q, percent = form.get(p + "min_quantity", "").strip(), form.get(p + "percent", "").strip()
        if q or percent:
            body["quantity_discounts"].append({"min_quantity": int(q) if q.isdigit() else q, "percent": percent})
    zone = form.get("timezone", "").strip()
    if zone and not body["unattended"]:
        week = {d: _spans(form.get(f"hours-{d}", "")) for d in readyby.DAYS}
        closed = [d.strip() for d in form.get("closed", "").split(",") if d.strip()]
        body["opening_hours"] = {"timezone": zone, "week": {d: s for d, s in week.items() if s}, "closed": closed}
    return body


def form_from_card(card: dict[str, Any] | None) -> dict[str, str]:
    if card is None:
        return {"currency": "EUR", "vat_percent": "0", "minimum": "0"}
    form = {"currency": card["currency"], "vat_percent": card["vat_percent"], "minimum": card["minimum"],
            "prices_include_vat": "on" if card["prices_include_vat"] else "",
            "unattended": "on" if card["unattended"] else ""}
    for n, ln in enumerate(card.get("lines") or []):
        form.update({f"line-{n}-{k}": str(v) for k, v in ln.items()})
    for n, d in enumerate(card.get("quantity_discounts") or []):
        form.update({f"discount-{n}-min_quantity": str(d["min_quantity"]), f"discount-{n}-percent": d["percent"]})
    hours = card.get("opening_hours")
    if hours:
        form["timezone"] = hours["timezone"]
        form.update({f"hours-{d}": ", ".join(f"{a}-{b}" for a, b in s) for d, s in hours["week"].items()})
        form["closed"] = ", ".join(hours.get("closed") or [])
    return form


def _context(lab: Any) -> dict[str, Any]:
    current = quotes.current_card(db(), lab.id)
    rows = max(LINE_ROWS // 4, len((current.card if current else {}).get("lines") or []) + 2)
    return {"lab": lab_json(lab), "machines": sorted(lab.machines, key=lambda m: m.key), "days": DAY_NAMES,
            "line_rows": min(LINE_ROWS, rows), "discount_rows": DISCOUNT_ROWS, "line_fields": LINE_FIELDS,
            "version": current.version if current else None}


@bp.route("/dashboard/labs/<int:lab_id>/rates", methods=["GET", "POST"])
@sign_in_required
def edit_rates(lab_id: int) -> Any:
    lab = fablabs.get_lab(db(), lab_id)
    fablabs.require_operator(lab, signed_in())
    if request.method == "GET":
        current = quotes.current_card(db(), lab.id)
        return render_template("dashboard/rates.html", form=form_from_card(current.card if current else None),
                               **_context(lab))
    try:
        row = quotes.publish_card(db(), signed_in(), lab.id, card_from_form(request.form), utcnow())
        db().commit()
    except ApiError as exc:
        return form_page("dashboard/rates.html", exc, **_context(fablabs.get_lab(db(), lab_id)))
    flash(f"Rates published (version {row.version}); quotes use them from now on.", "ok")
    return redirect(url_for("web.lab", lab_id=lab_id) + "#rates", code=303)


def lab_rates(lab: Any) -> dict[str, Any] | None:
    """The lab page's rates: the card in force in plain words, or None (price on request)."""
    current = quotes.current_card(db(), lab.id)
    if current is None:
        return None
    names = {m.key: m.name for m in lab.machines}
    return {"version": current.version, **rates_in_words(current.card, names, reader_locale())}

