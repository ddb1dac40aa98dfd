"""A small fake of the hub's node endpoints (API.md), for testing the agent over real HTTP.

A real ``http.server`` on 127.0.0.1 (ephemeral port) in a thread, with in-memory state. It can
go down (:meth:`FakeHub.stop`: connections are refused), answer 503 to everything
(``hub.mode = "503"``) and come back on the same port (:meth:`FakeHub.start`).
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
            requirements: dict[str, Any] = {"processes": list(processes), "bbox_mm": list(bbox_mm),
                                            "volume_mm3": volume_mm3}
            if sheet_mm:
                requirements["sheet_mm"] = list(sheet_mm)
            job = {
                "id": int(job_id), "order_id": int(job_id) + 1000, "state": "offered",
                "expires_at": (datetime.now(UTC) + timedelta(minutes=15)).isoformat(),
                "machine_key": machine_key, "quantity": quantity, "material": material, "distance_km": 3.2,
                "progress": None, "design": {"id": 7, "title": f"Part {job_id}", "license": "CERN-OHL-S-2.0"},
                "file": {"id": int(job_id) + 500, "filename": f"part-{job_id}.stl", "format": "stl",
                         "sha256": sha256 or hashlib.sha256(content).hexdigest(), "size_bytes": len(content),
                         "requirements": requirements},
                "decline_reason": None, "fail_reason": None,
            }
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
                return 200, job, {}
            if len(parts) == 3 and method == "GET" and parts[2] == "file":
                if job["state"] not in (*LIVE, "completed"):
                    return _problem(409, "not_accepted", "accept the job first")
                content = self.files[parts[1]]
                etag = self.etags.get(parts[1], hashlib.sha256(content).hexdigest())
                return 200, content, {"ETag": f'"{etag}"'}
            if len(parts) == 3 and method == "POST":
                return self._report(parts[1], job, parts[2], body or {})
            return _problem(404, "not_found", "no such endpoint")

    def _heartbeat(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        self.heartbeats.append(body)
        for m in body.get("machines", []):
            self.machines.setdefault(m["key"], {}).update(m)
        offered = sum(1 for j in self.jobs.values() if j["state"] == "offered")
        return 200, {"server_time": datetime.now(UTC).isoformat(), "poll_interval_s": self.poll_interval_s,
                     "offered_jobs": offered}, {}

    def _list(self, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        items = [j for j in sorted(self.jobs.values(), key=lambda j: -j["id"])
                 if not query.get("state") or j["state"] == query["state"]]
        page, per_page = int(query.get("page", 1)), int(query.get("per_page", 20))
        chunk = items[(page - 1) * per_page: page * per_page]
        return 200, {"items": chunk, "page": page, "per_page": per_page, "total": len(items)}, {}

    def _report(self, job_id: str, job: dict[str, Any], kind: str, body: dict[str, Any]) -> tuple[int, Any, dict]:
        state = job["state"]
        if kind in ("accept", "decline"):
            if state != "offered":
                return _problem(409, "not_offered", f"job is {state}")
            if kind == "accept":
                job["state"], job["machine_key"] = "accepted", body.get("machine_key") or job["machine_key"]
            else:
                job["state"], job["decline_reason"] = "declined", body.get("reason")
        elif kind == "progress":
            if state not in LIVE:
                return _problem(409, "not_in_production", f"job is {state}")
            if int(body["seq"]) <= self.last_seq.get(job_id, 0):
                return 200, job, {}  # an old seq: ignored
            self.last_seq[job_id] = int(body["seq"])
            job["state"], job["progress"] = body.get("state") or "in_production", body["percent"]
        elif kind == "complete":
            if state == "completed":
                return 200, job, {}
            if state not in LIVE:
                return _problem(409, "not_in_production", f"job is {state}")
            job["state"], job["progress"] = "completed", 100
        elif kind == "fail":
            if state not in LIVE:
                return _problem(409, "not_in_production", f"job is {state}")
            job["state"], job["fail_reason"] = "failed", body.get("reason")
        else:
            return _problem(404, "not_found", "no such endpoint")
        self.received.append((job_id, kind, body))
        return 200, job, {}


def _problem(status: int, code: str, detail: str) -> tuple[int, Any, dict[str, str]]:
    return status, {"type": "about:blank", "title": code, "status": status, "detail": detail, "code": code}, {
        "Content-Type": "application/problem+json"}


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
