"""Node (agent) endpoints: heartbeats and the lab's jobs. A node token acts for one lab only."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request

from cosmoloc_contract import node as contract
from cosmoloc_contract.orders import Job, JobList
from server.db import utcnow
from server.designs.models import Blob
from server.edge import db, json_body, list_response, page_args, paginate, send_blob
from server.errors import ApiError
from server.fablabs import heartbeats
from server.node.auth import beating_lab, current_lab
from server.openapi import Auth, Raw, operation
from server.orders import lab_actions
from server.orders import schemas as order_schemas
from server.orders.routes import rules

bp = Blueprint("node_api", __name__, url_prefix="/api/v1/node")


@bp.post("/heartbeat")
@operation("Heartbeat: machine states (and new machines); answers how often to poll", auth=Auth.NODE,
           body=contract.Heartbeat, answers={200: contract.HeartbeatAnswer})
def heartbeat() -> Any:
    lab = beating_lab()
    settings = current_app.config["COSMOLOC"]
    max_machines = settings.limit_int("machines_per_lab")
    beat, refused = heartbeats.within_machine_limit(lab, json_body(contract.Heartbeat), max_machines)
    now = utcnow()
    heartbeats.record_heartbeat(db(), lab, beat, now, rules().stale_after_s)
    offered = lab_actions.offered_count(db(), lab.id)  # before the commit: no second transaction (nor SQLite write lock)
    db().commit()
    answer = contract.HeartbeatAnswer(server_time=now, poll_interval_s=settings.poll_interval_s, offered_jobs=offered)
    if refused:
        answer.machines_refused, answer.machines_limit = refused, max_machines
    return jsonify(answer.to_json())


def _job_json(job: Any) -> dict[str, Any]:
    f = job.order.file
    blob = db().get(Blob, f.canonical_sha256 or f.sha256)
    return order_schemas.job_json(job, blob.size_bytes if blob else None)


@bp.get("/jobs")
@operation("The lab's jobs, newest first", auth=Auth.NODE, query=contract.JobQuery, answers={200: JobList})
def jobs() -> Any:
    page, per_page = page_args()
    rows, total = paginate(db(), lab_actions.jobs_query(current_lab(), request.args.get("state")), page, per_page)
    return list_response([_job_json(j) for j in rows], page, per_page, total)


@bp.get("/jobs/<int:job_id>")
@operation("One of the lab's jobs", auth=Auth.NODE, answers={200: Job})
def job(job_id: int) -> Any:
    return jsonify(_job_json(lab_actions.get_job(db(), current_lab(), job_id)))


@bp.get("/jobs/<int:job_id>/file")
@operation("The job's manufacturing file (ETag: its sha256)", auth=Auth.NODE,
           answers={200: Raw("application/octet-stream", "STL or DXF"), 304: None}, errors=(409,))
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
@operation("Accept an offered job", auth=Auth.NODE, body=contract.AcceptBody, answers={200: Job},
           errors=(409,), body_optional=True)
def accept(job_id: int) -> Any:
    body = json_body(contract.AcceptBody) if request.get_data() else contract.AcceptBody()
    return _act(lab_actions.accept, job_id, body.machine_key, rules(), utcnow())


@bp.post("/jobs/<int:job_id>/decline")
@operation("Decline an offered job", auth=Auth.NODE, body=contract.ReasonBody, answers={200: Job},
           errors=(409,))
def decline(job_id: int) -> Any:
    body = json_body(contract.ReasonBody)
    return _act(lab_actions.decline, job_id, body.reason, rules(), utcnow())


@bp.post("/jobs/<int:job_id>/progress")
@operation("Report progress; a seq not above the last one is ignored", auth=Auth.NODE,
           body=contract.ProgressBody, answers={200: Job}, errors=(409,))
def progress(job_id: int) -> Any:
    body = json_body(contract.ProgressBody)
    return _act(lab_actions.progress, job_id, body.percent, body.state, body.seq, utcnow())


@bp.post("/jobs/<int:job_id>/complete")
@operation("The job is made; repeating it changes nothing", auth=Auth.NODE, body=contract.CompleteBody,
           answers={200: Job}, errors=(409,), body_optional=True)
def complete(job_id: int) -> Any:
    body = json_body(contract.CompleteBody) if request.get_data() else contract.CompleteBody()
    return _act(lab_actions.complete, job_id, body.note, utcnow())


@bp.post("/jobs/<int:job_id>/fail")
@operation("The job failed (the order is matched again)", auth=Auth.NODE, body=contract.ReasonBody,
           answers={200: Job}, errors=(409,))
def fail(job_id: int) -> Any:
    body = json_body(contract.ReasonBody)
    return _act(lab_actions.fail, job_id, body.reason, rules(), utcnow())
