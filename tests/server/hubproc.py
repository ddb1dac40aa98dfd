"""Run a real hub process (``cosmoloc serve``) on a free loopback port, for tests with real processes."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from tests.conftest import ROOMY_LIMITS

REPO = Path(__file__).resolve().parents[2]


def session() -> requests.Session:
    """A client session that retries a request whose connection broke, as a careful client does.

    Safe for every call the tests make: creating POSTs carry an Idempotency-Key, and the node
    endpoints answer a repeated accept, decline, progress (by seq) or complete without a change.
    """
    s = requests.Session()
    retry = Retry(total=3, connect=3, read=3, status=0, allowed_methods=None, backoff_factor=0.2,
                  raise_on_status=False)
    s.mount("http://", HTTPAdapter(max_retries=retry))
    return s


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HubProcess:
    def __init__(self, data_dir: Path, database_url: str | None = None, workers: int = 1, port: int | None = None,
                 **env: str) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "COSMOLOC_DATA_DIR": str(data_dir), **env}
        # Room for the many sign-ups a test makes from 127.0.0.1; limits the test names come after and win.
        roomy = " ".join(f"{k}={v}" for k, v in ROOMY_LIMITS.items())
        self.env["COSMOLOC_LIMITS"] = f"{roomy} {env.get('COSMOLOC_LIMITS', '')}".strip()
        if database_url:
            self.env["COSMOLOC_DATABASE_URL"] = database_url
        self.workers = workers
        self.log = data_dir / f"hub-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> HubProcess:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log, "ab")  # noqa: SIM115 (closed by the process)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--port", str(self.port), "--workers", str(self.workers)],
            cwd=str(REPO), env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited: {self.log.read_text()[-3000:]}")
            try:
                if requests.get(self.url + "/api/v1/openapi.json", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"hub did not start: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """Kill the hub at once (SIGKILL to its whole process group): no clean shutdown."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


class Client:
    """An account on a running hub, speaking HTTP."""

    def __init__(self, url: str, name: str) -> None:
        self.api = url + "/api/v1"
        self.session = session()
        email = f"{name}@example.org"
        r = self.session.post(self.api + "/accounts", json={"email": email, "password": "long enough pw", "name": name},
                              timeout=30)
        # a sign-up retried after a broken connection finds the account made (anonymous keys replay nothing)
        assert r.status_code == 201 or (r.status_code == 409 and r.json()["code"] == "email_taken"), r.text
        token = self.session.post(self.api + "/auth/tokens", json={"email": email, "password": "long enough pw"},
                                  timeout=30).json()["token"]
        self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.session.get(self.api + path, timeout=30, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.session.post(self.api + path, timeout=30, **kw)


def publish_cube(designer: Client, timeout: float = 60) -> dict:
    import trimesh

    data = bytes(trimesh.creation.box(extents=(20, 20, 20)).export(file_type="stl"))
    r = designer.post("/designs", data={"title": "Cube", "license": "CERN-OHL-S-2.0"}, files=[("files", ("cube.stl", data))],
                      headers={"Idempotency-Key": "publish-cube"})
    assert r.status_code == 201, r.text
    design = r.json()
    deadline = time.time() + timeout
    while time.time() < deadline:
        design = designer.get(f"/designs/{design['id']}").json()
        if design["versions"][0]["files"][0]["validation"]["status"] != "pending":
            return design
        time.sleep(0.3)
    raise AssertionError("the design was not validated in time")


def register_lab(operator: Client, name: str, lat: float, lon: float) -> tuple[int, requests.Session]:
    r = operator.post("/fablabs", json={"name": name, "kind": "fablab", "latitude": lat, "longitude": lon,
                                        "machines": [{"key": "p1", "name": "Printer", "process": "fdm",
                                                      "build_volume_mm": [220, 220, 250], "materials": ["PLA"]}]},
                      headers={"Idempotency-Key": f"lab-{name}"})
    assert r.status_code == 201, r.text
    node = session()
    node.headers["Authorization"] = "Bearer " + r.json()["node_token"]
    return r.json()["id"], node


def start_agent(lab_dir: Path, hub_url: str, node_token: str, log: Path, speed: float = 60) -> subprocess.Popen[bytes]:
    """A real agent process (``cosmoloc agent``) for one simulated Prusa MK4 taking PLA, accepting every offer.

    ``speed`` multiplies the simulated machine's pace (a 20 mm cube takes about 14 s at 60).
    """
    lab_dir.mkdir(parents=True, exist_ok=True)
    (lab_dir / "node-token").write_text(node_token)
    (lab_dir / "lab.toml").write_text(f"""
hub = "{hub_url}"
token_file = "node-token"
state_dir = "state"
poll_interval_s = 1
accept = "auto"

[[machines]]
key = "mk4"
name = "Prusa MK4"
process = "fdm"
build_volume_mm = [250, 210, 220]
materials = ["PLA"]
driver = "simulated"
speed = {speed:g}
""")
    return restart_agent(lab_dir, log)


def restart_agent(lab_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    """The agent of ``lab_dir`` (written by :func:`start_agent`) started again, with its outbox as it left it."""
    return subprocess.Popen([sys.executable, "-m", "server.cli", "agent", "--config", str(lab_dir / "lab.toml")],
                            cwd=str(REPO), stdout=open(log, "ab"), stderr=subprocess.STDOUT)
