"""Ordering from a design page (with the labs that could make it), the order page, and "My orders"."""
from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for
from pydantic import ValidationError
from werkzeug.datastructures import MultiDict

from cosmoloc_contract.orders import NewOrder
from server.db import utcnow
from server.designs import service as designs
from server.designs.models import Design
from server.edge import db, page_number, paginate
from server.errors import ApiError, invalid
from server.fablabs.service import resolve_location
from server.input_rules import MAX_DB_INT, finite_float
from server.orders import matching, schemas, service
from server.orders.models import Order, OrderStatus
from server.web.site import bp, form_page, rules, sign_in_required, signed_in

PER_PAGE = 20
FIELD_WORDS = {"quantity": "Quantity is a whole number from 1 to 10,000.",
               "max_distance_km": "The maximum distance is a number of km above 0 and at most 1,000.",
               "material": "Say which material you want it made in (for example PLA).",
               "thickness_mm": "The sheet thickness is a number of mm above 0.",
               "process": "Choose one of the listed processes, or any."}


def _number(values: MultiDict[str, str], name: str, kind: type, default: Any = None) -> Any:
    raw = (values.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = finite_float(raw) if kind is float else kind(raw)
    except ValueError:
        raise invalid(FIELD_WORDS.get(name, f"{name} must be a number."), {name: ["not a number"]}) from None
    if kind is int and not -MAX_DB_INT <= value <= MAX_DB_INT:
        raise invalid(FIELD_WORDS.get(name, f"{name} is out of range."), {name: ["out of range"]})
    return value


def parse_order_form(values: MultiDict[str, str], design: Design) -> tuple[NewOrder, Any]:
    """The order form as the API's body, and the delivery place; ApiError in plain words when wrong."""
    lat = _number(values, "latitude", float)
    lon = _number(values, "longitude", float)
    address = (values.get("address") or "").strip() or None
    if lat is None and lon is None and not address:
        raise invalid("Say where to deliver: type a place (City, Country) or use your location.",
                      {"address": ["required"]}, code="invalid_location")
    body = {"design_id": design.id, "file_id": _number(values, "file_id", int),
            "quantity": _number(values, "quantity", int, 1), "material": (values.get("material") or "").strip(),
            "process": values.get("process") or None, "thickness_mm": _number(values, "thickness_mm", float),
            "delivery": {"latitude": lat, "longitude": lon, "address": address},
            "max_distance_km": _number(values, "max_distance_km", float, 100.0)}
    try:
        order = NewOrder.model_validate(body)
    except ValidationError as exc:
        fields = [str(e["loc"][0]) for e in exc.errors() if e["loc"]]
        words = [FIELD_WORDS.get(f, f"{f.replace('_', ' ')} is not valid.") for f in dict.fromkeys(fields)]
        raise invalid(" ".join(words) or "Some order details are not valid.", {f: ["invalid"] for f in fields}) from None
    where = resolve_location(lat, lon, address)
    return order, where


def preview(design: Design, values: MultiDict[str, str]) -> dict[str, Any]:
    """The labs that could make the order as filled in, nearest eligible first (nothing is stored)."""
    body, where = parse_order_form(values, design)
    row = service.choose_file(db(), design, body.file_id)
    draft = Order(design_id=design.id, file_id=row.id, quantity=body.quantity, material=body.material,
                  process=body.process, thickness_mm=body.thickness_mm, delivery_latitude=where.latitude,
                  delivery_longitude=where.longitude, max_distance_km=body.max_distance_km)
    ranked = matching.candidates(db(), draft, row.requirements or {}, utcnow(), rules().stale_after_s, design.license_id,
                                 nearest=100)
    return {"candidates": ranked[:20], "pending": row.validation_status.value == "pending", "where": where}


def order_context(design: Design, values: MultiDict[str, str] | None = None) -> dict[str, Any]:
    """What the design page needs for its order form, with the labs preview when the form was sent to it."""
    latest = design.versions[-1] if design.versions else None
    makeable = [f for f in (latest.files if latest else []) if f.kind in ("mesh", "drawing")]
    out: dict[str, Any] = {"makeable_files": makeable, "order_values": values or {}, "preview": None,
                           "preview_error": None}
    if values is not None and values.get("material") is not None:
        try:
            out["preview"] = preview(design, values)
        except ApiError as exc:
            db().rollback()
            out["preview_error"] = exc.detail
    return out


@bp.post("/designs/<int:design_id>/labs")
def order_preview(design_id: int) -> Any:
    """The labs that could make the order as filled in (nothing is stored): the whole design page, or with
    ``X-Fragment: 1`` only the list, which the order form refreshes while it is being filled in."""
    from server.web.designs import _design_context

    design = designs.get_design(db(), design_id)
    context = _design_context(design, request.form)
    if request.headers.get("X-Fragment"):
        return render_template("orders/_preview.html", **context)
    return render_template("designs/detail.html", form=request.form, **context)


@bp.post("/designs/<int:design_id>/order")
@sign_in_required
def place(design_id: int) -> Any:
    design = designs.get_design(db(), design_id)
    try:
        body, where = parse_order_form(request.form, design)
        order = service.place(db(), signed_in(), body, where, rules(), utcnow())
        db().commit()
    except ApiError as exc:
        from server.web.designs import _design_context

        db().rollback()
        return form_page("designs/detail.html", exc, order_error=True,
                         **_design_context(designs.get_design(db(), design_id), request.form))
    return redirect(url_for("web.order", order_id=order.id), code=303)


@bp.get("/orders")
@sign_in_required
def my_orders() -> Any:
    page = page_number(request.args.get("page"))
    rows, total = paginate(db(), service.citizen_orders(signed_in()), page, PER_PAGE)
    return render_template("orders/list.html", orders=rows, page=page, pages=max(1, -(-total // PER_PAGE)), total=total)


def _order_page(order: Order) -> dict[str, Any]:
    me = signed_in()
    body = schemas.order_json(order, service.lab_view(order, me))
    return {"order": body, "row": order, "is_citizen": order.citizen_id == me.id,
            "can_cancel": order.status in service.CANCELLABLE, "can_confirm": order.status == OrderStatus.COMPLETED,
            "steps": _steps(body)}


def _steps(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The citizen's road from order to delivery, each step done, current or to come."""
    from server.web.wording import ORDER_STEPS

    status = body["status"]
    reached = {e["kind"] for e in body["events"]} | {status}
    index = ORDER_STEPS.index(status) if status in ORDER_STEPS else -1
    if status == "unmatched":
        index = ORDER_STEPS.index("matching")
    out = []
    for i, step in enumerate(ORDER_STEPS):
        state = "done" if i < index or (step in reached and i != index) else ("current" if i == index else "todo")
        out.append({"key": step, "state": state})
    return out


@bp.get("/orders/<int:order_id>")
@sign_in_required
def order(order_id: int) -> Any:
    return render_template("orders/detail.html", **_order_page(service.get_for_viewer(db(), order_id, signed_in())))


@bp.post("/orders/<int:order_id>/cancel")
@sign_in_required
def cancel(order_id: int) -> Any:
    service.cancel(db(), service.lock_own(db(), order_id, signed_in()), utcnow())
    db().commit()
    return redirect(url_for("web.order", order_id=order_id), code=303)


@bp.post("/orders/<int:order_id>/confirm")
@sign_in_required
def confirm(order_id: int) -> Any:
    service.confirm(db(), service.lock_own(db(), order_id, signed_in()), utcnow())
    db().commit()
    return redirect(url_for("web.order", order_id=order_id), code=303)
