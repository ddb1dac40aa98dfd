"""Hostile labs, nodes and citizens: a node token that declares machines without end, a citizen who orders
without end, an offered lab that looks further than the delivery area, hostile names and numbers.

Real hub processes (SQLite and PostgreSQL) where the attack is on what the hub holds or keeps doing; the
Flask test client, on both databases, for pure input checks. Every attack is bounded in count and time.
"""
from __future__ import annotations

import time
import tomllib
from typing import Any

import pytest

from tests.server.hubproc import Client, publish_cube, register_lab
from tests.server.orderflow import Lab, order, printer, publish

MATERIALS = [f"material-{i:02d}-" + "x" * 30 for i in range(20)]


def _declared(prefix: str, count: int) -> list[dict[str, Any]]:
    return [{"key": f"{prefix}-{i}", "state": "idle", "name": f"Machine {prefix} {i}", "process": "fdm",
             "build_volume_mm": [200, 200, 200], "materials": MATERIALS} for i in range(count)]


# --- 1. machines per lab, and a directory of summaries ------------------------------------------------------

@pytest.mark.slow
def test_heartbeats_cannot_grow_a_lab_past_its_machine_limit_nor_the_directory_page(start_hub: Any) -> None:
    hub = start_hub()
    operator = Client(hub.url, "operator")
    lab_id, node = register_lab(operator, "Greedy lab", 41.39, 2.17)
    answers = []
    for beat in range(3):  # 600 machines declared by one node token
        r = node.post(hub.url + "/api/v1/node/heartbeat", json={"agent": "x/1", "machines": _declared(f"b{beat}", 200)},
                      timeout=60)
        assert r.status_code == 200, r.text  # the lab stays online: the machines it knows are still reported
        answers.append(r.json())
    assert answers[0]["machines_limit"] == 50
    assert len(answers[0]["machines_refused"]) == 200 - 49  # the registered printer plus 49 declared fit
    assert len(answers[2]["machines_refused"]) == 200
    lab = node.get(hub.url + f"/api/v1/fablabs/{lab_id}", timeout=30).json()
    assert len(lab["machines"]) == 50 and lab["online"] is True

    page = node.get(hub.url + "/fablabs", headers={"Authorization": ""}, timeout=30)
    assert page.status_code == 200 and "50 machines" in page.text
    assert len(page.content) < 60_000, len(page.content)  # a summary, not 600 machines with 20 materials each
    listing = node.get(hub.url + "/api/v1/fablabs", headers={"Authorization": ""}, timeout=30).json()
    entry = listing["items"][0]
    assert entry["machine_summary"]["count"] == 50 and entry["machine_summary"]["processes"] == {"fdm": 50}
    assert len(entry["machines"]) <= 50 and entry["machines_truncated"] is False


def test_registration_and_patch_refuse_more_machines_than_the_limit(make_user: Any) -> None:
    operator = make_user("op")
    many = [printer(f"m{i}") for i in range(51)]
    r = operator.post("/api/v1/fablabs", json={"name": "Big", "kind": "fablab", "latitude": 41.4, "longitude": 2.2,
                                               "machines": many})
    assert r.status_code == 422 and r.get_json()["code"] == "too_many_machines"
    r = operator.post("/api/v1/fablabs", json={"name": "Fits", "kind": "fablab", "latitude": 41.4, "longitude": 2.2,
                                               "machines": many[:50]})
    assert r.status_code == 201, r.get_json()
    lab_id = r.get_json()["id"]
    r = operator.client.patch(f"/api/v1/fablabs/{lab_id}", json={"machines": many}, headers=operator.headers)
    assert r.status_code == 422 and r.get_json()["code"] == "too_many_machines"
    assert len(operator.get(f"/api/v1/fablabs/{lab_id}").get_json()["machines"]) == 50  # nothing half-written


# --- 3. orders per citizen -----------------------------------------------------------------------------------

def _beat(hub: Any, node: Any) -> dict[str, Any]:
    r = node.post(hub.url + "/api/v1/node/heartbeat", json={"agent": "x/1", "machines": [{"key": "p1", "state": "idle"}]},
                  timeout=30)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _place(citizen: Client, design: dict[str, Any], **extra: Any) -> Any:
    return citizen.post("/orders", json={"design_id": design["id"], "material": "PLA",
                                         "delivery": {"latitude": 41.40, "longitude": 2.17}, **extra})


@pytest.mark.slow
def test_one_citizen_cannot_fill_a_lab_with_offers(start_hub: Any) -> None:
    hub = start_hub(limits={"open_orders_per_account": "4", "orders_per_account_hour": "6"})
    operator, citizen, other = Client(hub.url, "operator"), Client(hub.url, "citizen"), Client(hub.url, "other")
    _lab_id, node = register_lab(operator, "Busy lab", 41.39, 2.17)
    _beat(hub, node)
    design = publish_cube(citizen)
    codes = [_place(citizen, design).status_code for _ in range(4)]
    assert codes == [201] * 4
    refused = _place(citizen, design)
    assert refused.status_code == 409 and refused.json()["code"] == "too_many_open_orders"
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    assert _beat(hub, node)["offered_jobs"] == 4  # the lab holds the citizen's bound, not what they tried

    mine = citizen.get("/orders").json()["items"]
    for o in mine[:2]:  # cancelling frees room under the open bound, but not under the hourly one
        assert citizen.post(f"/orders/{o['id']}/cancel").status_code == 200
    assert [_place(citizen, design).status_code for _ in range(2)] == [201, 201]
    limited = _place(citizen, design)
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 3601
    assert citizen.get("/orders").json()["total"] == 6  # nothing half-written by the refusals

    assert _place(other, design).status_code == 201  # another citizen is not held back by the first


# --- 2. what an offered lab may see --------------------------------------------------------------------------

STREET = "Carrer de Verdi 12, 08012 Barcelona"
EXACT = (41.403217, 2.156781)
SECRET = "the first lab's own business"


def _job(hub: Any, node: Any, job_id: int) -> dict[str, Any]:
    r = node.get(hub.url + f"/api/v1/node/jobs/{job_id}", timeout=30)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _leaks(text: str) -> list[str]:
    """What of the citizen's street address, exact point and the other lab's reason a text shows."""
    return [s for s in ("Verdi", "41.403217", "2.156781", SECRET, "First lab") if s in text]


@pytest.mark.slow
def test_an_offered_lab_sees_the_delivery_area_and_after_accepting_the_address(start_hub: Any) -> None:
    hub = start_hub()
    first_op, second_op, citizen = Client(hub.url, "first"), Client(hub.url, "second"), Client(hub.url, "citizen")
    _first_id, first = register_lab(first_op, "First lab", 41.401, 2.158)
    second_id, second = register_lab(second_op, "Second lab", 41.45, 2.20)
    _beat(hub, first), _beat(hub, second)
    design = publish_cube(citizen)
    r = citizen.post("/orders", json={"design_id": design["id"], "material": "PLA",
                                      "delivery": {"latitude": EXACT[0], "longitude": EXACT[1], "address": STREET}})
    assert r.status_code == 201 and r.json()["fablab"]["name"] == "First lab", r.text
    order_id = r.json()["id"]
    job_a = r.json()["job"]["id"]
    assert "Verdi" not in str(_job(hub, first, job_a)["delivery"])  # the first lab too, while offered
    assert first.post(hub.url + f"/api/v1/node/jobs/{job_a}/decline", json={"reason": SECRET}, timeout=30).status_code == 200

    offered = second.get(hub.url + "/api/v1/node/jobs?state=offered", timeout=30).json()["items"]
    assert [j["order_id"] for j in offered] == [order_id]
    job = _job(hub, second, offered[0]["id"])
    assert job["delivery"] == {"latitude": 41.4, "longitude": 2.2, "address": None, "approximate": True}
    as_operator = second_op.get(f"/orders/{order_id}")
    candidates = second_op.get(f"/orders/{order_id}/candidates")
    assert as_operator.status_code == 200 and candidates.status_code == 200
    for text in (str(offered), str(job), as_operator.text, candidates.text):
        assert _leaks(text) == [], text
    assert [c["fablab"]["id"] for c in candidates.json()["items"]] == [second_id]

    accepted = second.post(hub.url + f"/api/v1/node/jobs/{job['id']}/accept", json={}, timeout=30)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["delivery"] == {"latitude": EXACT[0], "longitude": EXACT[1], "address": STREET}
    seen = second_op.get(f"/orders/{order_id}").json()
    assert seen["delivery"]["address"] == STREET and SECRET not in str(seen) and "First lab" not in str(seen)
    mine = citizen.get(f"/orders/{order_id}").json()  # the citizen still sees the whole story
    assert SECRET in str(mine["events"]) and mine["delivery"]["address"] == STREET


class _ApiOf:
    """A web user's account through the API (bearer token on the same test client), for orderflow.Lab."""

    def __init__(self, web: Any) -> None:
        from tests.web.webclient import PASSWORD

        self.web = web
        r = web.client.post("/api/v1/auth/tokens", json={"email": web.email, "password": PASSWORD})
        self.headers = {"Authorization": f"Bearer {r.get_json()['token']}"}

    def post(self, url: str, **kw: Any) -> Any:
        return self.web.client.post(url, headers=self.headers, **kw)


def _web_operator(app: Any) -> tuple[Any, _ApiOf]:
    """An operator signed in on the web pages, and the same account on the API."""
    from tests.web.webclient import WebUser

    web = WebUser(app, "operator")
    return web, _ApiOf(web)


def test_the_operator_pages_show_an_offered_lab_only_the_area(app: Any, make_user: Any) -> None:
    web, operator = _web_operator(app)
    citizen = make_user("citizen")
    lab = Lab(web.client, operator, "Web lab", 41.401, 2.158)
    design = publish(citizen)
    r = order(citizen, design, lat=EXACT[0], lon=EXACT[1], delivery={"latitude": EXACT[0], "longitude": EXACT[1],
                                                                     "address": STREET})
    assert r.status_code == 201 and r.get_json()["fablab"]["id"] == lab.id, r.get_json()
    order_id, job_id = r.get_json()["id"], r.get_json()["job"]["id"]
    for page in ("/dashboard", f"/orders/{order_id}"):
        html = web.get(page).text
        assert "Web lab" in html or page != "/dashboard"
        assert _leaks(html) == [], page
    assert lab.post(job_id, "accept").status_code == 200
    assert "Verdi" in web.get("/dashboard").text and "Verdi" in web.get(f"/orders/{order_id}").text


# --- 4. hostile materials, numbers and names -----------------------------------------------------------------

def test_whitespace_only_materials_are_refused(client: Any, make_user: Any) -> None:
    citizen, operator = make_user("citizen"), make_user("operator")
    design = publish(citizen)
    lab = Lab(client, operator, "Lab", 41.401, 2.158)
    for blank in ("   ", "\t \n"):
        r = order(citizen, design, material=blank)
        assert r.status_code == 422 and "material" in r.get_json()["errors"], r.get_json()
        r = client.post("/api/v1/node/heartbeat", headers=lab.headers,
                        json={"machines": [{**printer("p2"), "state": "idle", "materials": ["PLA", blank]}]})
        assert r.status_code == 422, r.get_json()
    assert citizen.get("/api/v1/orders").get_json()["total"] == 0
    assert [m["key"] for m in client.get(f"/api/v1/fablabs/{lab.id}").get_json()["machines"]] == ["p1"]


def test_progress_must_be_a_percentage_on_the_node_api_and_the_dashboard(app: Any, make_user: Any) -> None:
    web, operator = _web_operator(app)
    citizen = make_user("citizen")
    lab = Lab(web.client, operator, "Lab", 41.401, 2.158)
    job_id = order(citizen, publish(citizen)).get_json()["job"]["id"]
    assert lab.post(job_id, "accept").status_code == 200
    path = f"/api/v1/node/jobs/{job_id}/progress"
    for raw in ('{"percent": NaN, "seq": 1}', '{"percent": Infinity, "seq": 1}', '{"percent": 101, "seq": 1}',
                '{"percent": -1, "seq": 1}', '{"percent": 5, "seq": 2147483648}'):
        r = web.client.post(path, data=raw, content_type="application/json", headers=lab.headers)
        assert r.status_code == 422 and r.mimetype == "application/problem+json", (raw, r.status_code)
    for bad in ("nan", "inf", "-inf"):
        web.submit(f"/dashboard/labs/{lab.id}/jobs/{job_id}/progress", {"percent": bad})
    job = web.client.get(f"/api/v1/node/jobs/{job_id}", headers=lab.headers).get_json()
    assert job["progress"] == 0 and job["state"] == "accepted"  # not 100 % from a NaN
    assert lab.post(job_id, "progress", percent=40, seq=3).get_json()["progress"] == 40


def test_a_hostile_lab_or_machine_name_stays_a_string_in_the_agent_config(app: Any) -> None:
    from sqlalchemy import select

    from server.fablabs.models import Fablab, Machine

    web, operator = _web_operator(app)
    r = operator.post("/api/v1/fablabs", json={"name": "Plain", "kind": "fablab", "latitude": 41.4, "longitude": 2.2,
                                               "machines": [printer("p1")]})
    lab_id = r.get_json()["id"]
    # names as an import or an older hub may hold them, whatever the edge now refuses
    lab_name = 'Lab\nhub = "http://evil.example"\n[[machines]]\nkey = "x"\x0b\x00\u2028'
    machine_name = 'Printer"\nprocess = "sla"\r\n[evil]\n\x1f'
    with app.extensions["cosmoloc.db"].session() as s:
        s.scalar(select(Fablab).where(Fablab.id == lab_id)).name = lab_name.replace("\x00", "")
        s.scalar(select(Machine).where(Machine.fablab_id == lab_id)).name = machine_name
        s.commit()
    r = web.get(f"/dashboard/labs/{lab_id}/agent.toml")
    assert r.status_code == 200
    doc = tomllib.loads(r.text)
    assert doc["hub"] == "http://127.0.0.1:5000" and "evil" not in doc  # COSMOLOC_BASE_URL unset: the default
    assert [(m["key"], m["name"], m["process"]) for m in doc["machines"]] == [("p1", machine_name, "fdm")]


# --- 5. the offer sweeper keeps going ------------------------------------------------------------------------

def test_one_order_the_sweeper_cannot_move_does_not_hold_back_the_others(app: Any, client: Any, make_user: Any,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt

    from server.orders import service, sweeper

    citizen, operator = make_user("citizen"), make_user("operator")
    design = publish(citizen)
    lab = Lab(client, operator, "Lab", 41.401, 2.158)
    first, second = (order(citizen, design).get_json()["id"] for _ in range(2))
    real = service.expire_if_due

    def broken_for_the_first(session: Any, o: Any, job: Any, rules: Any, now: Any) -> bool:
        if o.id == first:
            raise RuntimeError("a poisoned order")
        return real(session, o, job, rules, now)

    monkeypatch.setattr(service, "expire_if_due", broken_for_the_first)
    hub = app.extensions["cosmoloc.hub"]
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=hub.settings.offer_ttl_s + 60)
    assert sweeper.sweep(hub.db, hub.rules, later)[0] == 1
    states = {j["order_id"]: j["state"] for j in lab.jobs()}
    assert states == {first: "offered", second: "expired"}


@pytest.mark.slow
def test_offers_still_expire_while_citizens_and_nodes_hammer_the_hub(start_hub: Any) -> None:
    import threading

    hub = start_hub(COSMOLOC_OFFER_TTL_S="3", limits={"open_orders_per_account": "3"})
    operator, citizen = Client(hub.url, "operator"), Client(hub.url, "citizen")
    _lab_id, node = register_lab(operator, "Lab", 41.39, 2.17)
    _beat(hub, node)
    design = publish_cube(citizen)
    order_id = _place(citizen, design).json()["id"]
    stop = threading.Event()
    refused: list[int] = []

    def hammer_orders() -> None:
        while not stop.is_set():
            refused.append(_place(citizen, design).status_code)

    def hammer_beats() -> None:
        beat = 0
        while not stop.is_set():
            node.post(hub.url + "/api/v1/node/heartbeat", timeout=30,
                      json={"agent": "x/1", "machines": [{"key": "p1", "state": "idle"}, *_declared(f"h{beat}", 200)]})
            beat += 1

    threads = [threading.Thread(target=f) for f in (hammer_orders, hammer_orders, hammer_beats)]
    for t in threads:
        t.start()
    try:
        deadline, events = time.time() + 20, []
        while time.time() < deadline:
            events = [e["kind"] for e in citizen.get(f"/orders/{order_id}").json()["events"]]
            if "expired" in events:
                break
            time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert "expired" in events, events  # the sweeper ran (TTL 3 s, a sweep every 2 s) under the load
    assert set(refused) <= {201, 409} and 409 in refused
