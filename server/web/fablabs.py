"""The lab directory (map and list), a lab's page with its machines, and registering a lab."""
from __future__ import annotations

import datetime as dt
from typing import Any

from flask import render_template, request

from server.db import utcnow
from server.edge import db, page_number, paginate
from server.errors import ApiError
from server.fablabs import schemas, service
from server.fablabs.models import LabKind
from server.input_rules import finite_float
from server.web import labforms
from server.web.charts import availability_svg
from server.web.site import bp, form_page, secret_page, settings, sign_in_required, signed_in

PER_PAGE = 25
HISTORY_HOURS = 24


def lab_json(lab: Any, distance_km: float | None = None, machines_listed: int | None = None) -> dict[str, Any]:
    online = service.is_online(lab.last_seen_at, utcnow(), settings().node_stale_after_s)
    return schemas.fablab_json(lab, online, distance_km, machines_listed)


def _place(args: Any) -> tuple[float, float, str] | None:
    """The point the directory is centred on: the browser's location, or a typed place geocoded."""
    lat, lon, place = args.get("latitude"), args.get("longitude"), (args.get("place") or "").strip()
    if lat and lon:
        try:
            point = finite_float(lat), finite_float(lon)
        except ValueError:
            point = (1000.0, 1000.0)
        if -90 <= point[0] <= 90 and -180 <= point[1] <= 180:
            return point[0], point[1], place or "your location"
    if place:
        where = service.resolve_location(None, None, place)
        return where.latitude, where.longitude, place
    return None


@bp.get("/fablabs")
def directory() -> Any:
    args = request.args
    page = page_number(args.get("page"))
    try:
        radius = min(max(finite_float(args.get("radius_km") or str(service.DEFAULT_RADIUS_KM)), 1.0),
                     service.MAX_RADIUS_KM)
    except ValueError:
        radius = service.DEFAULT_RADIUS_KM
    process = args.get("process") or None
    if process not in schemas.PROCESSES:
        process = None
    error, centre = None, None
    try:
        centre = _place(args)
    except ApiError as exc:
        error = exc.detail
    if centre is not None:
        hits, total = service.near(db(), centre[0], centre[1], radius, process, page, PER_PAGE)
        labs = [lab_json(lab, d, machines_listed=0) for lab, d in hits]
    else:
        rows, total = paginate(db(), service.listing(process), page, PER_PAGE)
        # the page (and its map data) shows each lab's machine summary; the lab's own page lists its machines
        labs = [lab_json(lab, machines_listed=0) for lab in rows]
    status = 422 if error else 200
    return render_template("fablabs/directory.html", labs=labs, total=total, page=page,
                           pages=max(1, -(-total // PER_PAGE)), args=args, processes=schemas.PROCESSES,
                           centre=centre, radius=radius, error=error), status


@bp.get("/fablabs/<int:lab_id>")
def lab(lab_id: int) -> Any:
    row = service.get_lab(db(), lab_id)
    now = utcnow()
    since = now - dt.timedelta(hours=HISTORY_HOURS)
    history = service.history(db(), row, since)
    stale = settings().node_stale_after_s
    charts = {key: availability_svg(samples, since, now, stale) for key, samples in history.items()}
    me = signed_in()
    from server.web.ratecards import lab_rates

    return render_template("fablabs/lab.html", lab=lab_json(row), charts=charts, rates=lab_rates(row),
                           is_operator=me is not None and row.operator_id == me.id)


@bp.route("/fablabs/new", methods=["GET", "POST"])
@sign_in_required
def register() -> Any:
    context: dict[str, Any] = {"kinds": [k.value for k in LabKind], "processes": schemas.PROCESSES, "machines": [],
                               "blank_rows": 2}
    if request.method == "GET":
        return render_template("fablabs/new.html", form={"accepting_orders": "on"}, **context)
    try:
        new_lab, token = service.register(db(), signed_in(), labforms.new_lab(request.form),
                                          settings().limit_int("machines_per_lab"))
        db().commit()
    except ApiError as exc:
        return form_page("fablabs/new.html", exc, **context)
    return secret_page("dashboard/token.html", lab=lab_json(new_lab), token=token, registered=True)
