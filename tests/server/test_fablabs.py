"""Labs, machines, node tokens, the directory and heartbeats through the API (SQLite and PostgreSQL)."""
from __future__ import annotations

PRINTER = {"key": "p1", "name": "Prusa MK4", "process": "fdm", "build_volume_mm": [250, 210, 220], "materials": ["PLA", "PETG"]}


def register(user, name="Lab", lat=41.3874, lon=2.1686, **extra):
    body = {"name": name, "kind": "fablab", "latitude": lat, "longitude": lon, "machines": [PRINTER], **extra}
    r = user.post("/api/v1/fablabs", json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def node(client, token):
    return {"Authorization": f"Bearer {token}"}


def test_register_and_read(client, make_user):
    op = make_user("operator")
    lab = register(op, "Fab Lab Barcelona")
    assert lab["node_token"].startswith("cln_") and lab["operator"]["name"] == "operator"
    assert lab["online"] is False and lab["last_seen_at"] is None
    got = client.get(f"/api/v1/fablabs/{lab['id']}").get_json()
    assert "node_token" not in got
    assert got["machines"][0]["key"] == "p1" and got["machines"][0]["build_volume_mm"] == [250, 210, 220]
    assert got["kind"] == "fablab" and got["accepting_orders"] is True


def test_register_by_address_and_unknown_address(make_user):
    op = make_user("operator")
    r = op.post("/api/v1/fablabs", json={"name": "Valldaura", "kind": "cooperative", "address": "Barcelona, Spain"})
    assert r.status_code == 201
    lab = r.get_json()
    assert abs(lab["latitude"] - 41.39) < 0.1 and abs(lab["longitude"] - 2.16) < 0.1
    assert lab["location_approximate"] is True
    r = op.post("/api/v1/fablabs", json={"name": "Nowhere", "kind": "fablab", "address": "Qwxzville, Atlantis"})
    assert r.status_code == 422 and r.get_json()["code"] == "address_not_found"


def test_bad_lab_input(make_user):
    op = make_user("operator")
    bad = [
        {"name": "X", "kind": "castle", "latitude": 1, "longitude": 1},
        {"name": "X", "kind": "fablab", "latitude": 91, "longitude": 1},
        {"name": "X", "kind": "fablab", "latitude": 1},
        {"name": "X", "kind": "fablab", "latitude": 1, "longitude": 1,
         "machines": [{**PRINTER, "build_volume_mm": [-1, 2, 3]}]},
        {"name": "X", "kind": "fablab", "latitude": 1, "longitude": 1, "machines": [{**PRINTER, "process": "welding"}]},
        {"name": "X", "kind": "fablab", "latitude": 1, "longitude": 1, "machines": [PRINTER, PRINTER]},
    ]
    for body in bad:
        r = op.post("/api/v1/fablabs", json=body)
        assert r.status_code == 422 and r.mimetype == "application/problem+json", (body, r.get_json())


def test_edit_is_operator_only(client, make_user):
    op, other = make_user("operator"), make_user("other")
    lab = register(op)
    r = client.patch(f"/api/v1/fablabs/{lab['id']}", json={"name": "Hacked"}, headers=other.headers)
    assert r.status_code == 403
    r = client.patch(f"/api/v1/fablabs/{lab['id']}", json={"accepting_orders": False, "machines": [
        {**PRINTER, "materials": ["PLA"]}, {"key": "laser", "name": "Laser", "process": "laser_cutting",
                                           "build_volume_mm": [600, 400, 6], "materials": ["plywood"]}]},
        headers=op.headers)
    assert r.status_code == 200
    body = r.get_json()
    assert body["accepting_orders"] is False and [m["key"] for m in body["machines"]] == ["laser", "p1"]
    assert client.get(f"/api/v1/fablabs/{lab['id']}").get_json()["machines"][1]["materials"] == ["PLA"]


def test_token_rotation_cuts_the_old_one(client, make_user):
    op = make_user("operator")
    lab = register(op)
    old = lab["node_token"]
    beat = {"agent": "test/1", "machines": [{"key": "p1", "state": "idle"}]}
    assert client.post("/api/v1/node/heartbeat", json=beat, headers=node(client, old)).status_code == 200
    other = make_user("other")
    assert other.post(f"/api/v1/fablabs/{lab['id']}/token").status_code == 403
    r = op.post(f"/api/v1/fablabs/{lab['id']}/token")
    assert r.status_code == 201
    new = r.get_json()["node_token"]
    assert client.post("/api/v1/node/heartbeat", json=beat, headers=node(client, old)).status_code == 401
    assert client.post("/api/v1/node/heartbeat", json=beat, headers=node(client, new)).status_code == 200


def test_heartbeat_updates_state_and_creates_machines(client, make_user):
    op = make_user("operator")
    lab = register(op)
    headers = node(client, lab["node_token"])
    beat = {"agent": "cosmoloc-agent/0.1", "machines": [
        {"key": "p1", "state": "busy", "queue_length": 2, "materials": ["PLA", "TPU"]},
        {"key": "cnc", "state": "idle", "name": "Shapeoko", "process": "cnc_routing", "build_volume_mm": [800, 800, 20]}]}
    r = client.post("/api/v1/node/heartbeat", json=beat, headers=headers)
    assert r.status_code == 200
    assert set(r.get_json()) >= {"server_time", "poll_interval_s", "offered_jobs"}
    got = client.get(f"/api/v1/fablabs/{lab['id']}").get_json()
    assert got["online"] is True and got["last_seen_at"]
    machines = {m["key"]: m for m in got["machines"]}
    assert machines["p1"]["state"] == "busy" and machines["p1"]["queue_length"] == 2
    assert machines["p1"]["materials"] == ["PLA", "TPU"]
    assert machines["cnc"]["process"] == "cnc_routing" and machines["cnc"]["state"] == "idle"
    history = client.get(f"/api/v1/fablabs/{lab['id']}/history").get_json()["machines"]
    assert history["p1"][-1]["state"] == "busy"


def test_bad_heartbeats_change_nothing(client, make_user):
    op = make_user("operator")
    lab = register(op)
    headers = node(client, lab["node_token"])
    bad = [
        ({"machines": [{"key": "p1", "state": "idle"}, {"key": "ghost", "state": "idle"}]}, 422, "unknown_machine"),
        ({"machines": [{"key": "p1", "state": "exploded"}]}, 422, "invalid_input"),
        ({"machines": [{"key": "p1", "state": "idle", "queue_length": -1}]}, 422, "invalid_input"),
        ({"machines": [{"key": "new", "state": "idle", "name": "N", "process": "fdm", "build_volume_mm": [-5, 1, 1]}]},
         422, "invalid_input"),
    ]
    for body, status, code in bad:
        r = client.post("/api/v1/node/heartbeat", json=body, headers=headers)
        assert r.status_code == status and r.get_json()["code"] == code, (body, r.get_json())
    assert client.post("/api/v1/node/heartbeat", json={}, headers=node(client, "cln_garbage")).status_code == 401
    assert client.post("/api/v1/node/heartbeat", json={}, headers=op.headers).status_code == 401
    assert client.post("/api/v1/node/heartbeat", json={}).status_code == 401
    got = client.get(f"/api/v1/fablabs/{lab['id']}").get_json()
    assert got["last_seen_at"] is None and [m["key"] for m in got["machines"]] == ["p1"]
    assert got["machines"][0]["state"] == "offline"


def test_directory_near_nearest_first(client, make_user):
    op = make_user("operator")
    register(op, "Near lab", 41.3874, 2.1686)
    register(op, "Far lab", 41.6176, 0.6200)
    register(op, "Madrid lab", 40.4168, -3.7038)
    laser = {"key": "l1", "name": "Laser", "process": "laser_cutting", "build_volume_mm": [600, 400, 6]}
    register(op, "Laser lab", 41.40, 2.19, machines=[laser])
    r = client.get("/api/v1/fablabs", query_string={"near": "41.39,2.17", "radius_km": 300})
    items = r.get_json()["items"]
    assert [i["name"] for i in items] == ["Near lab", "Laser lab", "Far lab"]
    assert items[0]["distance_km"] < items[1]["distance_km"] < items[2]["distance_km"]
    assert 130 < items[2]["distance_km"] < 133  # geodesic Barcelona - Lleida
    r = client.get("/api/v1/fablabs", query_string={"near": "41.39,2.17", "radius_km": 300, "process": "laser_cutting"})
    assert [i["name"] for i in r.get_json()["items"]] == ["Laser lab"]
    r = client.get("/api/v1/fablabs", query_string={"near": "41.39,2.17", "radius_km": 1000, "per_page": 2, "page": 2})
    assert r.get_json()["total"] == 4 and [i["name"] for i in r.get_json()["items"]] == ["Far lab", "Madrid lab"]
    assert client.get("/api/v1/fablabs", query_string={"near": "garbage"}).status_code == 422
    assert client.get("/api/v1/fablabs", query_string={"near": "41,2", "radius_km": -1}).status_code == 422
    assert client.get("/api/v1/fablabs").get_json()["total"] == 4


def test_okw_record(client, make_user):
    op = make_user("operator")
    lab = register(op, "Fab Lab Barcelona")
    rec = client.get(f"/api/v1/fablabs/{lab['id']}/okw").get_json()
    assert rec["name"] == "Fab Lab Barcelona" and rec["facility_status"] == "Active"
    assert rec["location"]["coordinates"] == {"lat": 41.3874, "lon": 2.1686}
    eq = rec["equipment"][0]
    assert eq["manufacturing_process"].endswith("/Fused_filament_fabrication")
    assert eq["x_travel"] == 250 and eq["build_volume"] == 250 * 210 * 220
    assert [m["name"] for m in eq["materials_worked"]] == ["PLA", "PETG"]
