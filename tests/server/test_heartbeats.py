"""Heartbeats: a fixed, small number of SQL statements per beat, and the state history they keep
(SQLite and PostgreSQL)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import event, func, select

from cosmoloc_contract.node import Heartbeat
from server.fablabs import heartbeats, service
from server.fablabs.models import Machine, MachineState, MachineStateSample
from tests.server.orderflow import printer

MACHINES = [printer("p1"), printer("p2", materials=("PLA", "PETG"))]


def register(make_user: Any) -> dict[str, Any]:
    r = make_user("operator").post("/api/v1/fablabs", json={"name": "Lab", "kind": "fablab", "latitude": 41.39,
                                                            "longitude": 2.17, "machines": MACHINES})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def agent_beat(p1: str = "idle", p2: str = "idle") -> dict[str, Any]:
    """What the agent sends: every machine's state and queue with its whole description."""
    return {"agent": "cosmoloc-agent/0.1", "machines": [{**MACHINES[0], "state": p1, "queue_length": 0},
                                                        {**MACHINES[1], "state": p2, "queue_length": 0}]}


def beat_statements(app: Any, client: Any, token: str, body: dict[str, Any]) -> list[str]:
    """POST the heartbeat; return the SQL it ran, BEGIN (SQLite's write lock) included."""
    engine = app.extensions["cosmoloc.db"].engine
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        r = client.post("/api/v1/node/heartbeat", json=body, headers={"Authorization": f"Bearer {token}"})
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert r.status_code == 200, r.get_json()
    return seen


def test_a_heartbeat_is_a_few_statements(app, client, make_user):
    lab = register(make_user)
    token = lab["node_token"]
    beat_statements(app, client, token, agent_beat())
    # Before: 5 statements (lab, its machines, 2 updates, the offered count) and on SQLite a second
    # transaction for the count; a state change added an UPDATE of sampled_at and a DELETE per machine.
    same = [s for s in beat_statements(app, client, token, agent_beat()) if not s.startswith("BEGIN")]
    assert len(same) <= 4, same  # lab with machines, UPDATE machines (one executemany), UPDATE lab, offered count
    changed = beat_statements(app, client, token, agent_beat("busy", "busy"))
    assert len([s for s in changed if s.startswith("BEGIN")]) <= 1, changed  # one transaction
    changed = [s for s in changed if not s.startswith("BEGIN")]
    assert len(changed) <= 5, changed  # ... and one INSERT of both samples
    assert not any(s.startswith("DELETE") for s in changed)  # pruned once in HISTORY_MIN_GAP, not at each beat
    got = client.get(f"/api/v1/fablabs/{lab['id']}").get_json()
    assert [m["state"] for m in got["machines"]] == ["busy", "busy"] and got["online"] is True
    assert got["machines"][1]["materials"] == ["PLA", "PETG"]
    history = client.get(f"/api/v1/fablabs/{lab['id']}/history").get_json()["machines"]
    assert [h["state"] for h in history["p1"]] == ["idle", "busy"]


def test_a_changed_description_is_written(app, client, make_user):
    lab = register(make_user)
    body = agent_beat()
    body["machines"][0] |= {"name": "Renamed", "build_volume_mm": [100, 100, 100], "materials": ["PLA", "TPU"]}
    seen = beat_statements(app, client, lab["node_token"], body)
    assert len([s for s in seen if s.startswith("UPDATE machines SET")]) == 2  # the description, the states
    p1 = client.get(f"/api/v1/fablabs/{lab['id']}").get_json()["machines"][0]
    assert p1["name"] == "Renamed" and p1["build_volume_mm"] == [100, 100, 100] and p1["materials"] == ["PLA", "TPU"]


def test_history_samples_and_pruning(app, make_user):
    """A state joins the history when it changes or HISTORY_MIN_GAP after its last sample; samples
    older than HISTORY_KEEP go with the first sample of each HISTORY_MIN_GAP of the clock."""
    lab = register(make_user)
    db = app.extensions["cosmoloc.db"]
    gap = heartbeats.HISTORY_MIN_GAP
    t0 = dt.datetime(2030, 1, 1, 12, 0, 1, tzinfo=dt.UTC)  # just after the start of a gap of the clock

    def beat(at: dt.datetime, state: str) -> None:
        with db.session() as s:
            node = heartbeats.node_lab(s, lab["node_token"])
            assert node is not None
            heartbeats.record_heartbeat(s, node, Heartbeat.model_validate({"machines": [{"key": "p1", "state": state}]}),
                                     at, 300)

    def samples() -> list[tuple[dt.datetime, MachineState]]:
        with db.session() as s:
            return [(r.at, r.state) for r in s.scalars(select(MachineStateSample).order_by(MachineStateSample.at))]

    def add_old() -> None:
        with db.session() as s:
            machine_id = s.scalar(select(Machine.id).where(Machine.fablab_id == lab["id"], Machine.key == "p1"))
            s.add(MachineStateSample(machine_id=machine_id, state=MachineState.IDLE, at=t0 - dt.timedelta(days=8)))

    add_old()
    beat(t0, "idle")  # the first sample prunes
    assert samples() == [(t0, MachineState.IDLE)]
    beat(t0 + dt.timedelta(seconds=10), "idle")  # unchanged within the gap: no sample
    add_old()
    beat(t0 + dt.timedelta(seconds=20), "busy")  # a change samples; same gap of the clock: no pruning
    assert len(samples()) == 3
    beat(t0 + gap + dt.timedelta(seconds=30), "busy")  # unchanged, a gap after the last sample: sampled, pruned
    assert samples() == [(t0, MachineState.IDLE), (t0 + dt.timedelta(seconds=20), MachineState.BUSY),
                         (t0 + gap + dt.timedelta(seconds=30), MachineState.BUSY)]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(MachineStateSample)) == 3


def test_a_declared_machine_is_created_and_sampled(app, client, make_user):
    lab = register(make_user)
    body = agent_beat()
    body["machines"].append({"key": "cnc", "state": "busy", "queue_length": 3, "name": "Shapeoko",
                             "process": "cnc_routing", "build_volume_mm": [800, 800, 20]})
    beat_statements(app, client, lab["node_token"], body)
    cnc = client.get(f"/api/v1/fablabs/{lab['id']}").get_json()["machines"][0]
    assert cnc["key"] == "cnc" and cnc["state"] == "busy" and cnc["queue_length"] == 3 and cnc["materials"] == []
    history = client.get(f"/api/v1/fablabs/{lab['id']}/history").get_json()["machines"]
    assert [(h["state"], h["queue_length"]) for h in history["cnc"]] == [("busy", 3)]


def test_a_lab_held_as_an_orm_object_shows_its_beat(app, make_user):
    """The dashboard's reports by hand pass the lab it loaded: read again, it shows the beat."""
    lab_id = register(make_user)["id"]
    now = dt.datetime.now(dt.UTC)
    with app.extensions["cosmoloc.db"].session() as s:
        lab = service.get_lab(s, lab_id)
        assert [m.state for m in lab.machines] == [MachineState.OFFLINE] * 2
        body = {"agent": "by hand", "machines": [{"key": "p1", "state": "busy"},
                                                 {"key": "new", "state": "idle", "name": "N", "process": "fdm",
                                                  "build_volume_mm": [1, 2, 3]}]}
        assert heartbeats.heartbeat(s, lab, Heartbeat.model_validate(body), now, 300) is True
        assert lab.last_seen_at == now and lab.agent == "by hand"
        assert [(m.key, m.state) for m in lab.machines] == [("new", MachineState.IDLE), ("p1", MachineState.BUSY),
                                                            ("p2", MachineState.OFFLINE)]
