"""Design evidence and lab reputation from real orders through the API (SQLite and PostgreSQL)."""
from __future__ import annotations

import pytest

from tests.server.orderflow import Lab, order, publish

REPORT = {"outcome": "success", "material": {"name": "PLA"}, "machine": {"make": "Prusa", "model": "MK4"},
          "settings": {"layer_height_mm": 0.2}}


@pytest.fixture
def world(client, make_user):
    designer, operator = make_user("designer"), make_user("operator")
    return {"designer": designer, "operator": operator, "design": publish(designer),
            "lab": Lab(client, operator, "Near lab", 41.3874, 2.1686)}


def _made(world: dict, citizen, report: dict | None = REPORT, confirm: dict | None = None) -> int:
    """The citizen orders, the lab makes it and reports; the citizen confirms with ``confirm`` (None: not)."""
    o = order(citizen, world["design"]).get_json()
    lab = world["lab"]
    job = lab.jobs("offered")[0]
    assert lab.post(job["id"], "accept").status_code == 200
    assert lab.post(job["id"], "complete").status_code == 200
    if report is not None:
        assert lab.post(job["id"], "report", **report).status_code == 200
    if confirm is not None:
        r = citizen.post(f"/api/v1/orders/{o['id']}/confirm", json=confirm)
        assert r.status_code == 200, r.get_json()
    return o["id"]


def _evidence(client, design: dict) -> dict:
    r = client.get(f"/api/v1/designs/{design['id']}/evidence")
    assert r.status_code == 200
    return r.get_json()["versions"][-1]["evidence"]


def test_a_confirmed_successful_make_is_otrl4_and_a_receipt_less_one_is_not(client, world, make_user):
    design = world["design"]
    assert _evidence(client, design)["readiness"] is None
    _made(world, make_user("ana"))  # reported, never confirmed
    evidence = _evidence(client, design)
    assert (evidence["verified_makes"], evidence["success"]["n"], evidence["readiness"]) == (0, 0, None)
    _made(world, make_user("ben"), confirm={"fit_for_purpose": "yes", "comment": "fits the shelf"})
    evidence = _evidence(client, design)
    assert (evidence["verified_makes"], evidence["labs"], evidence["readiness"]) == (1, 1, "OTRL-4")
    assert evidence["success"]["rate"] == 1.0 and 0 < evidence["success"]["lower_bound"] < 0.3


def test_not_fit_for_purpose_and_self_orders_are_no_makes(client, world, make_user):
    _made(world, make_user("cara"), confirm={"fit_for_purpose": "no", "comment": "snapped"})
    _made(world, world["operator"], confirm={"fit_for_purpose": "yes"})  # the lab's own operator
    evidence = _evidence(client, world["design"])
    assert evidence["verified_makes"] == 0 and evidence["readiness"] is None
    assert (evidence["success"]["n"], evidence["success"]["rate"]) == (1, 0.0)


def test_a_bad_receipt_is_refused_and_changes_nothing(client, world, make_user):
    citizen = make_user("dan")
    order_id = _made(world, citizen)
    r = citizen.post(f"/api/v1/orders/{order_id}/confirm", json={"fit_for_purpose": "maybe"})
    assert r.status_code == 422 and "fit_for_purpose" in r.get_json()["errors"]
    assert citizen.get(f"/api/v1/orders/{order_id}").get_json()["status"] == "completed"
    assert citizen.post(f"/api/v1/orders/{order_id}/confirm").status_code == 200  # no body: as before


def test_a_new_lab_has_no_history_and_declines_show(client, world, make_user):
    lab = world["lab"]
    r = client.get(f"/api/v1/fablabs/{lab.id}/reputation")
    assert r.status_code == 200
    reputation = r.get_json()["reputation"]
    assert reputation["on_time"] == {"rate": None, "lower_bound": 0.0, "n": 0}
    assert reputation["declined"]["n"] == 0 and reputation["window_days"] == 365
    order(make_user("eve"), world["design"])
    job = lab.jobs("offered")[0]
    assert lab.post(job["id"], "decline", reason="too busy").status_code == 200
    _made(world, make_user("fay"), confirm={})
    reputation = client.get(f"/api/v1/fablabs/{lab.id}/reputation").get_json()["reputation"]
    assert (reputation["declined"]["n"], reputation["declined"]["rate"]) == (2, pytest.approx(0.5, abs=1e-6))
    assert reputation["acceptance_median_s"] is not None and reputation["acceptance_median_s"] >= 0
    assert client.get("/api/v1/fablabs/999999/reputation").status_code == 404
    assert client.get("/api/v1/designs/999999/evidence").status_code == 404


def test_badges_move_only_on_verified_makes_up_to_otrl5_at_two_labs(client, world, make_user):
    """Six confirmed makes, three at each of two labs: OTRL-5 only with the sixth (6 of 6: lower bound 0.61)."""
    first, design = world["lab"], world["design"]
    second = Lab(client, make_user("second"), "Second lab", 41.45, 2.25)
    levels = []
    for i in range(6):
        citizen = make_user(f"maker{i}")
        o = order(citizen, design).get_json()
        offered = first.jobs("offered")
        lab = first if i < 3 else second
        if i >= 3:  # the first lab declines, the order moves on to the second
            assert first.post(offered[0]["id"], "decline", reason="full this week").status_code == 200
        job = lab.jobs("offered")[0]
        for action in ("accept", "complete"):
            assert lab.post(job["id"], action).status_code == 200
        assert lab.post(job["id"], "report", **REPORT).status_code == 200
        levels.append(_evidence(client, design)["readiness"])  # reported, not yet received
        assert citizen.post(f"/api/v1/orders/{o['id']}/confirm", json={"fit_for_purpose": "yes"}).status_code == 200
        levels.append(_evidence(client, design)["readiness"])
    assert levels == [None, "OTRL-4", "OTRL-4", "OTRL-4", "OTRL-4", "OTRL-4", "OTRL-4", "OTRL-4",
                      "OTRL-4", "OTRL-4", "OTRL-4", "OTRL-5"]
    evidence = _evidence(client, design)
    assert (evidence["verified_makes"], evidence["labs"]) == (6, 2)
    assert evidence["success"]["lower_bound"] == pytest.approx(0.6097, abs=1e-4)
    declined = client.get(f"/api/v1/fablabs/{first.id}/reputation").get_json()["reputation"]["declined"]
    assert (declined["n"], declined["rate"]) == (6, pytest.approx(0.5, abs=1e-6))


def test_a_fourth_order_in_ninety_days_from_one_citizen_does_not_count(client, world, make_user):
    citizen = make_user("regular")
    for _ in range(4):
        _made(world, citizen, confirm={"fit_for_purpose": "yes"})
    assert _evidence(client, world["design"])["verified_makes"] == 3
