"""Quotes on a real PrusaSlicer reference slice, made in the background after validation (SQLite and PostgreSQL)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from design_commons import slicing
from tests.conftest import ROOMY_LIMITS
from tests.server.orderflow import Lab, printer, publish

pytestmark = pytest.mark.skipif(slicing.find_slicer() is None,
                                reason="prusa-slicer is not installed (apt-get install prusa-slicer)")
HERE = "41.40,2.17"


@pytest.fixture
def app(database_url: str, tmp_path: Path):
    from server.app import create_app
    from server.config import Settings

    settings = Settings.from_env(data_dir=tmp_path / "data", database_url=database_url, eager_tasks=True,
                                 sweeper_interval_s=0, max_upload_mb=5, secret_key="test-secret", limits=ROOMY_LIMITS,
                                 slicer="auto")
    application = create_app(settings)
    application.config["TESTING"] = True
    yield application
    application.extensions["cosmoloc.hub"].close()


def _slices(app):
    from server.quotes.models import SliceEstimate

    with app.extensions["cosmoloc.db"].session() as s:
        return [(r.file_sha256, r.material, r.mass_g) for r in s.query(SliceEstimate).order_by(SliceEstimate.material)]


def test_quotes_take_grams_and_time_from_the_reference_slice(app, client, make_user, tmp_path):
    designer, operator, citizen = make_user("designer"), make_user("operator"), make_user("citizen")
    design = publish(designer)  # a 20 mm cube: validated, then sliced, in the background (eagerly here)
    Lab(client, operator, "Near lab", 41.3874, 2.1686, machines=[printer("p1", ("PLA", "TPU"))])
    kept = _slices(app)
    assert [m for _, m, _ in kept] == ["ABS", "PETG", "PLA"] and len({sha for sha, _, _ in kept}) == 1
    # what the quote says is what PrusaSlicer says of the canonical STL in the reference profile
    canonical = tmp_path / "canonical.stl"
    answer = client.get(f"/api/v1/files/{design['versions'][-1]['files'][0]['id']}/manufacturing")
    assert answer.status_code == 200
    canonical.write_bytes(answer.data)
    expected = slicing.slice_stl(canonical, "PLA")
    before = dt.datetime.now(dt.UTC)
    r = citizen.get(f"/api/v1/designs/{design['id']}/quotes", query_string={"material": "PLA", "near": HERE})
    q = r.get_json()["items"][0]
    e = q["estimate"]
    assert e["source"] == "slicer" and e["is_estimate"]
    assert e["mass_g"] == pytest.approx(expected.mass_g, abs=0.01)
    assert e["machine_time_s"] == round(expected.machine_time_s)
    assert e["assumptions"]["slicer"].startswith("PrusaSlicer ")
    assert e["assumptions"]["profile_sha256"] == slicing.profile_sha256("PLA")
    p50 = dt.datetime.fromisoformat(q["ready_by"]["p50"].replace("Z", "+00:00"))
    assert abs((p50 - before).total_seconds() - expected.machine_time_s) < 60  # the slicer's hours lay the ready-by
    # TPU has no reference slice: the geometry formula, and the quote says why
    tpu = citizen.get(f"/api/v1/designs/{design['id']}/quotes", query_string={"material": "TPU", "near": HERE})
    e = tpu.get_json()["items"][0]["estimate"]
    assert e["source"] == "geometry" and e["assumptions"]["slicer"].startswith("not sliced")
    # the same bytes in another design are not sliced again
    publish(designer)
    assert _slices(app) == kept


def test_a_file_the_slicer_cannot_slice_falls_back_and_is_not_sliced_twice(app, client, make_user, monkeypatch):
    from server.quotes import slices

    calls = []

    def failing(path, material, **kw):
        calls.append(material)
        raise slicing.SliceError("slicer_limit", "slicing took longer than 180 s")

    monkeypatch.setattr(slices.slicing, "slice_stl", failing)
    designer, operator, citizen = make_user("designer"), make_user("operator"), make_user("citizen")
    design = publish(designer)
    Lab(client, operator, "Near lab", 41.3874, 2.1686)
    assert calls == ["PLA", "PETG", "ABS"]
    publish(designer)
    assert calls == ["PLA", "PETG", "ABS"]  # the failure is kept: the same bytes are not tried again
    r = citizen.get(f"/api/v1/designs/{design['id']}/quotes", query_string={"material": "PLA", "near": HERE})
    e = r.get_json()["items"][0]["estimate"]
    assert e["source"] == "geometry" and e["mass_g"] == pytest.approx(3.76, abs=0.01)
    assert e["assumptions"]["slicer"] == "the slice failed: slicer_limit: slicing took longer than 180 s"
