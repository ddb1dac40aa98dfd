"""Rate cards and quotes through the HTTP API, on SQLite and PostgreSQL (API.md "Prices, quotes and ready times")."""
from __future__ import annotations

import datetime as dt

import pytest

from tests.server.orderflow import Lab, printer, publish

CARD = {"currency": "EUR", "vat_percent": 21, "prices_include_vat": False, "minimum": "0",
        "lines": [{"machine_key": "p1", "material": "PLA", "setup": "3.00", "per_gram": "0.05", "per_hour": "4.00"}],
        "quantity_discounts": [{"min_quantity": 10, "percent": 10}], "unattended": True}
HERE = "41.40,2.17"


@pytest.fixture
def world(client, make_user):
    designer, operator, citizen = make_user("designer"), make_user("operator"), make_user("citizen")
    design = publish(designer)  # a 20 mm cube
    near = Lab(client, operator, "Near lab", 41.3874, 2.1686)
    middle = Lab(client, operator, "Middle lab", 41.45, 2.25, kind="cooperative")
    cheap = Lab(client, operator, "Cheap lab", 41.55, 2.10, machines=[printer("a"), printer("b", ("PETG", "pla"))])
    Lab(client, operator, "Far lab", 41.6176, 0.6200)  # Lleida: past 100 km
    Lab(client, operator, "Asleep lab", 41.39, 2.17, online=False)
    return {"operator": operator, "citizen": citizen, "design": design, "near": near, "middle": middle,
            "cheap": cheap}


def quotes(user, design, **args):
    return user.get(f"/api/v1/designs/{design['id']}/quotes", query_string={"material": "PLA", "near": HERE, **args})


def put(user, lab, card):
    return user.client.put(f"/api/v1/fablabs/{lab.id}/rates", json=card, headers=user.headers)


def test_rates_are_versioned_and_operator_only(client, world, make_user, app):
    operator, near = world["operator"], world["near"]
    r = client.get(f"/api/v1/fablabs/{near.id}/rates")
    assert r.status_code == 404 and r.get_json()["code"] == "no_rates"
    assert client.get("/api/v1/fablabs/999999/rates").status_code == 404
    assert put(make_user("stranger"), near, CARD).status_code == 403
    assert client.put(f"/api/v1/fablabs/{near.id}/rates", json=CARD).status_code == 401
    bad = put(operator, near, {**CARD, "currency": "EURO"})
    assert bad.status_code == 422 and bad.get_json()["code"] == "unknown_currency" and "currency" in bad.get_json()["errors"]
    bad = put(operator, near, {**CARD, "minimum": "0.001"})
    assert bad.status_code == 422 and bad.get_json()["code"] == "invalid_amount"
    assert put(operator, near, [1, 2]).status_code == 422
    huge = put(operator, near, {**CARD, "lines": [{**CARD["lines"][0], "per_gram": "1E+100"}]})
    assert huge.status_code == 422 and list(huge.get_json()["errors"]) == ["lines[0].per_gram"]
    first = put(operator, near, CARD)
    assert first.status_code == 200 and first.get_json()["version"] == 1
    assert first.get_json()["lines"][0]["per_gram"] == "0.05" and first.get_json()["updated_at"]
    second = put(operator, near, {**CARD, "lines": [{**CARD["lines"][0], "per_gram": "0.10"}]})
    assert second.get_json()["version"] == 2
    now = client.get(f"/api/v1/fablabs/{near.id}/rates").get_json()
    assert now["version"] == 2 and now["lines"][0]["per_gram"] == "0.10"
    from server.quotes.models import RateCardVersion

    with app.extensions["cosmoloc.db"].session() as s:
        kept = {v.version: v.card["lines"][0]["per_gram"] for v in s.query(RateCardVersion).filter_by(fablab_id=near.id)}
    assert kept == {1: "0.05", 2: "0.10"}  # the first version is kept as it was


def test_quote_price_equals_the_hand_calculation(world):
    citizen, near = world["citizen"], world["near"]
    assert put(world["operator"], near, CARD).status_code == 200
    r = quotes(citizen, world["design"])
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert [q["fablab"]["name"] for q in body["items"]] == ["Near lab", "Middle lab", "Cheap lab"]
    assert body["total"] == 3 and body["total_exact"] and body["page"] == 1 and body["per_page"] == 20
    q = body["items"][0]
    assert q["fablab"] == {"id": near.id, "name": "Near lab", "kind": "fablab"} and q["machine_key"] == "p1"
    e = q["estimate"]
    # 20 mm cube: shell 2160 mm3 + 15 % of 5840 = 3036 mm3 of PLA = 3.765 g; 3.036 cm3 at 12 cm3/h = 911 s
    assert e["source"] == "geometry" and e["is_estimate"] and e["mass_g"] == pytest.approx(3.76, abs=0.01)
    assert e["machine_time_s"] == 911 and e["assumptions"]["infill"] == 0.15
    assert e["assumptions"]["slicer"].startswith("not sliced")  # this hub slices nothing: it says so
    assert e["assumptions"]["opening_hours"].startswith("unattended")
    assert body["items"][1]["estimate"]["assumptions"]["opening_hours"].startswith("no rate card")
    p = q["price"]
    # setup 3.00; 3.765 g x 0.05 = 0.188 -> 0.19; 0.253 h x 4.00 = 1.012 -> 1.01; 4.20 + 21 % VAT 0.882 -> 0.88
    assert [(ln["label"], ln["amount"]) for ln in p["lines"]] == [
        ("setup", 300), ("material", 19), ("machine time", 101), ("VAT", 88)]
    assert (p["total"], p["vat"], p["currency"], p["rate_card_version"]) == (508, 88, "EUR", 1)
    assert "g x 0.05 EUR/g" in p["lines"][1]["formula"]
    ten = quotes(citizen, world["design"], quantity=10).get_json()["items"][0]["price"]
    # 3.00 + 1.88 + 10.12 = 15.00; -10 % = 13.50; VAT 2.835 -> 2.84 (half-up)
    assert [ln["amount"] for ln in ten["lines"]] == [300, 188, 1012, -150, 284] and ten["total"] == 1634


def test_labs_without_a_card_say_price_on_request(world):
    body = quotes(world["citizen"], world["design"]).get_json()
    assert body["total"] == 3 and all(q["price"] is None for q in body["items"])
    q = body["items"][0]
    assert q["estimate"]["mass_g"] > 0 and q["ready_by"]["p50"] <= q["ready_by"]["p90"]
    # the vocabulary: machines listing "PLA" make "polylactic acid"; "PETG" is another material
    assert quotes(world["citizen"], world["design"], material="Polylactic acid").get_json()["total"] == 3
    petg = quotes(world["citizen"], world["design"], material="petg").get_json()
    assert [q["fablab"]["name"] for q in petg["items"]] == ["Cheap lab"] and petg["items"][0]["machine_key"] == "b"


def test_sorted_by_price_and_by_ready_time_and_paged(world):
    operator, citizen, design = world["operator"], world["citizen"], world["design"]
    put(operator, world["near"], CARD)
    cheap_card = {**CARD, "lines": [{"machine_key": "b", "material": "polylactic acid", "setup": "1.00"}]}
    put(operator, world["cheap"], cheap_card)
    names = [q["fablab"]["name"] for q in quotes(citizen, design, sort="cheapest").get_json()["items"]]
    assert names == ["Cheap lab", "Near lab", "Middle lab"]  # 1.21 EUR, 5.08 EUR, then price on request
    cheapest = quotes(citizen, design, sort="cheapest").get_json()["items"][0]
    assert cheapest["machine_key"] == "b" and cheapest["price"]["total"] == 121  # the priced machine is quoted
    # the near lab opens one minute a week: its part waits for many weeks of openings
    put(operator, world["near"], {**CARD, "unattended": False, "opening_hours": {
        "timezone": "Europe/Madrid", "week": {"mon": [["09:00", "09:01"]]}}})
    soonest = quotes(citizen, design, sort="soonest").get_json()["items"]
    assert [q["fablab"]["name"] for q in soonest][-1] == "Near lab"
    late = dt.datetime.fromisoformat(soonest[-1]["ready_by"]["p50"].replace("Z", "+00:00"))
    assert late - dt.datetime.now(dt.UTC) > dt.timedelta(weeks=10)
    # 10,000 cubes need 2,530 h: not within ten years of one minute a week, so no date is made up
    many = quotes(citizen, design, sort="soonest", quantity=10000).get_json()["items"]
    assert many[-1]["fablab"]["name"] == "Near lab" and many[-1]["ready_by"] is None
    assert many[-1]["price"]["total"] > 0 and all(q["ready_by"] for q in many[:-1])
    first = quotes(citizen, design, per_page=1).get_json()
    # the nearest lab is 1.4 km away: the search stops there, so it knows of at least one quote
    assert [q["fablab"]["name"] for q in first["items"]] == ["Near lab"]
    assert first["total"] == 1 and first["total_exact"] is False
    page = quotes(citizen, design, sort="nearest", per_page=1, page=2).get_json()
    assert [q["fablab"]["name"] for q in page["items"]] == ["Middle lab"] and page["total"] >= 2
    assert quotes(citizen, design, per_page=2, page=9).get_json()["items"] == []


def test_transport_of_the_chosen_mode_beside_the_reference(world):
    body = quotes(world["citizen"], world["design"], delivery_mode="car_pickup").get_json()
    q = body["items"][0]
    t = q["transport"]
    assert t["mode"] == "car_pickup" and t["kg_co2e"] == pytest.approx(2 * q["distance_km"] * 1.3 * 0.16591, abs=1e-3)
    assert t["low"] <= t["kg_co2e"] <= t["high"] and t["method_url"] == "/methods/transport"
    assert t["reference"]["name"] == "sea_shenzhen" and t["words"] == "transport only"
    assert t["saving_kg_co2e"] == pytest.approx(t["reference"]["kg_co2e"] - t["kg_co2e"], abs=1e-3)
    walk = quotes(world["citizen"], world["design"], delivery_mode="walk_bike").get_json()["items"][0]["transport"]
    assert walk["kg_co2e"] == 0 and walk["saving_kg_co2e"] == walk["reference"]["kg_co2e"] > 0
    parcel = quotes(world["citizen"], world["design"]).get_json()["items"][0]["transport"]
    shipped_t = (q["estimate"]["mass_g"] / 1000 + 0.1) / 1000
    assert parcel["mode"] == "parcel"
    assert parcel["kg_co2e"] == pytest.approx(0.181 + shipped_t * q["distance_km"] * 1.3 * 0.12715, abs=1e-4)


BAD = [
    ({"material": ""}, "invalid_query"),
    ({"near": "north"}, "invalid_query"),
    ({"near": "91,0"}, "invalid_query"),
    ({"delivery_mode": "teleport"}, "invalid_query"),
    ({"sort": "random"}, "invalid_query"),
    ({"per_page": "1000"}, "invalid_query"),
    ({"quantity": "0"}, "invalid_query"),
    ({"process": "laser_cutting"}, "process_not_possible"),
    ({"near": None}, "invalid_location"),
    ({"file_id": "999999"}, "unknown_file"),
    ({"material": "PL\x00A"}, "invalid_text"),
    ({"max_distance_km": "inf"}, "invalid_query"),
    ({"bogus": "1"}, "invalid_query"),
]


def test_bad_questions_get_problem_json(world):
    for args, code in BAD:
        query = {"material": "PLA", "near": HERE, **args}
        r = world["citizen"].get(f"/api/v1/designs/{world['design']['id']}/quotes",
                                 query_string={k: v for k, v in query.items() if v is not None})
        assert r.status_code == 422 and r.get_json()["code"] == code, (args, r.get_json())
        assert r.mimetype == "application/problem+json"


def test_unknown_design_is_404(world):
    r = world["citizen"].get("/api/v1/designs/999999/quotes", query_string={"material": "PLA", "near": HERE})
    assert r.status_code == 404


def test_the_methods_page_lists_every_factor_with_edition_and_source(client):
    from markupsafe import escape

    from design_commons import transport

    r = client.get("/methods/transport")
    assert r.status_code == 200 and r.mimetype == "text/html"
    page = r.get_data(as_text=True)
    for f in transport.FACTORS:
        assert f'id="factor-{f.key}"' in page and str(escape(f.source)) in page
    assert "0.12715" in page and "DESNZ" in page and "2026" in page and "transport only" in page


def test_cards_published_at_once_get_one_version_each(app, world):
    import threading

    operator, near = world["operator"], world["near"]
    answers: list[tuple[int, int | None]] = []

    def publish_one(i: int) -> None:
        card = {**CARD, "lines": [{**CARD["lines"][0], "setup": f"{i}.00"}]}
        r = app.test_client().put(f"/api/v1/fablabs/{near.id}/rates", json=card, headers=operator.headers)
        answers.append((r.status_code, (r.get_json() or {}).get("version")))

    threads = [threading.Thread(target=publish_one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [(200, v) for v in range(1, 7)]
    assert world["citizen"].get(f"/api/v1/fablabs/{near.id}/rates").get_json()["version"] == 6


def _beat(lab, queues):
    machines = [{"key": k, "state": "busy", **({"queue_s": q} if q is not None else {})} for k, q in queues.items()]
    return lab.client.post("/api/v1/node/heartbeat", json={"agent": "test/1", "machines": machines}, headers=lab.headers)


def _cheap_quote(world):
    items = quotes(world["citizen"], world["design"], material="PLA").get_json()["items"]
    return next(q for q in items if q["fablab"]["name"] == "Cheap lab")


def test_reported_queues_set_the_ready_time_and_the_earlier_machine_is_quoted(world):
    cheap = world["cheap"]
    assert _beat(cheap, {"a": 3 * 3600, "b": 2 * 3600}).status_code == 200
    before = dt.datetime.now(dt.UTC)
    q = _cheap_quote(world)
    assert q["machine_key"] == "b"  # 2 h of work waiting beats 3 h
    p50 = dt.datetime.fromisoformat(q["ready_by"]["p50"].replace("Z", "+00:00"))
    # no card: every hour counts; 2 h waiting + 911 s for the cube (the quote may be a few seconds later)
    assert dt.timedelta(seconds=7200 + 911 - 60) < p50 - before < dt.timedelta(seconds=7200 + 911 + 60)
    assert q["estimate"]["assumptions"]["queue"].startswith("7200 s of work waiting")
    assert _beat(cheap, {"a": 1800.5, "b": 2 * 3600}).status_code == 200
    assert _cheap_quote(world)["machine_key"] == "a"  # the queues changed: now machine a is ready first
    # an agent that stops saying its queue is taken at its word: nothing known, counted as none
    assert _beat(cheap, {"a": None, "b": None}).status_code == 200
    q = _cheap_quote(world)
    assert q["estimate"]["assumptions"]["queue"].startswith("queued work not reported")
    p50 = dt.datetime.fromisoformat(q["ready_by"]["p50"].replace("Z", "+00:00"))
    assert p50 - dt.datetime.now(dt.UTC) < dt.timedelta(seconds=911 + 60)


def test_a_bad_queue_is_refused_and_changes_nothing(world, app):
    cheap = world["cheap"]
    assert _beat(cheap, {"a": 600, "b": 600}).status_code == 200
    for bad in (-1, "soon", 1e12, [60]):
        r = _beat(cheap, {"a": 60, "b": bad})
        assert r.status_code == 422 and r.headers["Content-Type"].startswith("application/problem+json"), bad
    from server.fablabs.models import Machine

    with app.extensions["cosmoloc.db"].session() as s:
        kept = {m.key: m.queue_s for m in s.query(Machine).filter_by(fablab_id=cheap.id)}
    assert kept == {"a": 600, "b": 600}
