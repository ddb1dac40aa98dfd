"""A real agent process against a real hub process: the hub dies mid-job, the agent restarts while it is
down, and every report still arrives, in order, exactly as the agent made them."""
from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from tests.server.hubproc import Client, HubProcess, publish_cube, restart_agent, start_agent

pytestmark = pytest.mark.slow


def wait_for(check, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_reports_survive_a_dead_hub_and_an_agent_restart(tmp_path: Path) -> None:
    data, lab_dir = tmp_path / "hub", tmp_path / "lab"
    hub = HubProcess(data, COSMOLOC_NODE_STALE_AFTER_S="300", COSMOLOC_POLL_INTERVAL_S="1").start()
    agent = None
    try:
        designer, operator, citizen = Client(hub.url, "designer"), Client(hub.url, "operator"), Client(hub.url, "citizen")
        design = publish_cube(designer)
        r = operator.post("/fablabs", json={"name": "Agent lab", "kind": "fablab", "latitude": 41.39, "longitude": 2.17})
        lab = r.json()
        # a 20 mm cube takes 60 s setup + 8000 mm3 / 10 mm3/s = 860 s at speed 1: about 14 s at speed 60
        agent = start_agent(lab_dir, hub.url, lab["node_token"], tmp_path / "agent.log", speed=60)
        wait_for(lambda: operator.get(f"/fablabs/{lab['id']}").json()["online"], 30, "the agent's first heartbeat")
        o = citizen.post("/orders", json={"design_id": design["id"], "material": "PLA",
                                          "delivery": {"latitude": 41.40, "longitude": 2.17}}).json()
        wait_for(lambda: citizen.get(f"/orders/{o['id']}").json()["status"] == "in_production", 30, "production")
        hub.kill()
        time.sleep(3)  # the agent keeps printing and queues its progress while the hub is gone
        agent.terminate()
        agent.wait(timeout=20)
        agent = restart_agent(lab_dir, tmp_path / "agent.log")
        time.sleep(3)
        hub = HubProcess(data, port=hub.port, COSMOLOC_NODE_STALE_AFTER_S="300", COSMOLOC_POLL_INTERVAL_S="1").start()
        final = wait_for(lambda: (lambda x: x if x["status"] == "completed" else None)(
            citizen.get(f"/orders/{o['id']}").json()), 90, "completion after the outage")
        kinds = [e["kind"] for e in final["events"]]
        assert kinds == ["created", "offered", "accepted", "in_production", "completed"]
        assert final["job"]["progress"] == 100
        outbox = sqlite3.connect(lab_dir / "state" / "agent.sqlite3")
        rows = outbox.execute("SELECT kind, body, status FROM reports ORDER BY id").fetchall()
        assert rows and all(status == "delivered" for _, _, status in rows), rows
        kinds_sent = [kind for kind, _, _ in rows]
        assert kinds_sent[0] == "accept" and kinds_sent[-1] == "complete"
        seqs = [json.loads(body)["seq"] for kind, body, _ in rows if kind == "progress"]
        assert len(seqs) >= 3 and seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        hub_db = sqlite3.connect(data / "cosmoloc.sqlite3")
        (last_seq,) = hub_db.execute("SELECT last_seq FROM jobs").fetchone()
        assert last_seq == seqs[-1]  # the hub took the agent's last progress report
        log = (tmp_path / "agent.log").read_text()
        assert lab["node_token"] not in log
    finally:
        if agent is not None and agent.poll() is None:
            agent.terminate()
            agent.wait(timeout=20)
        hub.stop()
