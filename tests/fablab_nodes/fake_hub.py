"""A small fake of the hub's node endpoints (API.md), for testing the agent over real HTTP.

A real ``http.server`` on 127.0.0.1 (ephemeral port) in a thread, with in-memory state. It can
go down (:meth:`FakeHub.stop`: connections are refused), answer 503 to everything
(``hub.mode = "503"``) and come back on the same port (:meth:`FakeHub.start`). Its jobs, answers
and the bodies it accepts are the contract's models (cosmoloc_contract), as the real hub's are:
a body the hub would refuse is a 422 here too, and every answer is what the hub's would be.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ValidationError

from cosmoloc_contract import node
from cosmoloc_contract import orders as contract
from cosmoloc_contract.common import Problem
from cosmoloc_contract.designs import Requirements
from cosmoloc_contract.enums import JobState

PREFIX = "/api/v1/node"
LIVE = ("accepted", "in_production")


class FakeHub:
    """In-memory hub: ``jobs`` by id, ``heartbeats`` and ``received`` (job reports it took, in
    order of arrival, as ``(job_id, kind, body)``)."""

    def __init__(self, token: str = "node-token-s3cr3t-value", poll_interval_s: float = 0.02) -> None:
        self.token = token
        self.poll_interval_s = poll_interval_s
        self.lock = threading.RLock()
        self.jobs: dict[str, dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}
        self.etags: dict[str, str] = {}
        self.heartbeats: list[dict[str, Any]] = []
        self.machines: dict[str, dict[str, Any]] = {}
        self.received: list[tuple[str, str, dict[str, Any]]] = []
        self.requests: list[tuple[str, str]] = []
        self.last_seq: dict[str, int] = {}
        self.mode = "up"
        self.check_answers = True  # False: jobs are answered as stored, even when a test broke their shape
        self.port = 0
        self._ids = itertools.count(101)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeHub:
        """Serve (again, on the same port once one was chosen)."""
        hub = self

        class Handler(_Handler):
            fake = hub

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Go down: the port refuses connections until :meth:`start`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- test helpers ---------------------------------------------------------------------

    def add_job(self, material: str = "PLA", bbox_mm: tuple[float, float, float] = (20, 20, 20),
                volume_mm3: float = 4000.0, processes: tuple[str, ...] = ("fdm",), quantity: int = 1,
                content: bytes = b"solid cube\nendsolid cube\n", sha256: str | None = None,
                sheet_mm: tuple[float, float] | None = None, machine_key: str | None = None) -> dict[str, Any]:
        """Offer a new job to the lab; ``sha256`` overrides the true hash of ``content``."""
        with self.lock:
            job_id = str(next(self._ids))
            now = datetime.now(UTC)
            job = contract.Job(
                id=int(job_id), order_id=int(job_id) + 1000, state=JobState.OFFERED,
                expires_at=now + timedelta(minutes=15), machine_key=machine_key, progress=None, quantity=quantity,
                material=material, process=None, thickness_mm=None, distance_km=3.2,
                delivery=contract.DeliveryPlace(latitude=41.4, longitude=2.2, address=None, approximate=True),
                reason=None, created_at=now, updated_at=now,
                design=contract.JobDesign(id=7, title=f"Part {job_id}", license="CERN-OHL-S-2.0"),
                file=contract.JobFile(
                    id=int(job_id) + 500, filename=f"part-{job_id}.stl", format="stl",
                    sha256=sha256 or hashlib.sha256(content).hexdigest(), size_bytes=len(content),
                    original_filename=f"part-{job_id}.stl",
                    requirements=Requirements(processes=list(processes), bbox_mm=list(bbox_mm), volume_mm3=volume_mm3,
                                              **({"sheet_mm": list(sheet_mm)} if sheet_mm else {}))),
            ).to_json()
            self.jobs[job_id] = job
            self.files[job_id] = content
            return job

    def withdraw(self, job_id: str) -> None:
        with self.lock:
            self.jobs[str(job_id)]["state"] = "withdrawn"

    def job(self, job_id: Any) -> dict[str, Any]:
        with self.lock:
            return dict(self.jobs[str(job_id)])

    def reports_for(self, job_id: Any) -> list[tuple[str, dict[str, Any]]]:
        with self.lock:
            return [(kind, body) for jid, kind, body in self.received if jid == str(job_id)]

    # -- the endpoints --------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        with self.lock:
            self.requests.append((method, path))
            parts = path.removeprefix(PREFIX).strip("/").split("/")
            if method == "POST" and parts == ["heartbeat"]:
                return self._heartbeat(body)
            if method == "GET" and parts == ["jobs"]:
                return self._list(query)
            if len(parts) < 2 or parts[0] != "jobs" or parts[1] not in self.jobs:
                return _problem(404, "not_found", "no such job")
            job = self.jobs[parts[1]]
            if len(parts) == 2 and method == "GET":
                return 200, _job(job) if self.check_answers else job, {}
            if len(parts) == 3 and method == "GET" and parts[2] == "file":
                if job["state"] not in (*LIVE, "completed"):
                    return _problem(409, "not_accepted", "accept the job first")
                content = self.files[parts[1]]
                etag = self.etags.get(parts[1], hashlib.sha256(content).hexdigest())
                return 200, content, {"ETag": f'"{etag}"'}
            if len(parts) == 3 and method == "POST" and parts[2] in BODIES:
                try:
                    BODIES[parts[2]].model_validate(body or {})
                except ValidationError as exc:
                    return _problem(422, "invalid_input", str(exc))
                return self._report(parts[1], job, parts[2], body or {})
            return _problem(404, "not_found", "no such endpoint")

    def _heartbeat(self, body: Any) -> tuple[int, Any, dict[str, str]]:
        try:
            beat = node.Heartbeat.model_validate(body)
        except ValidationError as exc:
            return _problem(422, "invalid_input", str(exc))
        self.heartbeats.append(body)
        for m in beat.machines:
            self.machines.setdefault(m.key, {}).update(m.model_dump(mode="json", exclude_unset=True))
        offered = sum(1 for j in self.jobs.values() if j["state"] == "offered")
        answer = node.HeartbeatAnswer(server_time=datetime.now(UTC), poll_interval_s=self.poll_interval_s,
                                      offered_jobs=offered)
        return 200, answer.to_json(), {}

    def _list(self, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        items = [j for j in sorted(self.jobs.values(), key=lambda j: -j["id"])
                 if not query.get("state") or j["state"] == query["state"]]
        page, per_page = int(query.get("page", 1)), int(query.get("per_page", 20))
        chunk = items[(page - 1) * per_page: page * per_page]
        page_of_jobs = contract.JobList(items=[contract.Job.model_validate(j) for j in chunk], page=page,
                                        per_page=per_page, total=len(items))
        return 200, page_of_jobs.to_json(), {}

    def _report(self, job_id: str, job: dict[str, Any], kind: str, body: dict[str, Any]) -> tuple[int, Any, dict]:
        state = job["state"]
        if kind in ("accept", "decline"):
            if state != "offered":
                return _problem(409, "not_offered", f"job is {state}")
            if kind == "accept":
                job["state"], job["machine_key"] = "accepted", body.get("machine_key") or job["machine_key"]
            else:
                job["state"], job["reason"] = "declined", body.get("reason")
        elif kind == "progress":
            if state not in LIVE:
                return _problem(409, "not_in_production", f"job is {state}")
            if int(body["seq"]) <= self.last_seq.get(job_id, 0):
                return 200, _job(job), {}  # an old seq: ignored
            self.last_seq[job_id] = int(body["seq"])
            job["state"], job["progress"] = body.get("state") or "in_production", body["percent"]
        elif kind == "complete":
            if state == "completed":
                return 200, _job(job), {}
            if state not in LIVE:
                return _problem(409, "not_in_production", f"job is {state}")
            job["state"], job["progress"] = "completed", 100
        elif kind == "fail":
            if state not in LIVE:
                return _problem(409, "not_in_production", f"job is {state}")
            job["state"], job["reason"] = "failed", body.get("reason")
        else:
            return _problem(404, "not_found", "no such endpoint")
        job["updated_at"] = datetime.now(UTC).isoformat()
        self.received.append((job_id, kind, body))
        return 200, _job(job), {}


#: the bodies of a job's reports, as the hub reads them
BODIES: dict[str, type[BaseModel]] = {"accept": node.AcceptBody, "decline": node.ReasonBody,
                                      "progress": node.ProgressBody, "complete": node.CompleteBody,
                                      "fail": node.ReasonBody}


def _job(job: dict[str, Any]) -> dict[str, Any]:
    """The job as the hub answers it: through the contract's model, so a state the fake set wrongly shows."""
    return contract.Job.model_validate(job).to_json()


def _problem(status: int, code: str, detail: str) -> tuple[int, Any, dict[str, str]]:
    problem = Problem(type=f"https://cosmoloc.org/problems/{code}", title=code, status=status, detail=detail, code=code)
    return status, problem.to_json(), {"Content-Type": "application/problem+json"}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeHub

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _serve(self, method: str) -> None:
        hub = self.fake
        if hub.mode == "503":
            return self._send(503, {"code": "unavailable", "status": 503, "title": "down"}, {})
        if self.headers.get("Authorization") != f"Bearer {hub.token}":
            return self._send(*_problem(401, "unauthorized", "bad node token"))
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return self._send(*_problem(422, "invalid_json", "body is not JSON"))
        self._send(*hub.handle(method, split.path, query, body))

    def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        ctype = "application/octet-stream" if isinstance(payload, bytes) else "application/json"
        self.send_header("Content-Type", headers.pop("Content-Type", ctype))
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")
