"""Design pages: the gallery, a design with its files' reports and lineage, publishing and new versions."""
from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for

from design_commons import licences
from design_commons.units import STATED_UNITS
from server.designs import schemas, service
from server.designs.processing import queue_validation
from server.edge import db, file_store, page_number, paginate
from server.errors import ApiError
from server.web.site import bp, form_page, hub, sign_in_required, signed_in

PER_PAGE = 12


def licence_choices() -> dict[str, Any]:
    """The licence picker: open licences grouped by kind, and the families the commons refuses."""
    groups: dict[str, list[Any]] = {"hardware": [], "content": [], "software": []}
    for lic in licences.all_licences():
        groups.setdefault(lic.kind, []).append(lic)
    return {"licence_groups": groups, "refused_licences": licences.refused_licences(), "units": STATED_UNITS}


def _uploads() -> list[service.Upload]:
    return [service.Upload(f.filename or "", f.stream) for f in request.files.getlist("files")  # type: ignore[arg-type]
            if f.filename]


def _store() -> Any:
    """The blob store, remembering new files so a failed request removes them (as the API does)."""
    return file_store()


@bp.get("/designs")
def gallery() -> Any:
    args = request.args
    page = page_number(args.get("page"))
    process = args.get("process") or None
    if process not in service.PROCESSES:
        process = None
    query = service.search_query(args.get("q") or None, args.get("tag") or None, process, args.get("license") or None)
    rows, total = paginate(db(), query, page, PER_PAGE)
    pages = max(1, -(-total // PER_PAGE))
    return render_template("designs/gallery.html", designs=[schemas.design_summary(d) for d in rows], total=total,
                           page=page, pages=pages, args=args, processes=service.PROCESSES,
                           licences=licences.all_licences())


@bp.route("/designs/new", methods=["GET", "POST"])
@sign_in_required
def publish() -> Any:
    parent = request.values.get("derived_from", "")
    if request.method == "GET":
        return render_template("designs/new.html", form={"derived_from": parent}, **licence_choices())
    form = request.form
    try:
        design = service.publish(db(), _store(), signed_in(), form.get("title", ""), form.get("license", ""),
                                 form.get("description", ""), form.get("tags"), form.get("derived_from") or None,
                                 form.get("unit"), _uploads(), hub().settings.limit_int("description_chars"),
                                 quota=hub().upload_quota)
        db().commit()
    except ApiError as exc:
        return form_page("designs/new.html", exc, **licence_choices())
    queue_validation(hub().tasks, design)
    return redirect(url_for("web.design", design_id=design.id), code=303)


@bp.post("/designs/<int:design_id>/versions")
@sign_in_required
def new_version(design_id: int) -> Any:
    design = service.get_design(db(), design_id)
    try:
        design = service.add_version(db(), _store(), signed_in(), design, request.form.get("changelog"),
                                     request.form.get("unit"), _uploads(), quota=hub().upload_quota)
        db().commit()
    except ApiError as exc:
        if exc.status == 403:
            raise
        db().rollback()
        return form_page("designs/detail.html", exc, version_error=True,
                         **_design_context(service.get_design(db(), design_id)))
    queue_validation(hub().tasks, design)
    return redirect(url_for("web.design", design_id=design.id) + "#versions", code=303)


def _design_context(design: Any, order_values: Any = None) -> dict[str, Any]:
    from server.web.orders import order_context

    body = schemas.design_json(design, service.derivatives(db(), design), service.ancestry(design))
    latest = body["versions"][-1] if body["versions"] else {"files": []}
    me = signed_in()
    return {"design": body, "latest": latest, "is_owner": me is not None and me.id == design.owner_id,
            "units": STATED_UNITS, **order_context(design, order_values)}


@bp.get("/designs/<int:design_id>")
def design(design_id: int) -> Any:
    from server.web.quotes import quotes_table

    context = _design_context(service.get_design(db(), design_id))
    return render_template("designs/detail.html", form={}, quotes=quotes_table(db(), design_id), **context)


@bp.get("/designs/files/<int:file_id>/report")
def file_report(file_id: int) -> Any:
    """One file's report as an HTML fragment: the page swaps it in when validation finishes."""
    row = service.get_file(db(), file_id)
    return render_template("designs/_file.html", f=schemas.file_json(row))
