"""Real hub processes: several gunicorn workers on PostgreSQL under load, and a hub killed mid-flight.

These are the order life's guarantees checked the way they matter: many processes and threads at once.
"""
from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from tests.conftest import fresh_postgres_url
from tests.server.hubproc import REPO, Client, HubProcess, publish_cube, register_lab

pytestmark = pytest.mark.slow

LIVE = {"offered", "accepted", "in_production"}
CENTRE = (41.39, 2.17)


@pytest.fixture
def fresh_postgres() -> Any:
    with fresh_postgres_url("cosmoloc_proc") as url:
        yield url


class LabBot(threading.Thread):
    """A lab that heartbeats and answers offers in its own way: accept, decline, stay silent or accept late."""

    def __init__(self, api: str, node: Any, behaviour: str) -> None:
        super().__init__(daemon=True)
        self.api, self.node, self.behaviour = api, node, behaviour
        self.stop = threading.Event()
        self.accept_answers: dict[int, tuple[int, str]] = {}
        self.errors: list[str] = []

    def call(self, method: str, path: str, **kw: Any) -> Any:
        return self.node.request(method, self.api + path, timeout=30, **kw)

    def run(self) -> None:
        rng = random.Random(hash(self.behaviour))
        while not self.stop.is_set():
            try:
                self.call("POST", "/node/heartbeat", json={"agent": "bot/1", "machines": [{"key": "p1", "state": "idle"}]})
                if self.behaviour == "silent":
                    time.sleep(0.5)
                    continue
                for job in self.call("GET", "/node/jobs", params={"state": "offered", "per_page": 100}).json()["items"]:
                    self.answer(job, rng)
                for job in self.call("GET", "/node/jobs", params={"state": "accepted", "per_page": 100}).json()["items"]:
                    self.call("POST", f"/node/jobs/{job['id']}/progress", json={"percent": 50, "seq": 1})
                    self.call("POST", f"/node/jobs/{job['id']}/complete", json={})
            except Exception as exc:  # a broken call is recorded and checked at the end
                self.errors.append(repr(exc))
            time.sleep(0.2)

    def answer(self, job: dict, rng: random.Random) -> None:
        if self.behaviour == "decline":
            r = self.call("POST", f"/node/jobs/{job['id']}/decline", json={"reason": "too busy"})
            assert r.status_code in (200, 409), r.text
            return
        if self.behaviour == "late" and rng.random() < 0.3:  # accept right around the offer's expiry
            time.sleep(rng.uniform(3.0, 5.0))
        r = self.call("POST", f"/node/jobs/{job['id']}/accept", json={"machine_key": "p1"})
        code = r.json().get("code", "") if r.status_code != 200 else ""
        self.accept_answers[job["id"]] = (r.status_code, code)


def check_history(session: Session) -> dict[str, int]:
    """Every order in a legal state, at most one live job, no job accepted twice, events matching the jobs."""
    import server.models  # noqa: F401  (every mapped class, so relationships resolve)
    from server.orders.models import Job, Order

    statuses: Counter[str] = Counter()
    for order in session.scalars(select(Order)):
        jobs = list(session.scalars(select(Job).where(Job.order_id == order.id).order_by(Job.id)))
        live = [j for j in jobs if j.state.value in LIVE]
        statuses[order.status.value] += 1
        assert len(live) <= 1, f"order {order.id} has {len(live)} live jobs"
        assert all((j.live_order_id == order.id) == (j.state.value in LIVE) for j in jobs)
        if order.status.value in LIVE:
            assert live and live[0].state.value == order.status.value, (order.id, order.status, [j.state for j in jobs])
        else:
            assert not live, (order.id, order.status)
        made = [j for j in jobs if j.state.value in ("accepted", "in_production", "completed")]
        assert len(made) <= 1, f"order {order.id} was accepted by {len(made)} labs"
        if order.status.value in ("completed", "received"):
            assert [j.state.value for j in jobs].count("completed") == 1
        kinds = [e.kind for e in order.events]
        assert kinds[0] == "created"
        assert kinds.count("offered") == len(jobs), (order.id, kinds, [j.state for j in jobs])
        for state, kind in (("expired", "expired"), ("declined", "declined"), ("withdrawn", "withdrawn")):
            assert kinds.count(kind) == [j.state.value for j in jobs].count(state), (order.id, kinds)
        times = [e.at for e in order.events]
        assert times == sorted(times)
    return dict(statuses)


def test_many_orders_many_processes_postgres(tmp_path: Path, fresh_postgres: str) -> None:
    hub = HubProcess(tmp_path / "data", fresh_postgres, workers=4, COSMOLOC_OFFER_TTL_S="4",
                     COSMOLOC_NODE_STALE_AFTER_S="300").start()
    bots: list[LabBot] = []
    try:
        designer, operator = Client(hub.url, "designer"), Client(hub.url, "operator")
        citizens = [Client(hub.url, f"citizen{i}") for i in range(4)]
        design = publish_cube(designer)
        behaviours = ["accept", "accept", "late", "late", "decline", "silent", "silent"]
        for i, behaviour in enumerate(behaviours):
            _, node = register_lab(operator, f"{behaviour} {i}", CENTRE[0] + 0.01 * i, CENTRE[1])
            bots.append(LabBot(hub.url + "/api/v1", node, behaviour))
        for bot in bots:
            bot.start()
        time.sleep(1.0)
        placed: list[int] = []
        lock = threading.Lock()
        failures: list[str] = []

        def citizen_thread(n: int) -> None:
            citizen = citizens[n % len(citizens)]
            rng = random.Random(n)
            for _ in range(25):
                r = citizen.post("/orders", json={"design_id": design["id"], "material": "PLA",
                                                  "delivery": {"latitude": CENTRE[0] + rng.uniform(-0.05, 0.05),
                                                               "longitude": CENTRE[1] + rng.uniform(-0.05, 0.05)}},
                                 headers={"Idempotency-Key": f"{n}-{_}"})
                if r.status_code != 201:
                    failures.append(r.text)
                    continue
                with lock:
                    placed.append(r.json()["id"])
                if rng.random() < 0.1:  # some citizens change their mind at once, racing the labs
                    r = citizen.post(f"/orders/{r.json()['id']}/cancel")
                    assert r.status_code in (200, 409), r.text

        started = time.time()
        threads = [threading.Thread(target=citizen_thread, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not failures, failures[:3]
        assert len(placed) == 200 and len(set(placed)) == 200
        print(f"placed 200 orders in {time.time() - started:.1f} s")
        deadline = time.time() + 120
        engine = create_engine(fresh_postgres)
        while time.time() < deadline:
            with engine.connect() as conn:
                busy = conn.execute(text("select count(*) from orders where status in "
                                         "('validating', 'matching', 'offered', 'accepted', 'in_production')")).scalar()
            if busy == 0:
                break
            time.sleep(1)
        print(f"settled {time.time() - started:.1f} s after the first order")
        for bot in bots:
            bot.stop.set()
        for bot in bots:
            bot.join(timeout=30)
        with Session(engine) as session:
            import server.models  # noqa: F401  (every mapped class, so relationships resolve)
            from server.orders.models import Job, JobState, Order

            assert sorted(session.scalars(select(Order.id))) == sorted(placed)  # nothing lost, nothing extra
            statuses = check_history(session)
            # an expiry racing an accept has one winner, and both sides see the same one
            for bot in bots:
                for job_id, (status, code) in bot.accept_answers.items():
                    state = session.get(Job, job_id).state
                    if status == 200:
                        assert state not in (JobState.EXPIRED, JobState.DECLINED), (job_id, state)
                    else:
                        assert status == 409 and state != JobState.OFFERED, (job_id, status, code, state)
            late = [a for bot in bots if bot.behaviour == "late" for a in bot.accept_answers.values()]
        engine.dispose()
        assert all(not bot.errors for bot in bots), [bot.errors[:2] for bot in bots]
        assert statuses.get("completed", 0) > 100, statuses
        assert set(statuses) <= {"completed", "cancelled", "unmatched"}, statuses
        # late labs both won and lost races against the deadline (lost: the sweeper or their own accept expired it)
        assert any(s == 200 for s, _ in late) and any(c in ("offer_expired", "not_offered") for _, c in late), late
    finally:
        for bot in bots:
            bot.stop.set()
        hub.stop()


def test_hub_killed_mid_flight_resumes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"COSMOLOC_OFFER_TTL_S": "4", "COSMOLOC_NODE_STALE_AFTER_S": "300"}
    hub = HubProcess(data, **env).start()
    try:
        designer, operator, citizen = Client(hub.url, "designer"), Client(hub.url, "operator"), Client(hub.url, "citizen")
        design = publish_cube(designer)
        _, silent = register_lab(operator, "Silent", 41.39, 2.17)
        _, worker = register_lab(operator, "Worker", 41.45, 2.20)
        for node in (silent, worker):
            node.post(hub.url + "/api/v1/node/heartbeat", json={"machines": [{"key": "p1", "state": "idle"}]}, timeout=30)
        first = citizen.post("/orders", json={"design_id": design["id"], "material": "PLA",
                                              "delivery": {"latitude": 41.39, "longitude": 2.17}}).json()
        second = citizen.post("/orders", json={"design_id": design["id"], "material": "PLA",
                                               "delivery": {"latitude": 41.46, "longitude": 2.20}}).json()
        assert first["fablab"]["name"] == "Silent" and second["fablab"]["name"] == "Worker"
        job = second["job"]["id"]
        assert worker.post(f"{hub.url}/api/v1/node/jobs/{job}/accept", json={}, timeout=30).status_code == 200
        hub.kill()
        hub = HubProcess(data, port=hub.port, **env).start()
        deadline = time.time() + 30
        while time.time() < deadline:
            now = citizen.get(f"/orders/{first['id']}").json()
            if now["fablab"] and now["fablab"]["name"] == "Worker":
                break
            time.sleep(0.5)
        assert now["status"] == "offered" and now["fablab"]["name"] == "Worker", now
        assert "expired" in [e["kind"] for e in now["events"]]
        assert citizen.get(f"/orders/{second['id']}").json()["status"] == "accepted"
        assert worker.post(f"{hub.url}/api/v1/node/jobs/{job}/complete", json={}, timeout=30).status_code == 200
        assert citizen.get(f"/orders/{second['id']}").json()["status"] == "completed"
    finally:
        hub.stop()



def _redis_url() -> str | None:
    import redis

    url = "redis://127.0.0.1:6379/7"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError:
        return None
    return url


def test_background_work_on_rq_workers(tmp_path: Path, fresh_postgres: str) -> None:
    """At scale: hub processes put validation on Redis and a separate `cosmoloc worker` does it."""
    import subprocess
    import sys

    import redis

    url = _redis_url()
    if url is None:
        pytest.skip("Redis not reachable at 127.0.0.1:6379")
    redis.Redis.from_url(url).flushdb()
    data = tmp_path / "data"
    env = {"COSMOLOC_REDIS_URL": url}
    hub = HubProcess(data, fresh_postgres, workers=2, **env).start()
    worker = None
    try:
        designer = Client(hub.url, "designer")
        import trimesh

        cube = bytes(trimesh.creation.box(extents=(20, 20, 20)).export(file_type="stl"))
        r = designer.post("/designs", data={"title": "Queued", "license": "MIT"}, files=[("files", ("c.stl", cube))])
        design = r.json()
        time.sleep(2)
        pending = designer.get(f"/designs/{design['id']}").json()["versions"][0]["files"][0]
        assert pending["validation"]["status"] == "pending"  # no worker yet: the hub itself does not validate
        worker = subprocess.Popen([sys.executable, "-m", "server.cli", "worker"], cwd=str(REPO),
                                  env={**hub.env}, stdout=open(data / "worker.log", "ab"), stderr=subprocess.STDOUT,
                                  start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            f = designer.get(f"/designs/{design['id']}").json()["versions"][0]["files"][0]
            if f["validation"]["status"] != "pending":
                break
            time.sleep(0.5)
        assert f["validation"]["status"] == "passed" and f["thumbnail_url"], (data / "worker.log").read_text()[-2000:]
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=20)
        hub.stop()
        redis.Redis.from_url(url).flushdb()
