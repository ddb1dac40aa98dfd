"""Orders placed per second through the HTTP API, under gunicorn on PostgreSQL, against a ceiling.

Used by ``benchmarks/labs_orders.py``; see there and ``benchmarks/README.md``.

One gunicorn (2 gthread workers, 8 threads each) serves ``benchmarks.bench_wsgi:app``: the hub
built by ``create_app()`` from COSMOLOC_* settings pointing at a fresh PostgreSQL database,
plus ``/api/bench/constant``. The same processes answer, with the same client (N threads, one
keep-alive connection each, the same JSON body and headers):

  ceiling  POST /api/bench/constant   (no database)
  orders   POST /api/v1/orders    (a validated cube, labs around one city online by node heartbeats)

Client, server and database share the machine's cores: the ceiling is what this whole setup
can answer, not what the hub could answer with the client elsewhere.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_data import Store, fmt_ms, log, pct, table  # noqa: E402

CITY = ("Berlin", 52.5200, 13.4050)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cube_stl(side: float = 20.0) -> bytes:
    import trimesh

    data = trimesh.creation.box(extents=(side, side, side)).export(file_type="stl")
    return bytes(data)


def proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and its direct children, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    try:
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


class Server:
    """gunicorn on the bench wsgi module; stopped (and its process group killed if needed) by ``stop``."""

    def __init__(self, url: str, data_dir: Path, workers: int = 2, threads: int = 8) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "gunicorn.log"
        env = dict(os.environ, COSMOLOC_DATABASE_URL=url, COSMOLOC_DATA_DIR=str(data_dir / "instance"),
                   COSMOLOC_SECRET_KEY="bench-" + "0" * 58, PYTHONPATH=str(ROOT))
        env.pop("COSMOLOC_REDIS_URL", None)
        self.cmd = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-k", "gthread", "--threads", str(threads),
                    "-b", f"127.0.0.1:{self.port}", "--timeout", "120", "benchmarks.bench_wsgi:app"]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.proc.returncode}); see {self.log_path}:\n"
                                   + self.log_path.read_text()[-3000:])
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/api/bench/constant")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer in time")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # workers left behind, if any (our own process group)
        except (ProcessLookupError, PermissionError):
            pass
        self._log.close()


class Api:
    """A tiny JSON client for the setup steps (not for the measured load)."""

    def __init__(self, base: str) -> None:
        import requests

        self.base, self.http = base, requests.Session()

    def call(self, method: str, path: str, token: str | None = None, expect: int = 200, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        r = self.http.request(method, self.base + path, headers=headers, timeout=60, **kw)
        if r.status_code != expect:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:500]}")
        return r.json()

    def account(self, email: str) -> str:
        self.call("POST", "/api/v1/accounts", json={"email": email, "password": "bench-password-1", "name": email},
                  expect=201)
        return str(self.call("POST", "/api/v1/auth/tokens", json={"email": email, "password": "bench-password-1"},
                             expect=201)["token"])


def setup(api: Api, rng: np.random.Generator, n_labs: int, n_citizens: int) -> tuple[int, list[str]]:
    """A designer with a validated cube, labs around the city online, citizens with tokens."""
    designer = api.account("designer@bench.example")
    design = api.call("POST", "/api/v1/designs", designer, expect=201,
                      data={"title": "Bench cube", "license": "CERN-OHL-S-2.0", "unit": "mm"},
                      files={"files": ("cube.stl", cube_stl(), "application/octet-stream")})
    file_id = design["versions"][-1]["files"][0]["id"]
    deadline = time.monotonic() + 60
    while True:
        status = api.call("GET", f"/api/v1/files/{file_id}")["validation"]["status"]
        if status != "pending":
            break
        if time.monotonic() > deadline:
            raise RuntimeError("the cube was not validated within 60 s")
        time.sleep(0.2)
    if status not in ("passed", "warnings"):
        raise RuntimeError(f"the cube did not pass validation: {status}")
    _, lat0, lon0 = CITY
    for i in range(n_labs):
        lat = lat0 + rng.normal(0, 10) / 110.574
        lon = lon0 + rng.normal(0, 10) / (111.32 * np.cos(np.radians(lat0)))
        lab = api.call("POST", "/api/v1/fablabs", designer, expect=201, json={
            "name": f"Bench lab {i}", "kind": "fablab", "latitude": lat, "longitude": lon,
            "machines": [{"key": "mk4", "name": "MK4", "process": "fdm", "build_volume_mm": [250, 210, 220],
                          "materials": ["PLA", "PETG"]}]})
        api.call("POST", "/api/v1/node/heartbeat", lab["node_token"],
                 json={"agent": "bench/1", "machines": [{"key": "mk4", "state": "idle", "queue_length": 0}]})
    citizens = [api.account(f"citizen{i}@bench.example") for i in range(n_citizens)]
    return int(design["id"]), citizens


def load(port: int, path: str, bodies: list[list[bytes]], tokens: list[str], duration_s: float,
         parse_status: bool) -> dict[str, Any]:
    """``len(tokens)`` threads POST ``path`` for ``duration_s``; latencies, status codes, order statuses."""
    stop_at = time.perf_counter() + duration_s
    lat: list[list[float]] = [[] for _ in tokens]
    codes: list[dict[int, int]] = [{} for _ in tokens]
    states: list[dict[str, int]] = [{} for _ in tokens]
    errors = [0] * len(tokens)

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": f"Bearer {tokens[k]}", "Content-Type": "application/json"}
        mine = bodies[k]
        i = 0
        while time.perf_counter() < stop_at:
            body = mine[i % len(mine)]
            i += 1
            t = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException):
                errors[k] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            lat[k].append(time.perf_counter() - t)
            codes[k][resp.status] = codes[k].get(resp.status, 0) + 1
            if parse_status and resp.status == 201:
                s = json.loads(data).get("status", "?")
                states[k][s] = states[k].get(s, 0) + 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(len(tokens))]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=duration_s + 60)
    elapsed = time.perf_counter() - t0
    all_lat = [x for part in lat for x in part]
    code_total: dict[int, int] = {}
    state_total: dict[str, int] = {}
    for c in codes:
        for k, v in c.items():
            code_total[k] = code_total.get(k, 0) + v
    for s in states:
        for k, v in s.items():
            state_total[k] = state_total.get(k, 0) + v
    return {"requests": len(all_lat), "elapsed": elapsed, "rate": len(all_lat) / elapsed, "p50": pct(all_lat, 50),
            "p95": pct(all_lat, 95), "p99": pct(all_lat, 99), "codes": code_total, "states": state_total,
            "errors": sum(errors)}


def bench_http(tmpdir: Path, rng: np.random.Generator, threads: int, duration_s: float, ceiling_s: float,
               n_labs: int) -> dict[str, Any]:
    store = Store("postgresql", "http", tmpdir)
    server: Server | None = None
    try:
        store.create()  # fresh database, migrated with server.schema.upgrade
        assert store.db is not None
        store.db.dispose()
        store.db = None
        server = Server(store.url, tmpdir)
        server.wait_ready()
        log(f"gunicorn up on {server.base}; setting up designer, cube, {n_labs} labs, {threads} citizens")
        api = Api(server.base)
        design_id, citizens = setup(api, rng, n_labs, threads)
        _, lat0, lon0 = CITY
        bodies = []
        for _ in range(threads):
            mine = []
            for _ in range(200):
                lat = lat0 + rng.normal(0, 8) / 110.574
                lon = lon0 + rng.normal(0, 8) / (111.32 * np.cos(np.radians(lat0)))
                mine.append(json.dumps({"design_id": design_id, "material": "PLA", "max_distance_km": 50,
                                        "delivery": {"latitude": round(lat, 6), "longitude": round(lon, 6)}}).encode())
            bodies.append(mine)
        results: dict[str, Any] = {"threads": threads, "labs": n_labs, "command": " ".join(server.cmd[1:])}
        for name, path, seconds, parse in (("ceiling", "/api/bench/constant", ceiling_s, False),
                                           ("orders", "/api/v1/orders", duration_s, True)):
            load(server.port, path, bodies, citizens, min(2.0, seconds / 4), False)  # warm-up, not counted
            log(f"{name}: {threads} threads for {seconds:.0f} s on {path}")
            cpu_client0, cpu_server0 = time.process_time(), proc_cpu_s(server.proc.pid)
            r = load(server.port, path, bodies, citizens, seconds, parse)
            r["cpu_client"] = (time.process_time() - cpu_client0) / r["elapsed"]
            r["cpu_server"] = (proc_cpu_s(server.proc.pid) - cpu_server0) / r["elapsed"]
            results[name] = r
        with store_session(store) as conn:
            results["orders_in_db"] = conn.exec_driver_sql("SELECT count(*) FROM orders").scalar()
            results["offered_in_db"] = conn.exec_driver_sql("SELECT count(*) FROM jobs WHERE state = 'offered'").scalar()
        return results
    finally:
        if server is not None:
            server.stop()
        store.drop()


class store_session:  # noqa: N801 - used as a context manager
    def __init__(self, store: Store) -> None:
        from sqlalchemy import create_engine

        self.engine = create_engine(store.url)

    def __enter__(self) -> Any:
        self.conn = self.engine.connect()
        return self.conn

    def __exit__(self, *exc: Any) -> None:
        self.conn.close()
        self.engine.dispose()


def report_http(r: dict[str, Any]) -> str:
    rows = []
    for name, label in (("ceiling", "POST /api/bench/constant"), ("orders", "POST /api/v1/orders")):
        x = r[name]
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(x["codes"].items()))
        rows.append([label, f"{x['requests']:,}", f"{x['rate']:.0f}", fmt_ms(x["p50"]), fmt_ms(x["p95"]),
                     fmt_ms(x["p99"]), codes + (f", conn errors: {x['errors']}" if x["errors"] else ""),
                     f"{x['cpu_server']:.2f}", f"{x['cpu_client']:.2f}"])
    out = table(f"4. HTTP under gunicorn (2 gthread workers x 8 threads) on PostgreSQL, {r['threads']} client threads,"
                f" {r['labs']} labs online around {CITY[0]}",
                ["endpoint", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "status codes",
                 "server cores", "client cores"], rows)
    o, c = r["orders"], r["ceiling"]
    states = ", ".join(f"{k}: {v}" for k, v in sorted(o["states"].items()))
    out += (f"\n  orders/s = {o['rate']:.0f}, ceiling = {c['rate']:.0f} req/s: ratio {o['rate'] / c['rate']:.2f} "
            f"(the ceiling is {c['rate'] / o['rate']:.1f}x the orders rate)"
            f"\n  order statuses answered: {states}; in the database: {r['orders_in_db']} orders, "
            f"{r['offered_in_db']} live offers"
            f"\n  server: {r['command']}")
    return out
