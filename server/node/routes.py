"""Node (agent) endpoints: heartbeats and the lab's jobs. A node token acts for one lab only."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request

from server.db import utcnow
from server.designs.models import Blob
from server.edge import db, json_body, list_response, page_args, paginate, send_blob
from server.errors import ApiError
from server.fablabs import heartbeats
from server.fablabs import schemas as lab_schemas
from server.node.auth import beating_lab, current_lab
from server.orders import lab_actions
from server.orders import schemas as order_schemas
from server.orders.routes import rules

bp = Blueprint("node_api", __name__, url_prefix="/api/v1/node")

@bp.post("/heartbeat")
def heartbeat() -> Any:
    lab = beating_lab()
    settings = current_app.config["COSMOLOC"]
    max_machines = settings.limit_int("machines_per_lab")
    beat, refused = heartbeats.within_machine_limit(lab, json_body(lab_schemas.Heartbeat), max_machines)
    now = utcnow()
    heartbeats.record_heartbeat(db(), lab, beat, now, rules().stale_after_s)
    offered = lab_actions.offered_count(db(), lab.id)  # before the commit: no second transaction (nor SQLite write lock)
    db().commit()
    answer = {"server_time": now.isoformat(), "poll_interval_s": settings.poll_interval_s, "offered_jobs": offered}
    if refused:
        answer.update(machines_refused=refused, machines_limit=max_machines)
    return jsonify(answer)


def _job_json(job: Any) -> dict[str, Any]:
    f = job.order.file
    blob = db().get(Blob, f.canonical_sha256 or f.sha256)
    return order_schemas.job_json(job, blob.size_bytes if blob else None)


@bp.get("/jobs")
def jobs() -> Any:
    page, per_page = page_args()
    rows, total = paginate(db(), lab_actions.jobs_query(current_lab(), request.args.get("state")), page, per_page)
    return list_response([_job_json(j) for j in rows], page, per_page, total)


@bp.get("/jobs/<int:job_id>")
def job(job_id: int) -> Any:
    return jsonify(_job_json(lab_actions.get_job(db(), current_lab(), job_id)))


@bp.get("/jobs/<int:job_id>/file")
def job_file(job_id: int) -> Any:
    job = lab_actions.get_job(db(), current_lab(), job_id)
    f = job.order.file
    if not f.canonical_sha256:
        raise ApiError(409, "file_not_ready", "The file has no manufacturing file yet.")
    stem = f.filename.rsplit(".", 1)[0]
    return send_blob(f.canonical_sha256, "application/octet-stream", f"{stem}.{f.canonical_format}")


def _act(action: Any, *args: Any) -> Any:
    job = action(db(), current_lab(), *args)
    db().commit()
    return jsonify(_job_json(job))


@bp.post("/jobs/<int:job_id>/accept")
def accept(job_id: int) -> Any:
    body = json_body(order_schemas.AcceptBody) if request.get_data() else order_schemas.AcceptBody()
    return _act(lab_actions.accept, job_id, body.machine_key, rules(), utcnow())


@bp.post("/jobs/<int:job_id>/decline")
def decline(job_id: int) -> Any:
    body = json_body(order_schemas.ReasonBody)
    return _act(lab_actions.decline, job_id, body.reason, rules(), utcnow())


@bp.post("/jobs/<int:job_id>/progress")
def progress(job_id: int) -> Any:
    body = json_body(order_schemas.ProgressBody)
    return _act(lab_actions.progress, job_id, body.percent, body.state, body.seq, utcnow())


@bp.post("/jobs/<int:job_id>/complete")
def complete(job_id: int) -> Any:
    body = json_body(order_schemas.CompleteBody) if request.get_data() else order_schemas.CompleteBody()
    return _act(lab_actions.complete, job_id, body.note, utcnow())


@bp.post("/jobs/<int:job_id>/fail")
def fail(job_id: int) -> Any:
    body = json_body(order_schemas.ReasonBody)
    return _act(lab_actions.fail, job_id, body.reason, rules(), utcnow())
