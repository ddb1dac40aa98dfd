"""OKW facility records the hub exports, loaded as the reference implementation loads them (SQLite and PostgreSQL)."""
from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from server.fablabs import importing
from server.fablabs.models import Fablab
from tests.conftest import CORPUS
from tests.server import okw_reference
from tests.server.test_fablabs import PRINTER, register

OKW_FILES = sorted((CORPUS / "places").glob("supplygraph_okw_*.json"))
LASER = {"key": "l1", "name": "Epilog Zing", "process": "laser_cutting", "build_volume_mm": [600, 300.5, 6],
         "materials": ["Plywood", "Acrylic"]}


def test_the_loader_takes_the_reference_projects_own_records() -> None:
    if not OKW_FILES:
        pytest.skip("the shared corpus's OKW records are absent")
    for path in OKW_FILES:
        facility = okw_reference.load(json.loads(path.read_text(encoding="utf-8")))
        assert isinstance(facility["id"], uuid.UUID) and facility["name"]


@pytest.mark.parametrize("change, words", [
    ({"id": "https://hub.example.org/fablabs/3"}, "is not a UUID"),
    ({"facility_status": "Open"}, "facility_status"),
    ({"access_type": "Members only"}, "access_type"),
    ({"location": "Barcelona"}, "location must be an object"),
    ({"equipment": [{"build_volume": {"x": 250, "y": 210, "z": 220, "unit": "mm"}}]}, "build_volume"),
    ({"equipment": [{"x_travel": "250 mm"}]}, "x_travel"),
    ({"record_data": {"date_created": "2024-05-01T10:00:00+00:00", "created_by": "cosmoloc"}}, "created_by"),
    ({"record_data": {"date_created": "yesterday", "created_by": {"name": "x"}}}, "date_created"),
])
def test_the_loader_refuses_what_the_reference_model_cannot_hold(change: dict[str, Any], words: str) -> None:
    record = {"id": str(uuid.uuid4()), "name": "Lab", "location": {"gps_coordinates": "41.4, 2.17"},
              "facility_status": "Active", **change}
    with pytest.raises(okw_reference.NotLoadable, match=words):
        okw_reference.load(record)


def _every_lab_id(app: Any) -> list[int]:
    with app.extensions["cosmoloc.hub"].db.session() as session:
        return list(session.scalars(select(Fablab.id).order_by(Fablab.id)))


def test_every_record_the_hub_exports_loads(app, client, make_user) -> None:
    op = make_user("operator")
    register(op, "Fab Lab Barcelona", machines=[PRINTER, LASER], address="Carrer de Pujades 102, Barcelona")
    register(op, "Closed lab", lat=52.37, lon=4.9, accepting_orders=False, machines=[])
    if OKW_FILES:  # imported labs have no operator, but a city and a country
        importing.import_sources(app.extensions["cosmoloc.hub"].db, importing.read_sources(OKW_FILES))
    base = app.config["COSMOLOC"].base_url.rstrip("/") or "http://127.0.0.1:5000"
    ids = _every_lab_id(app)
    assert len(ids) >= 2
    seen = set()
    for lab_id in ids:
        record = client.get(f"/api/v1/fablabs/{lab_id}/okw").get_json()
        facility = okw_reference.load(record)
        # a UUID, the same at every export and for no other lab; the hub's page for the lab beside it
        assert facility["id"] == uuid.uuid5(uuid.NAMESPACE_URL, f"{base}/fablabs/{lab_id}")
        assert client.get(f"/api/v1/fablabs/{lab_id}/okw").get_json()["id"] == record["id"]
        assert facility["id"] not in seen
        seen.add(facility["id"])
        assert record["cosmoloc"]["url"] == f"{base}/fablabs/{lab_id}"
        assert facility["record_data"]["created_by"] == {"name": "cosmoloc", "website": base}
        for machine in facility["equipment"]:
            x, y, z = machine["x_travel"], machine["y_travel"], machine["z_travel"]
            assert machine["build_volume"] == round(x * y * z)
    by_name = {r["name"]: r for r in (client.get(f"/api/v1/fablabs/{i}/okw").get_json() for i in ids)}
    barcelona = by_name["Fab Lab Barcelona"]
    assert barcelona["location"]["address"] == {"street": "Carrer de Pujades 102, Barcelona"}
    assert barcelona["owner"] == {"name": "operator"}
    laser, printer = barcelona["equipment"]  # by machine key
    assert (printer["x_travel"], printer["y_travel"], printer["z_travel"]) == (250, 210, 220)
    assert printer["build_volume"] == 250 * 210 * 220
    assert laser["manufacturing_process"].endswith("/Laser_cutting") and laser["y_travel"] == 300.5
    assert by_name["Closed lab"]["facility_status"] == "Temporary Closure"
    if OKW_FILES:
        center = by_name["Additive Manufacturing Center"]
        assert center["location"]["address"] == {"street": "7250 Sergio Spurs, Boston, IA, 61226, US",
                                                 "city": "Boston", "country": "US"}
        assert center["location"]["city"] == "Boston" and "owner" not in center
