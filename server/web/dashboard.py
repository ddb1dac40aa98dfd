"""The operator dashboard: offers and jobs of the labs you run, answered from the browser (for labs
without an agent) through the same lab actions the node endpoints call; editing a lab and its
machines; rotating the node token; a ready agent config file."""
from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for
from pydantic import ValidationError
from sqlalchemy import select

from cosmoloc_contract.enums import PROCESSES
from cosmoloc_contract.node import Heartbeat
from server.db import utcnow
from server.edge import content_disposition, db, public_base_url
from server.errors import ApiError
from server.fablabs import agent_config, heartbeats, schemas, service
from server.fablabs.models import Fablab, LabKind
from server.input_rules import finite_float
from server.orders import lab_actions
from server.orders import schemas as order_schemas
from server.orders.models import JobState
from server.web import labforms
from server.web.fablabs import lab_json
from server.web.site import bp, form_page, rules, secret_page, settings, sign_in_required, signed_in

RECENT_DONE = 10
BY_HAND = "web dashboard"  # the agent name of machine states an operator reports on this page
REMIND_WITHIN = 0.25  # share of COSMOLOC_NODE_STALE_AFTER_S left when a hand-reported lab is told it will lapse


def _my_labs(account: Any) -> list[Fablab]:
    return list(db().scalars(select(Fablab).where(Fablab.operator_id == account.id).order_by(Fablab.name)))


def _own_lab(lab_id: int) -> Fablab:
    lab = service.get_lab(db(), lab_id)
    service.require_operator(lab, signed_in())
    return lab


def _jobs(lab: Fablab, *states: JobState) -> list[dict[str, Any]]:
    rows = []
    for state in states:
        rows += list(db().scalars(lab_actions.jobs_query(lab, state.value).limit(50)))
    return [order_schemas.job_json(j, None) for j in sorted(rows, key=lambda j: j.id, reverse=True)]


@bp.get("/dashboard")
@sign_in_required
def dashboard() -> Any:
    labs = []
    stale_after_s = settings().node_stale_after_s
    now = utcnow()
    for lab in _my_labs(signed_in()):
        entry = {"lab": lab_json(lab), "offers": _jobs(lab, JobState.OFFERED),
                 "active": _jobs(lab, JobState.ACCEPTED, JobState.IN_PRODUCTION),
                 "done": _jobs(lab, JobState.COMPLETED, JobState.FAILED)[:RECENT_DONE],
                 "by_hand": lab.agent == BY_HAND and lab.last_seen_at is not None}
        if entry["by_hand"]:
            assert lab.last_seen_at is not None
            until = lab.last_seen_at + dt.timedelta(seconds=stale_after_s)
            entry["online_until"] = until
            entry["lapsing"] = (until - now).total_seconds() <= stale_after_s * REMIND_WITHIN
        labs.append(entry)
    return render_template("dashboard/index.html", labs=labs, stale_after_s=stale_after_s)


def _act(lab_id: int, job_id: int, done: str, action: Any, *args: Any) -> Any:
    lab = _own_lab(lab_id)
    try:
        action(db(), lab, job_id, *args)
        db().commit()
        flash(done, "ok")
    except ApiError as exc:
        if exc.keep_changes:
            db().commit()
        else:
            db().rollback()
        if exc.status in (401, 403, 404):
            raise
        flash(exc.detail, "error")
    return redirect(url_for("web.dashboard") + f"#lab-{lab_id}", code=303)


@bp.post("/dashboard/labs/<int:lab_id>/jobs/<int:job_id>/accept")
@sign_in_required
def accept_job(lab_id: int, job_id: int) -> Any:
    return _act(lab_id, job_id, "Offer accepted. The citizen can see it.", lab_actions.accept,
                request.form.get("machine_key") or None, rules(), utcnow())


@bp.post("/dashboard/labs/<int:lab_id>/jobs/<int:job_id>/decline")
@sign_in_required
def decline_job(lab_id: int, job_id: int) -> Any:
    reason = request.form.get("reason", "").strip() or "declined by the operator"
    return _act(lab_id, job_id, "Offer declined; the order goes to the next lab.", lab_actions.decline,
                reason[:500], rules(), utcnow())


@bp.post("/dashboard/labs/<int:lab_id>/jobs/<int:job_id>/progress")
@sign_in_required
def job_progress(lab_id: int, job_id: int) -> Any:
    try:
        percent = min(max(finite_float(request.form.get("percent", "0")), 0.0), 100.0)
    except ValueError:
        flash("Progress is a number from 0 to 100.", "error")
        return redirect(url_for("web.dashboard"), code=303)
    job = lab_actions.get_job(db(), _own_lab(lab_id), job_id)
    return _act(lab_id, job_id, f"Progress set to {percent:.0f}%.", lab_actions.progress, percent, "in_production",
                job.last_seq + 1, utcnow())


@bp.post("/dashboard/labs/<int:lab_id>/jobs/<int:job_id>/complete")
@sign_in_required
def complete_job(lab_id: int, job_id: int) -> Any:
    return _act(lab_id, job_id, "Marked as done. The citizen is told it is ready.", lab_actions.complete,
                request.form.get("note", "").strip()[:2000], utcnow())


@bp.post("/dashboard/labs/<int:lab_id>/jobs/<int:job_id>/fail")
@sign_in_required
def fail_job(lab_id: int, job_id: int) -> Any:
    reason = request.form.get("reason", "").strip() or "the lab could not make it"
    return _act(lab_id, job_id, "Marked as failed; the order looks for another lab.", lab_actions.fail,
                reason[:500], rules(), utcnow())


def _edit_context(lab: Fablab) -> dict[str, Any]:
    return {"lab": lab_json(lab), "kinds": [k.value for k in LabKind], "processes": PROCESSES,
            "machines": [schemas.machine_json(m) for m in lab.machines], "blank_rows": 1}


@bp.route("/dashboard/labs/<int:lab_id>/edit", methods=["GET", "POST"])
@sign_in_required
def edit_lab(lab_id: int) -> Any:
    lab = _own_lab(lab_id)
    if request.method == "GET":
        body = lab_json(lab)
        form = {k: body[k] for k in ("name", "kind", "description", "latitude", "longitude")}
        form.update(address=lab.address, accepting_orders="on" if lab.accepting_orders else "")
        return render_template("dashboard/edit.html", form=form, **_edit_context(lab))
    form = request.form
    moved = (form.get("address", "").strip() != (lab.address or "")
             or form.get("latitude", "").strip() != str(lab.latitude) or form.get("longitude", "").strip() != str(lab.longitude))
    try:
        lab = service.update(db(), signed_in(), lab, labforms.lab_patch(form, moved), utcnow(),
                             settings().limit_int("machines_per_lab"))
        db().commit()
    except ApiError as exc:
        db().rollback()
        return form_page("dashboard/edit.html", exc, **_edit_context(_own_lab(lab_id)))
    flash("Lab saved.", "ok")
    return redirect(url_for("web.dashboard") + f"#lab-{lab_id}", code=303)


@bp.post("/dashboard/labs/<int:lab_id>/token")
@sign_in_required
def rotate_token(lab_id: int) -> Any:
    lab = _own_lab(lab_id)
    token = service.rotate_token(db(), signed_in(), lab)
    db().commit()
    return secret_page("dashboard/token.html", lab=lab_json(lab), token=token, registered=False)


@bp.post("/dashboard/labs/<int:lab_id>/machines")
@sign_in_required
def report_machines(lab_id: int) -> Any:
    """For labs without an agent: the operator reports each machine's state by hand, as a heartbeat would."""
    lab = _own_lab(lab_id)
    states = {m.key: request.form.get(f"state-{m.key}", "") for m in lab.machines}
    try:
        beat = Heartbeat.model_validate({"agent": BY_HAND,
                                         "machines": [{"key": k, "state": v} for k, v in states.items()]})
    except ValidationError:
        flash("Choose a state for every machine.", "error")
        return redirect(url_for("web.dashboard") + f"#lab-{lab_id}", code=303)
    heartbeats.heartbeat(db(), lab, beat, utcnow(), settings().node_stale_after_s)
    db().commit()
    minutes = settings().node_stale_after_s // 60
    flash(f"Machine states saved. The lab counts as online for {minutes} minutes; report again to stay online.", "ok")
    return redirect(url_for("web.dashboard") + f"#lab-{lab_id}", code=303)


@bp.get("/dashboard/labs/<int:lab_id>/agent.toml")
@sign_in_required
def agent_toml(lab_id: int) -> Response:
    lab = _own_lab(lab_id)
    return Response(agent_config.render(lab, public_base_url(), driver="manual", accept="manual"),
                    mimetype="application/toml", headers={"Content-Disposition": content_disposition(f"lab-{lab.id}.toml")})
