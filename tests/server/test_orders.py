"""The order life through the API: matching, offers, the lab's answers, cancel, confirm (SQLite and PostgreSQL)."""
from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from tests.server.orderflow import Lab, cube_stl, order, printer, publish


@pytest.fixture
def world(client, make_user):
    designer, operator, citizen = make_user("designer"), make_user("operator"), make_user("citizen")
    design = publish(designer)
    near = Lab(client, operator, "Near lab", 41.3874, 2.1686)
    far = Lab(client, operator, "Far lab", 41.6176, 0.6200)
    return {"designer": designer, "operator": operator, "citizen": citizen, "design": design, "near": near, "far": far}


def sweep(app, seconds_ahead: float = 0):
    from server.db import utcnow
    from server.orders.sweeper import sweep as run_sweep

    hub = app.extensions["cosmoloc.hub"]
    return run_sweep(hub.db, hub.rules, utcnow() + dt.timedelta(seconds=seconds_ahead))


def test_happy_path_to_received(client, world):
    citizen, near, far = world["citizen"], world["near"], world["far"]
    r = order(citizen, world["design"])
    assert r.status_code == 201, r.get_json()
    o = r.get_json()
    assert o["status"] == "offered" and o["fablab"]["name"] == "Near lab" and o["quantity"] == 1
    assert o["max_distance_km"] == 100 and o["job"]["state"] == "offered" and o["job"]["expires_at"]
    cands = citizen.get(f"/api/v1/orders/{o['id']}/candidates").get_json()["items"]
    assert [c["fablab"]["name"] for c in cands] == ["Near lab", "Far lab"]
    assert cands[0]["eligible"] and cands[1]["reasons"] == ["too_far"]  # Lleida is 131 km away, past 100 km
    assert cands[0]["distance_km"] < 2 and 130 < cands[1]["distance_km"] < 133
    jobs = near.jobs("offered")
    assert len(jobs) == 1 and jobs[0]["order_id"] == o["id"] and jobs[0]["material"] == "PLA"
    job = jobs[0]
    assert far.jobs() == [] and client.get(f"/api/v1/node/jobs/{job['id']}", headers=far.headers).status_code == 404
    f = client.get(f"/api/v1/node/jobs/{job['id']}/file", headers=near.headers)
    assert f.status_code == 200 and hashlib.sha256(f.data).hexdigest() == job["file"]["sha256"]
    assert f.headers["ETag"].strip('"') == job["file"]["sha256"] and len(f.data) == job["file"]["size_bytes"]
    assert near.post(job["id"], "accept", machine_key="p1").status_code == 200
    assert citizen.get(f"/api/v1/orders/{o['id']}").get_json()["status"] == "accepted"
    assert near.post(job["id"], "progress", percent=10, state="in_production", seq=1).get_json()["state"] == "in_production"
    assert near.post(job["id"], "progress", percent=60, seq=3).get_json()["progress"] == 60
    assert near.post(job["id"], "progress", percent=20, seq=2).get_json()["progress"] == 60  # old seq ignored
    assert citizen.post(f"/api/v1/orders/{o['id']}/cancel").status_code == 409
    assert near.post(job["id"], "complete", note="left at the door").status_code == 200
    assert near.post(job["id"], "complete").status_code == 200  # repeating changes nothing
    assert citizen.post(f"/api/v1/orders/{o['id']}/confirm").status_code == 200
    final = citizen.get(f"/api/v1/orders/{o['id']}").get_json()
    assert final["status"] == "received" and final["job"]["progress"] == 100
    kinds = [e["kind"] for e in final["events"]]
    assert kinds == ["created", "offered", "accepted", "in_production", "completed", "received"]
    assert citizen.get("/api/v1/orders").get_json()["total"] == 1


def test_decline_moves_on_and_is_remembered(world):
    citizen, near, far = world["citizen"], world["near"], world["far"]
    o = order(citizen, world["design"], max_distance_km=200).get_json()
    job = near.jobs("offered")[0]
    assert near.post(job["id"], "decline").status_code == 422  # a reason is required
    r = near.post(job["id"], "decline", reason="out of PLA today")
    assert r.status_code == 200 and r.get_json()["state"] == "declined"
    now = citizen.get(f"/api/v1/orders/{o['id']}").get_json()
    assert now["status"] == "offered" and now["fablab"]["name"] == "Far lab"
    declined = [e for e in now["events"] if e["kind"] == "declined"]
    assert declined and declined[0]["detail"]["reason"] == "out of PLA today"
    cands = {c["fablab"]["name"]: c for c in citizen.get(f"/api/v1/orders/{o['id']}/candidates").get_json()["items"]}
    assert cands["Near lab"]["reasons"] == ["declined"]
    assert near.post(job["id"], "accept").status_code == 409
    far_job = far.jobs("offered")[0]
    assert far.post(far_job["id"], "decline", reason="busy").status_code == 200
    assert citizen.get(f"/api/v1/orders/{o['id']}").get_json()["status"] == "unmatched"


def test_offer_expiry_moves_on_and_accept_loses(app, world):
    citizen, near, _far = world["citizen"], world["near"], world["far"]
    o = order(citizen, world["design"], max_distance_km=200).get_json()
    job = near.jobs("offered")[0]
    assert sweep(app) == (0, 0)
    age_offer(app, job["id"])
    expired, _ = sweep(app)
    assert expired == 1
    now = citizen.get(f"/api/v1/orders/{o['id']}").get_json()
    assert now["fablab"]["name"] == "Far lab" and "expired" in [e["kind"] for e in now["events"]]
    r = near.post(job["id"], "accept")
    assert r.status_code == 409
    assert near.jobs()[0]["state"] == "expired"


def age_offer(app, job_id):
    """Move an offer's deadline into the past, as if the lab had stayed silent for the whole TTL."""
    from server.orders.models import Job

    with app.extensions["cosmoloc.db"].session() as s:
        s.get(Job, job_id).expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)


def test_accept_after_the_deadline_expires_the_offer(app, world):
    citizen, near = world["citizen"], world["near"]
    o = order(citizen, world["design"], max_distance_km=200).get_json()
    job = near.jobs("offered")[0]
    age_offer(app, job["id"])
    r = near.post(job["id"], "accept")
    assert r.status_code == 409 and r.get_json()["code"] == "offer_expired"
    assert citizen.get(f"/api/v1/orders/{o['id']}").get_json()["fablab"]["name"] == "Far lab"


def test_eligibility_reasons(client, make_user):
    designer, operator, citizen = make_user("designer"), make_user("operator"), make_user("citizen")
    design = publish(designer, cube_stl(100), licence="LicenseRef-PPL")
    Lab(client, operator, "Small printer", 41.39, 2.17, machines=[printer(volume=(90, 90, 90))])
    Lab(client, operator, "PETG only", 41.391, 2.171, machines=[printer(materials=("PETG",))])
    Lab(client, operator, "Laser shop", 41.392, 2.172,
        machines=[printer(process="laser_cutting", volume=(600, 400, 6))])
    Lab(client, operator, "Asleep", 41.393, 2.173, online=False)
    Lab(client, operator, "Print Corp", 41.394, 2.174, kind="company")
    Lab(client, operator, "Broken printer", 41.395, 2.175, state="error")
    Lab(client, operator, "Vic", 41.90, 2.45)  # about 60 km: within reach, past 50 km
    Lab(client, operator, "Good coop", 41.45, 2.25, kind="cooperative", machines=[printer(materials=("pla",))])
    o = order(citizen, design, max_distance_km=50).get_json()
    assert o["status"] == "offered" and o["fablab"]["name"] == "Good coop"  # material matched case-insensitively
    cands = {c["fablab"]["name"]: c for c in citizen.get(f"/api/v1/orders/{o['id']}/candidates").get_json()["items"]}
    assert cands["Good coop"]["eligible"] and cands["Good coop"]["machine_key"] == "p1"
    assert cands["Small printer"]["reasons"] == ["too_small"]
    assert cands["PETG only"]["reasons"] == ["no_material"]
    assert cands["Laser shop"]["reasons"] == ["no_process"]
    assert cands["Asleep"]["reasons"] == ["offline", "machine_unavailable"]
    assert cands["Print Corp"]["reasons"] == ["licence"]
    assert cands["Broken printer"]["reasons"] == ["machine_unavailable"]
    assert cands["Vic"]["reasons"] == ["too_far"]


def test_ranking_distance_then_queue_then_idle(client, make_user):
    designer, operator, citizen = make_user("designer"), make_user("operator"), make_user("citizen")
    design = publish(designer)
    a = Lab(client, operator, "Busy queue 3", 41.40, 2.17, state="busy")
    a.beat("busy", queue_length=3)
    b = Lab(client, operator, "Busy queue 0", 41.40, 2.17, state="busy")
    Lab(client, operator, "Idle queue 0", 41.40, 2.17)
    Lab(client, operator, "Idle queue 2", 41.40, 2.17).beat("idle", queue_length=2)
    Lab(client, operator, "Nearer, busy", 41.45, 2.25, state="busy").beat("busy", queue_length=9)
    o = order(citizen, design, lat=41.5, lon=2.3).get_json()
    names = [c["fablab"]["name"] for c in citizen.get(f"/api/v1/orders/{o['id']}/candidates").get_json()["items"]]
    assert names == ["Nearer, busy", "Idle queue 0", "Busy queue 0", "Idle queue 2", "Busy queue 3"]
    assert b.id != a.id


def test_unmatched_then_capacity_appears(app, client, make_user):
    designer, operator, citizen = make_user("designer"), make_user("operator"), make_user("citizen")
    design = publish(designer)
    lab = Lab(client, operator, "PETG lab", 41.39, 2.17, machines=[printer(materials=("PETG",))])
    o = order(citizen, design).get_json()
    assert o["status"] == "unmatched"
    assert sweep(app) == (0, 0)  # nothing changed, nothing offered
    lab.beat("idle", materials=["PETG", "PLA"])
    assert sweep(app) == (0, 1)
    now = citizen.get(f"/api/v1/orders/{o['id']}").get_json()
    assert now["status"] == "offered" and now["fablab"]["name"] == "PETG lab"


def test_three_failures_end_the_order(client, make_user):
    designer, operator, citizen = make_user("designer"), make_user("operator"), make_user("citizen")
    design = publish(designer)
    labs = [Lab(client, operator, f"Lab {i}", 41.39 + i * 0.01, 2.17) for i in range(4)]
    o = order(citizen, design, lat=41.39, lon=2.17).get_json()
    for attempt in range(3):
        lab = next(lab for lab in labs if lab.jobs("offered"))
        job = lab.jobs("offered")[0]
        assert lab.post(job["id"], "accept").status_code == 200
        assert lab.post(job["id"], "fail", reason="nozzle clog").status_code == 200
        status = citizen.get(f"/api/v1/orders/{o['id']}").get_json()["status"]
        assert status == ("offered" if attempt < 2 else "failed")
    assert sum(len(lab.jobs("offered")) for lab in labs) == 0


def test_cancel_withdraws_the_live_job(world):
    citizen, near = world["citizen"], world["near"]
    o = order(citizen, world["design"]).get_json()
    job = near.jobs("offered")[0]
    assert near.post(job["id"], "accept").status_code == 200
    r = citizen.post(f"/api/v1/orders/{o['id']}/cancel")
    assert r.status_code == 200 and r.get_json()["status"] == "cancelled"
    assert near.jobs()[0]["state"] == "withdrawn"
    assert near.post(job["id"], "progress", percent=5, seq=1).status_code == 409
    assert world["operator"].post(f"/api/v1/orders/{o['id']}/cancel").status_code == 404
    assert citizen.post(f"/api/v1/orders/{o['id']}/confirm").status_code == 409


def test_order_visibility(client, world):
    citizen, other = world["citizen"], world["designer"]
    o = order(citizen, world["design"]).get_json()
    assert other.get(f"/api/v1/orders/{o['id']}").status_code == 404
    assert world["operator"].get(f"/api/v1/orders/{o['id']}").status_code == 200  # operator of the offered lab
    assert client.get(f"/api/v1/orders/{o['id']}").status_code == 401
    r = citizen.get("/api/v1/orders/999999")
    assert r.status_code == 404 and r.mimetype == "application/problem+json"


def test_bad_orders(world, make_user):
    citizen, designer = world["citizen"], world["designer"]
    broken = trimesh_open_box()
    failed = publish(designer, broken)
    r = order(citizen, failed)
    assert r.status_code == 422 and r.get_json()["code"] in ("file_failed", "no_manufacturable_file")
    assert order(citizen, {"id": 99999}).get_json()["code"] == "unknown_design"
    assert order(citizen, world["design"], quantity=0).status_code == 422
    assert order(citizen, world["design"], max_distance_km=-5).status_code == 422
    assert order(citizen, world["design"], process="laser_cutting").get_json()["code"] == "process_not_possible"
    r = citizen.post("/api/v1/orders", json={"design_id": world["design"]["id"], "material": "PLA",
                                             "delivery": {"address": "Qwxzville, Atlantis"}})
    assert r.status_code == 422 and r.get_json()["code"] == "address_not_found"
    r = citizen.post("/api/v1/orders", json={"design_id": world["design"]["id"], "material": "PLA",
                                             "delivery": {"address": "Barcelona, Spain"}})
    assert r.status_code == 201 and r.get_json()["status"] == "offered"


def test_idempotent_order(world):
    citizen = world["citizen"]
    body = {"design_id": world["design"]["id"], "material": "PLA", "delivery": {"latitude": 41.4, "longitude": 2.17}}
    a = citizen.post("/api/v1/orders", json=body, headers={"Idempotency-Key": "o-1"})
    b = citizen.post("/api/v1/orders", json=body, headers={"Idempotency-Key": "o-1"})
    assert a.status_code == b.status_code == 201 and a.get_json()["id"] == b.get_json()["id"]
    assert citizen.get("/api/v1/orders").get_json()["total"] == 1


def test_node_job_bad_input(world):
    near, far = world["near"], world["far"]
    order(world["citizen"], world["design"])
    job = near.jobs("offered")[0]
    assert near.post(job["id"], "accept", machine_key="nope").status_code == 422
    assert far.post(job["id"], "accept").status_code == 404
    assert near.post(job["id"], "progress", percent=10, seq=1).status_code == 409  # not accepted yet
    assert near.post(job["id"], "complete").status_code == 409
    assert near.post(job["id"], "accept").status_code == 200
    assert near.post(job["id"], "progress", percent=150, seq=1).status_code == 422
    assert near.post(job["id"], "progress", percent=10, seq=0).status_code == 422
    assert near.post(job["id"], "progress", percent=10, seq=1, state="exploded").status_code == 422
    assert near.jobs()[0]["state"] == "accepted"
    assert near.client.get("/api/v1/node/jobs?state=bogus", headers=near.headers).status_code == 422


def trimesh_open_box() -> bytes:
    import trimesh

    box = trimesh.creation.box(extents=(20, 20, 20))
    box.update_faces([i for i in range(len(box.faces)) if i != 0])
    return bytes(box.export(file_type="stl"))


def test_unmatched_order_retried_when_a_lab_opens_or_comes_online(app, client, make_user):
    designer, operator, citizen = make_user("designer"), make_user("operator"), make_user("citizen")
    design = publish(designer)
    closed = Lab(client, operator, "Closed lab", 41.39, 2.17)
    r = client.patch(f"/api/v1/fablabs/{closed.id}", json={"accepting_orders": False}, headers=operator.headers)
    assert r.status_code == 200
    asleep = Lab(client, operator, "Asleep lab", 41.40, 2.18, online=False)
    o = order(citizen, design).get_json()
    assert o["status"] == "unmatched"
    asleep.beat("idle")  # comes online
    assert sweep(app) == (0, 1)
    assert citizen.get(f"/api/v1/orders/{o['id']}").get_json()["fablab"]["name"] == "Asleep lab"
    second = order(citizen, design, lat=41.38, lon=2.16).get_json()
    job = asleep.jobs("offered")
    assert [j["order_id"] for j in job] == [second["id"], o["id"]]
    for j in job:
        assert asleep.post(j["id"], "decline", reason="closing for the day").status_code == 200
    assert citizen.get(f"/api/v1/orders/{second['id']}").get_json()["status"] == "unmatched"
    r = client.patch(f"/api/v1/fablabs/{closed.id}", json={"accepting_orders": True}, headers=operator.headers)
    assert sweep(app) == (0, 2)
    assert citizen.get(f"/api/v1/orders/{second['id']}").get_json()["fablab"]["name"] == "Closed lab"


def test_orders_wait_in_validating_then_match_or_are_rejected(app, client, make_user):
    from server.tasks import TASKS

    hub = app.extensions["cosmoloc.hub"]
    queued: list[tuple[str, tuple]] = []

    class Held:
        """Keeps the background work until the test lets it run."""

        def enqueue(self, name, *args):
            queued.append((name, args))

        def shutdown(self):
            pass

    hub._tasks = Held()
    designer, operator, citizen = make_user("designer"), make_user("operator"), make_user("citizen")
    good, bad = publish(designer), publish(designer, trimesh_open_box())
    Lab(client, operator, "Lab", 41.39, 2.17)
    waiting = order(citizen, good).get_json()
    doomed = order(citizen, bad).get_json()
    assert waiting["status"] == doomed["status"] == "validating"
    assert [e["kind"] for e in waiting["events"]] == ["created", "validating"]
    for name, args in queued:
        TASKS[name](hub, *args)
    waiting = citizen.get(f"/api/v1/orders/{waiting['id']}").get_json()
    assert waiting["status"] == "offered" and waiting["fablab"]["name"] == "Lab"
    doomed = citizen.get(f"/api/v1/orders/{doomed['id']}").get_json()
    assert doomed["status"] == "rejected" and doomed["events"][-1]["kind"] == "rejected"
