"""``cosmoloc import-labs``: OKW records and CSV directories into the lab directory (SQLite and PostgreSQL)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from server.db import Database, utcnow
from server.fablabs import importing
from server.fablabs.importing import Located, Skip
from server.fablabs.importing_csv import locate, parse_coordinate, unmojibake
from server.fablabs.models import Fablab, Machine
from tests.conftest import CORPUS, REPO

PLACES = CORPUS / "places"
WORLD_CSV = PLACES / "spaces_world_2016.csv"
OKW_FILES = sorted(PLACES.glob("supplygraph_okw_*.json"))
MOM_SPACES = PLACES / "supplygraph_mom_spaces_3dp.json"


def places(*names: Path) -> list[Path]:
    missing = [p for p in names if not p.is_file()]
    if missing or not names:
        pytest.skip(f"the shared corpus file {missing[0] if missing else PLACES} is absent")
    return list(names)


@pytest.fixture
def db(database_url: str) -> Any:
    database = Database(database_url)
    yield database
    database.dispose()


def run(db: Database, *paths: Path) -> importing.ImportReport:
    return importing.import_sources(db, importing.read_sources(paths))


def labs(db: Database) -> list[Fablab]:
    from sqlalchemy.orm import selectinload

    with db.session() as s:
        return list(s.scalars(select(Fablab).options(selectinload(Fablab.machines)).order_by(Fablab.id)))


# ---------------------------------------------------------------- coordinates


@pytest.mark.parametrize("text, value, dms", [
    ("51.2069", 51.2069, False),
    ("  -33.8688 ", -33.8688, False),
    ("51,25", 51.25, False),
    ("51 12'25\"", 51 + 12 / 60 + 25 / 3600, True),
    ("51 12'25\" N", 51 + 12 / 60 + 25 / 3600, True),
    ("51°12′25″S", -(51 + 12 / 60 + 25 / 3600), True),
    ("-33 48'56\"", -(33 + 48 / 60 + 56 / 3600), True),
    (" 19 48'59\"", 19 + 48 / 60 + 59 / 3600, True),
    ("W 0°7' 39\"", -(7 / 60 + 39 / 3600), True),
    ("38_ 16'40\"", 38 + 16 / 60 + 40 / 3600, True),
    ("12.5 E", 12.5, False),
    ("51d12m25s", 51 + 12 / 60 + 25 / 3600, True),
])
def test_parse_coordinate(text: str, value: float, dms: bool) -> None:
    c = parse_coordinate(text)
    assert c is not None and c.value == pytest.approx(value, abs=1e-9) and c.dms is dms


def test_parse_coordinate_refuses_what_is_not_one() -> None:
    assert parse_coordinate("") is None and parse_coordinate(None) is None
    for bad in ("Europe", "51 75'00\"", "N 51 12 E", "1 2 3 4"):
        with pytest.raises(ValueError):
            parse_coordinate(bad)


def test_swapped_coordinates_are_put_right() -> None:
    # latitude out of range, valid once exchanged
    got = locate("151.2093", "-33.8688", ["Sydney"], "Australia")
    assert isinstance(got, Located) and (got.latitude, got.longitude) == (-33.8688, 151.2093)
    assert got.fixes == ("swapped",) and not got.approximate
    # the swap lost the southern sign: the city puts it back
    got = locate("144.97048", "37.792215", ["Melbourne"], "Australia")
    assert isinstance(got, Located) and got.latitude == pytest.approx(-37.792215) and got.longitude > 0
    # hemisphere letters say the columns were exchanged even when both values are in range
    got = locate("2 10'48\" E", "41 23'15\" N", [], "")
    assert isinstance(got, Located) and got.latitude == pytest.approx(41.3875) and set(got.fixes) == {"dms", "swapped"}


def test_coordinates_are_checked_against_the_country_they_name() -> None:
    # both values fit either range, but only the swapped reading is in Russia
    got = locate("37.62368", "55.749646", ["Moscow"], "Russia")
    assert isinstance(got, Located) and (got.latitude, got.longitude) == (55.749646, 37.62368)
    assert got.fixes == ("swapped",)
    # a lost minus sign, and no city to go by: the country puts it back
    got = locate("45.5132", "73.5708", [], "Canada")
    assert isinstance(got, Located) and (got.latitude, got.longitude) == (45.5132, -73.5708) and got.fixes == ("sign",)
    # no reading lands near the record's city: the city places it
    got = locate("28.001687", "28.275109", ["Pretoria"], "South Africa")
    assert isinstance(got, Located) and got.approximate and got.label == "Pretoria, ZA"
    # the record's own town is right there: the country field is the slip, the point stays
    got = locate("51.522126", "-0.109778", ["London"], "USA")
    assert isinstance(got, Located) and (got.latitude, got.longitude) == (51.522126, -0.109778) and got.fixes == ()
    # nothing to go by: kept, and marked for the summary
    got = locate("52.529645", "13.410455", [], "Australia")
    assert isinstance(got, Located) and got.latitude == 52.529645 and got.fixes == ("far_from_country",)
    # points inside their country are left alone, whatever their sign
    got = locate("-33.8688", "151.2093", [], "Australia")
    assert isinstance(got, Located) and got.fixes == ()


def test_missing_or_impossible_coordinates_fall_back_on_the_city() -> None:
    got = locate("", "", ["Porto Seguro, Bahia"], "Brazil")
    assert isinstance(got, Located) and got.approximate and abs(got.latitude + 16.45) < 0.2
    got = locate("200", "300", ["Lyon"], "France")
    assert isinstance(got, Located) and got.approximate and abs(got.latitude - 45.75) < 0.1
    assert locate("", "", ["Qwxzville"], "Atlantis") == Skip("no coordinates and city not found")
    assert locate(None, None, [], "France") == Skip("no coordinates and no city")
    assert locate("0", "0", [], "") == Skip("no coordinates and no city")


def test_mojibake_is_undone_when_cheap() -> None:
    assert unmojibake("SÃ£o Paulo") == "São Paulo"
    assert unmojibake("Fab Lab Düsseldorf") == "Fab Lab Düsseldorf"


# ---------------------------------------------------------------- OKW records


def test_okw_records_from_the_corpus(db: Database) -> None:
    report = run(db, *places(*OKW_FILES, MOM_SPACES))
    assert (report.imported, report.merged, sum(report.skipped.values())) == (5, 0, 0)
    by_name = {lab.name: lab for lab in labs(db)}
    center = by_name["Additive Manufacturing Center"]
    assert (center.latitude, center.longitude) == (42.3588336, -71.0578303) and not center.location_approximate
    assert center.source == "import" and center.operator_id is None and center.node_token_hash is None
    assert center.accepting_orders is False  # "Planned"
    assert center.city == "Boston" and center.country == "US"
    machines = {m.key: m for m in center.machines}
    assert set(machines) == {"prusa-s5-1", "brand-a-model-889-2"}  # post-processing and assembly are not ours
    prusa = machines["prusa-s5-1"]
    assert prusa.process == "fdm" and prusa.materials == ["PLA", "PETG", "ABS", "TPU"]
    assert machines["brand-a-model-889-2"].process == "sla"
    assert "Typical build volume assumed" in center.description and "prusa-s5-1" in center.description
    assert by_name["Harness Additive Lab"].accepting_orders is True  # "Active"
    assert [m.process for m in by_name["Harness Additive Lab"].machines] == ["fdm"]
    assert [m.process for m in by_name["Harness MoM Laser Only"].machines] == ["laser_cutting"]
    assert by_name["Harness MoM No Processes"].machines == []
    assert run(db, *OKW_FILES, MOM_SPACES).imported == 0


def test_okw_yaml_envelope_with_sizes(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "labs.yaml"
    path.write_text("""
status: ok
data:
  facilities:
    - name: Taller Norte
      facility_status: Active
      location:
        address: {city: Bilbao, country: Spain}
      equipment:
        - equipment_type: https://en.wikipedia.org/wiki/Laser_cutting
          make: Trotec
          model: Speedy 400
          bed_size: 1000 x 610 mm
          materials_worked:
            - {material_type: "https://en.wikipedia.org/wiki/Plywood"}
        - manufacturing_process: https://en.wikipedia.org/wiki/Fused_filament_fabrication
          model: MK4
          build_volume: {x: 25, y: 21, z: 22, unit: cm}
    - name: Closed Shop
      facility_status: Closed
      location: {gps_coordinates: "43°15'47\\" N, 2°56'0\\" W"}
    - {name: "", location: {gps_coordinates: "1, 1"}}
""")
    report = run(db, path)
    assert report.imported == 2 and report.skipped == {"no name": 1} and report.approximate == 1
    by_name = {lab.name: lab for lab in labs(db)}
    norte = by_name["Taller Norte"]
    assert norte.location_approximate and abs(norte.latitude - 43.26) < 0.1 and norte.accepting_orders
    sizes = {m.process: (m.build_x_mm, m.build_y_mm, m.build_z_mm, m.materials) for m in norte.machines}
    assert sizes == {"laser_cutting": (1000, 610, 6, ["Plywood"]), "fdm": (250, 210, 220, [])}
    closed = by_name["Closed Shop"]
    assert closed.accepting_orders is False and closed.longitude == pytest.approx(-2.9333, abs=1e-3)


def test_okw_build_volume_in_cubic_mm_as_the_spec_has_it(db: Database, tmp_path: Path) -> None:
    fdm = "https://en.wikipedia.org/wiki/Fused_filament_fabrication"
    laser = "https://en.wikipedia.org/wiki/Laser_cutting"
    record = {"id": "0b6c3c2e-9f7a-4b41-9d0e-3f8f1c2a4b5d", "name": "Volume Lab", "facility_status": "Active",
              "location": {"gps_coordinates": "48.2082, 16.3738", "address": {"city": "Vienna", "country": "AT"}},
              "equipment": [
                  {"manufacturing_process": fdm, "model": "Cube", "build_volume": 27_000_000},  # 300 mm a side
                  {"manufacturing_process": fdm, "model": "Tall", "x_travel": 200, "y_travel": 100,
                   "build_volume": 6_000_000},  # z = 6e6 / (200 x 100) = 300
                  {"manufacturing_process": laser, "model": "Bed", "build_volume": "1440 cm3"},
                  {"manufacturing_process": fdm, "model": "Given", "x_travel": 250, "y_travel": 210, "z_travel": 220,
                   "build_volume": 11_550_000},
              ]}
    path = tmp_path / "volume.json"
    path.write_text(json.dumps(record))
    assert run(db, path).imported == 1
    (lab,) = labs(db)
    sizes = {m.name: (m.build_x_mm, m.build_y_mm, m.build_z_mm) for m in lab.machines}
    assert sizes["Cube"] == pytest.approx((300, 300, 300))
    assert sizes["Tall"] == (200, 100, 300)
    x, y, z = sizes["Bed"]  # a laser's typical bed, scaled to hold the stated 1.44e6 mm³
    assert x * y * z == pytest.approx(1_440_000) and x / y == pytest.approx(600 / 400)
    assert sizes["Given"] == (250, 210, 220)
    assert "Typical build volume assumed" not in lab.description  # every size came from the record


def test_the_hubs_own_okw_records_import_with_their_sizes(app, client, make_user, tmp_path: Path) -> None:
    from tests.server.test_fablabs import register

    laser = {"key": "l1", "name": "Epilog", "process": "laser_cutting", "build_volume_mm": [600, 300.5, 6],
             "materials": ["Plywood"]}
    lab = register(make_user("operator"), "Round Trip Lab", machines=[laser])
    path = tmp_path / "export.json"
    path.write_text(json.dumps(client.get(f"/api/v1/fablabs/{lab['id']}/okw").get_json()))
    other = tmp_path / "other.db"
    database = Database(f"sqlite:///{other}")
    from server.schema import upgrade

    upgrade(database.engine)
    try:
        assert run(database, path).imported == 1
        (copy,) = labs(database)
        (machine,) = copy.machines
        assert (machine.process, machine.build_x_mm, machine.build_y_mm, machine.build_z_mm) == \
            ("laser_cutting", 600, 300.5, 6)
        assert machine.materials == ["Plywood"]
    finally:
        database.dispose()


# ---------------------------------------------------------------- CSV

SMALL_CSV = (
    "Name;Simple Category;City and Region;Country;Lat;Long;Tools;Status\r\n"
    "Fàbrica Digital;Fab Lab;Barcelona, Catalunya;Spain;41 23'15\";2 10'48\";three_d_printing, laser, ;active\r\n"
    "Swapped Space;Makerspace;Sydney;Australia;151.2093;-33.8688;;\r\n"
    "Makers São Paulo;Hackerspace;São Paulo;Brazil;;;3D Printer;\r\n"
    "Nowhere Lab;Makerspace;Qwxzville;Atlantis;;;;\r\n"
    "FABRICA  DIGITAL;Fab Lab;Barcelona;Spain;41.3877;2.1799;vinyl_cutting;\r\n"
    ";Makerspace;Paris;France;48.85;2.35;;\r\n"
    "Maker Faire Rome;Event;Rome;Italy;41.9;12.5;;\r\n"
)


def test_small_cp1252_csv(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "labs.csv"
    path.write_bytes(SMALL_CSV.encode("cp1252"))
    report = run(db, path)
    assert report.files[0].startswith("labs.csv: 7 records (csv, cp1252")
    assert (report.imported, report.merged, report.approximate) == (3, 1, 1)
    assert report.skipped == {"no coordinates and city not found": 1, "no name": 1, "an event, not a place": 1}
    assert report.fixed == {"dms": 1, "swapped": 1}
    by_name = {lab.name: lab for lab in labs(db)}
    assert set(by_name) == {"Fàbrica Digital", "Swapped Space", "Makers São Paulo"}
    fabrica = by_name["Fàbrica Digital"]
    assert fabrica.kind.value == "fablab" and fabrica.accepting_orders is True and fabrica.country == "ES"
    assert fabrica.latitude == pytest.approx(41.3875) and fabrica.longitude == pytest.approx(2.18)
    # the duplicate added its vinyl cutter to the first record's machines
    assert sorted(m.process for m in fabrica.machines) == ["fdm", "laser_cutting", "vinyl_cutting"]
    assert (by_name["Swapped Space"].latitude, by_name["Swapped Space"].longitude) == (-33.8688, 151.2093)
    sao = by_name["Makers São Paulo"]
    assert sao.location_approximate and abs(sao.latitude + 23.55) < 0.2 and sao.kind.value == "makerspace"
    assert all(lab.accepting_orders is False for lab in (sao, by_name["Swapped Space"]))
    again = run(db, path)
    assert (again.imported, again.merged, again.updated) == (0, 4, 0)
    assert len(labs(db)) == 3


def test_summary_counts_reasons(tmp_path: Path) -> None:
    report = importing.ImportReport(imported=2, merged=1)
    report.skipped.update({"no name": 2, "no coordinates and city not found": 10})
    report.fixed.update({"dms": 3, "swapped": 1, "sign": 2, "far_from_country": 5})
    text = "\n".join(report.lines())
    assert "skipped 12: no coordinates and city not found (10), no name (2)" in text
    assert ("coordinates fixed 6: degrees-minutes-seconds read 3, a lost minus sign restored 2, "
            "latitude/longitude swapped 1") in text
    assert "kept as given though far from the country the record names 5" in text


def test_world_csv_from_the_corpus(db: Database) -> None:
    path = places(WORLD_CSV)[0]
    started = time.perf_counter()
    report = run(db, path)
    took = time.perf_counter() - started
    assert report.imported + report.merged > 4000 and report.imported > 4000
    assert report.fixed["dms"] >= 500 and report.fixed["swapped"] >= 50 and report.fixed["sign"] >= 3
    assert report.fixed["far_from_country"] > 0
    assert report.approximate > 100 and report.skipped["no coordinates and city not found"] > 0
    assert took < 60, f"importing {report.records} rows took {took:.1f} s"
    with db.session() as s:
        total = s.scalar(select(func.count()).select_from(Fablab))
        outside = s.scalar(select(func.count()).select_from(Fablab).where(
            (Fablab.latitude < -90) | (Fablab.latitude > 90) | (Fablab.longitude < -180) | (Fablab.longitude > 180)))
        claimed = s.scalar(select(func.count()).select_from(Fablab).where(Fablab.operator_id.is_not(None)))
        machines = s.scalar(select(func.count()).select_from(Machine))
    assert total == report.imported and outside == 0 and claimed == 0 and machines > 1000
    again = run(db, path)
    assert again.imported == 0 and again.updated == 0 and again.merged == report.imported + report.merged
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Fablab)) == total


# ---------------------------------------------------------------- directory and orders


def test_imported_labs_are_listed_but_never_eligible(app: Any, client: Any, make_user: Any) -> None:
    from server.orders.matching import candidates
    from server.orders.models import Order

    operator = make_user("operator")
    r = operator.post("/api/v1/fablabs", json={"name": "Harness MoM Laser-Only", "kind": "fablab",
                                                "latitude": 48.8502, "longitude": 2.3498})
    assert r.status_code == 201
    hub = app.extensions["cosmoloc.hub"]
    report = importing.import_sources(hub.db, importing.read_sources(places(MOM_SPACES)))
    # a lab its operator registered is left alone, not duplicated
    assert report.imported == 2 and report.skipped == {"already in the directory, run by its operator": 1}
    assert client.get(f"/api/v1/fablabs/{r.get_json()['id']}").get_json()["source"] == "registered"
    body = client.get("/api/v1/fablabs?near=52.37,4.89&radius_km=20").get_json()
    (lab,) = [item for item in body["items"] if item["name"] == "Harness MoM 3DP Lab"]
    assert lab["operator"] is None and lab["claimed"] is False and lab["source"] == "import"
    assert lab["machines"][0]["process"] == "fdm" and lab["distance_km"] < 1
    order = Order(material="PLA", process=None, thickness_mm=None, delivery_latitude=52.37, delivery_longitude=4.89,
                  max_distance_km=50.0)
    with hub.db.session() as s:
        found = candidates(s, order, {"processes": ["fdm"], "bbox_mm": [20, 20, 20]}, utcnow(), 300, "CC-BY-4.0")
    (mine,) = [c for c in found if c.fablab_id == lab["id"]]
    assert not mine.eligible and "unclaimed" in mine.reasons


# ---------------------------------------------------------------- the command


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSMOLOC_")}
    env["COSMOLOC_DATA_DIR"] = str(tmp_path / "data")
    return subprocess.run([sys.executable, "-m", "server.cli", "import-labs", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_cli_exit_codes(tmp_path: Path) -> None:
    okw = places(*OKW_FILES)
    done = cli(tmp_path, *map(str, okw))
    assert done.returncode == 0, done.stderr
    assert "imported 2 labs" in done.stdout and "skipped 0" in done.stdout
    assert cli(tmp_path, *map(str, okw)).stdout.count("imported 0 labs") == 1
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 4)
    empty_json = tmp_path / "nothing.json"
    empty_json.write_text(json.dumps({"data": [1, 2, 3]}))
    table = tmp_path / "table.csv"
    table.write_text("colour,size\nred,3\n")
    for bad, words in ((tmp_path / "missing.csv", "cannot read"), (junk, "unknown format"),
                       (empty_json, "no facility records"), (table, "not a list of labs")):
        done = cli(tmp_path, str(okw[0]), str(bad))
        assert done.returncode == 2, (bad, done.stdout, done.stderr)
        assert words in done.stderr and "Traceback" not in done.stderr


def test_yaml_with_aliases_is_refused(tmp_path):
    """A "billion laughs" YAML file is refused before it can expand, with a plain message."""
    from server.fablabs.importing import ImportFileError
    from server.fablabs.importing_okw import source

    bomb = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8))
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb)
    with pytest.raises(ImportFileError, match="aliases"):
        source(path, path.read_bytes())
