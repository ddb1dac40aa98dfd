"""Build reports and photos through the API: filed by the lab's agent, completed, locked by the receipt (SQLite, PostgreSQL)."""
from __future__ import annotations

import io
import time

import pytest
from PIL import ExifTags, Image

from tests.server.orderflow import Lab, order, publish

AGENT_REPORT = {"outcome": "success", "material": {"name": "PLA"}, "estimated_time_s": 3000, "actual_time_s": 3400,
                "settings": {"layer_height_mm": 0.2, "infill_percent": 15, "slicer": "PrusaSlicer"}}
OPERATOR_REPORT = {"outcome": "success", "material": {"name": "PLA", "brand": "Prusament", "lot": "A7"},
                   "machine": {"make": "Prusa", "model": "MK4"}, "notes": "clean"}


@pytest.fixture
def world(client, make_user):
    designer, operator, citizen = make_user("designer"), make_user("operator"), make_user("citizen")
    lab = Lab(client, operator, "Near lab", 41.3874, 2.1686)
    other = Lab(client, make_user("othering"), "Other lab", 41.6176, 0.6200)  # Lleida: too far to be offered
    return {"design": publish(designer), "operator": operator, "citizen": citizen, "lab": lab, "other": other,
            "stranger": make_user("stranger")}


def _job(world: dict, done: str | None = "complete") -> tuple[int, int]:
    """An order of the citizen taken by the near lab, then completed (or failed); (order id, job id)."""
    o = order(world["citizen"], world["design"]).get_json()
    lab = world["lab"]
    job = lab.jobs("offered")[0]
    assert lab.post(job["id"], "accept").status_code == 200
    if done == "complete":
        assert lab.post(job["id"], "complete").status_code == 200
    elif done == "fail":
        assert lab.post(job["id"], "fail", reason="warped off the bed").status_code == 200
    return o["id"], job["id"]


def _gps_jpeg() -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SecretPhoneMaker"
    exif[ExifTags.IFD.GPSInfo] = {ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (41.0, 23.0, 9.5),
                                  ExifTags.GPS.GPSLongitudeRef: "E", ExifTags.GPS.GPSLongitude: (2.0, 9.0, 44.0)}
    out = io.BytesIO()
    Image.new("RGB", (400, 300), (30, 120, 200)).save(out, format="JPEG", exif=exif)
    return out.getvalue()


def _upload(client, lab: Lab, job_id: int, data: bytes, mimetype: str = "image/jpeg"):
    return client.post(f"/api/v1/node/jobs/{job_id}/report/photos", headers=lab.headers,
                       data={"photo": (io.BytesIO(data), "part.jpg", mimetype)}, content_type="multipart/form-data")


def _complete(app, order_id: int) -> bool:
    from server.evidence.service import report_complete
    from server.orders.models import Order

    with app.extensions["cosmoloc.hub"].db.session() as session:
        return report_complete(session, session.get(Order, order_id))


def test_the_agent_files_the_operator_completes_the_receipt_locks(app, client, world):
    order_id, job_id = _job(world)
    lab = world["lab"]
    r = lab.post(job_id, "report", **AGENT_REPORT)
    assert r.status_code == 200, r.get_json()
    job = r.get_json()
    assert job["id"] == job_id and job["state"] == "completed"
    assert job["report"]["actual_time_s"] == 3400 and job["report"]["missing"] == ["machine", "receipt"]
    r = lab.post(job_id, "report", **OPERATOR_REPORT)
    report = r.get_json()["report"]
    assert report["settings"] == {"layer_height_mm": 0.2, "infill_percent": 15, "slicer": "PrusaSlicer"}
    assert report["machine"] == {"make": "Prusa", "model": "MK4"} and report["material"]["lot"] == "A7"
    assert report["missing"] == ["receipt"] and report["complete"] is False
    assert not _complete(app, order_id)
    assert client.get(f"/api/v1/node/jobs/{job_id}", headers=lab.headers).status_code == 200
    assert world["citizen"].post(f"/api/v1/orders/{order_id}/confirm").status_code == 200
    assert _complete(app, order_id)
    r = lab.post(job_id, "report", outcome="partial", failure_mode="surface", material={"name": "PLA"})
    assert r.status_code == 409 and r.get_json()["code"] == "report_locked"
    events = [e["kind"] for e in world["citizen"].get(f"/api/v1/orders/{order_id}").get_json()["events"]]
    assert events.count("reported") == 2


def test_reports_are_refused_when_they_do_not_fit_the_job(client, world):
    _, open_job = _job(world, done=None)
    lab, other = world["lab"], world["other"]
    r = lab.post(open_job, "report", **AGENT_REPORT)
    assert r.status_code == 409 and r.get_json()["code"] == "job_not_ended"
    assert other.post(open_job, "report", **AGENT_REPORT).status_code == 404
    r = client.post(f"/api/v1/node/jobs/{open_job}/report", json=AGENT_REPORT, headers=world["citizen"].headers)
    assert r.status_code == 401
    assert lab.post(open_job, "fail", reason="warped").status_code == 200
    r = lab.post(open_job, "report", **AGENT_REPORT)
    assert r.status_code == 422 and r.get_json()["code"] == "outcome_contradicts_job"
    r = lab.post(open_job, "report", outcome="failed", failure_mode="volcano", material={"name": "PLA"},
                 actual_time_s=-5)
    assert r.status_code == 422 and {"failure_mode", "actual_time_s"} <= set(r.get_json()["errors"])
    r = lab.post(open_job, "report", outcome="failed", failure_mode="warping", material={"name": "PLA"})
    assert r.status_code == 200 and r.get_json()["report"]["failure_mode"] == "warping"
    assert r.get_json()["report"]["missing"] == ["machine", "settings", "receipt"]


def test_a_photo_with_gps_is_stored_without_it_and_shown_only_to_the_order_until_received(app, client, world):
    order_id, job_id = _job(world)
    lab, citizen, stranger = world["lab"], world["citizen"], world["stranger"]
    r = _upload(client, lab, job_id, _gps_jpeg())
    assert r.status_code == 409 and r.get_json()["code"] == "no_report"
    lab.post(job_id, "report", **AGENT_REPORT)
    r = _upload(client, lab, job_id, _gps_jpeg())
    assert r.status_code == 201, r.get_json()
    photo = r.get_json()
    assert (photo["width"], photo["height"], photo["media_type"]) == (400, 300, "image/jpeg")
    seen = citizen.get(photo["url"])
    assert seen.status_code == 200 and seen.headers["Cache-Control"] == "private, no-store"
    clean = Image.open(io.BytesIO(seen.data))
    assert not clean.getexif() and b"SecretPhoneMaker" not in seen.data and b"Exif" not in seen.data
    assert Image.open(io.BytesIO(citizen.get(photo["thumbnail_url"]).data)).size == (320, 240)
    assert world["operator"].get(photo["url"]).status_code == 200
    assert stranger.get(photo["url"]).status_code == 404 and client.get(photo["url"]).status_code == 404
    assert lab.post(job_id, "report", **OPERATOR_REPORT).get_json()["report"]["photos"] == [photo]

    evidence_url = f"/api/v1/designs/{world['design']['id']}/evidence"
    assert client.get(evidence_url).get_json()["versions"][-1]["photos"] == []  # not received yet: private

    from server.designs.blobs import sweep_orphans

    hub = app.extensions["cosmoloc.hub"]
    sweep_orphans(hub.db, hub.store, grace_s=0, now=time.time() + 3600)  # a photo is no orphan
    assert citizen.post(f"/api/v1/orders/{order_id}/confirm").status_code == 200
    public = client.get(photo["url"])
    assert public.status_code == 200 and public.data == seen.data and "public" in public.headers["Cache-Control"]
    assert client.get(evidence_url).get_json()["versions"][-1]["photos"] == [photo]
    assert _upload(client, lab, job_id, _gps_jpeg()).get_json()["code"] == "report_locked"


def test_uploads_that_are_not_photos_leave_nothing_behind(client, world):
    _, job_id = _job(world)
    lab = world["lab"]
    lab.post(job_id, "report", **AGENT_REPORT)
    assert _upload(client, world["other"], job_id, _gps_jpeg()).status_code == 404  # another lab's job
    r = _upload(client, lab, job_id, b"<html>not a photo</html>")
    assert r.status_code == 422 and r.get_json()["code"] == "photo_not_image"
    assert "JPEG, PNG or WebP" in r.get_json()["detail"]
    png = io.BytesIO()
    Image.new("RGB", (64, 64)).save(png, format="PNG")
    r = _upload(client, lab, job_id, png.getvalue(), "image/jpeg")
    assert r.status_code == 422 and r.get_json()["code"] == "photo_type_mismatch"
    r = client.post(f"/api/v1/node/jobs/{job_id}/report/photos", headers=lab.headers, data={},
                    content_type="multipart/form-data")
    assert r.status_code == 422 and r.get_json()["code"] == "photo_missing"
    assert lab.post(job_id, "report", **AGENT_REPORT).get_json()["report"]["photos"] == []
    for _ in range(6):
        assert _upload(client, lab, job_id, _gps_jpeg()).status_code == 201
    r = _upload(client, lab, job_id, _gps_jpeg())
    assert r.status_code == 409 and r.get_json()["code"] == "too_many_photos"
    assert len(lab.post(job_id, "report", **AGENT_REPORT).get_json()["report"]["photos"]) == 6


def test_photo_checks_wait_for_a_free_slot_and_say_when_busy(client, world, monkeypatch):
    from server.evidence import routes

    _, job_id = _job(world)
    lab = world["lab"]
    lab.post(job_id, "report", **AGENT_REPORT)
    monkeypatch.setattr(routes, "PHOTO_WAIT_S", 0.05)
    for _ in range(routes.PHOTO_CHECKS_AT_ONCE):
        assert routes._photo_slots.acquire(timeout=1)
    try:
        r = _upload(client, lab, job_id, _gps_jpeg())
        assert r.status_code == 503 and r.get_json()["code"] == "busy" and r.headers["Retry-After"] == "2"
    finally:
        for _ in range(routes.PHOTO_CHECKS_AT_ONCE):
            routes._photo_slots.release()
    assert _upload(client, lab, job_id, _gps_jpeg()).status_code == 201
    assert len(lab.post(job_id, "report", **AGENT_REPORT).get_json()["report"]["photos"]) == 1
