"""The OpenAPI document is generated from the contract and describes every API route the hub has."""
from __future__ import annotations

import io
import re

from openapi_spec_validator import validate
from PIL import Image

from server.designs.models import Design
from server.fablabs.models import Fablab
from server.ledger import receipts
from server.openapi import document
from tests.cosmoloc_contract.answers import SEEN
from tests.server.orderflow import Lab, cube_stl, order, printer, publish

ARG = re.compile(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>")
CARD = {"currency": "EUR", "vat_percent": 21, "minimum": "0", "unattended": True,
        "lines": [{"machine_key": "p1", "material": "PLA", "setup": "3.00", "per_gram": "0.05", "per_hour": "4.00"}],
        "quantity_discounts": [{"min_quantity": 10, "percent": 10}],
        "opening_hours": {"timezone": "Europe/Madrid", "week": {"mon": [["09:00", "19:00"]]}, "closed": ["2026-12-25"]}}
MANIFEST = '''okhv = "OKH-LOSHv1.0"
name = "Lid"
repo = "https://gitlab.com/example/lid"
version = "1.0.0"
license = "CERN-OHL-S-2.0"
licensor = {name = "A. Maker"}
function = "A lid."

[[part]]
name = "Lid"
export = "lid.stl"
'''


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 120, 200)).save(out, format="PNG")
    return out.getvalue()


def api_operations(app) -> set[tuple[str, str]]:
    return {(method.lower(), ARG.sub(r"{\1}", rule.rule)) for rule in app.url_map.iter_rules()
            if rule.rule.startswith("/api/v1/") for method in rule.methods - {"HEAD", "OPTIONS"}}


def test_every_api_route_is_in_the_served_document(app, client):
    doc = client.get("/api/v1/openapi.json").get_json()
    documented = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    missing = api_operations(app) - documented
    assert not missing, f"routes under /api/v1 missing from the document: {sorted(missing)}"
    assert len(documented) >= 56  # the hand-written document had 16
    validate(doc)  # a valid OpenAPI 3.1 document
    assert doc["openapi"].startswith("3.1")


def test_each_operation_says_who_may_call_it_and_how_it_refuses(app):
    doc = document(app)
    ops = {(m, p): op for p, item in doc["paths"].items() for m, op in item.items()}
    assert ops[("post", "/api/v1/node/heartbeat")]["security"] == [{"nodeToken": []}]
    assert ops[("post", "/api/v1/orders")]["security"] == [{"personalToken": []}]  # writes: bearer tokens only
    assert ops[("get", "/api/v1/orders")]["security"] == [{"personalToken": []}, {"sessionCookie": []}]
    assert ops[("get", "/api/v1/designs")]["security"] == []
    for (method, path), op in ops.items():
        assert "429" in op["responses"], (method, path)
        for status, answer in op["responses"].items():
            if status.startswith("4"):
                assert answer["content"]["application/problem+json"]["schema"]["$ref"].endswith("/Problem")
        if "{" in path:
            assert "404" in op["responses"], (method, path)
    job = doc["components"]["schemas"]["Job"]
    assert job["properties"]["state"] == {"$ref": "#/components/schemas/JobState"}
    assert "withdrawn" in doc["components"]["schemas"]["JobState"]["enum"]
    body = ops[("post", "/api/v1/designs")]["requestBody"]["content"]
    assert "multipart/form-data" in body


def test_a_tour_of_the_api_gives_every_answer_the_contract_describes(app, client, make_user):
    """Every operation answered at least once with its documented success, each answer checked by the
    ``app`` fixture's watch (it fails the test at teardown when an answer breaks its model)."""
    designer, operator, citizen = make_user("designer"), make_user("operator"), make_user("citizen")
    design = publish(designer)
    file_id = design["versions"][0]["files"][0]["id"]
    assert designer.post(f"/api/v1/designs/{design['id']}/versions", data={
        "changelog": "thicker", "files": [(io.BytesIO(cube_stl(22)), "part.stl")]},
        content_type="multipart/form-data").status_code == 201
    design = client.get(f"/api/v1/designs/{design['id']}").get_json()
    file_id = design["versions"][-1]["files"][0]["id"]
    for url in ("/api/v1/designs?q=Part&process=fdm", f"/api/v1/designs/{design['id']}/okh",
                f"/api/v1/files/{file_id}", f"/api/v1/files/{file_id}/content", f"/api/v1/files/{file_id}/thumbnail.png",
                f"/api/v1/files/{file_id}/manufacturing", "/api/v1/openapi.json"):
        assert client.get(url).status_code == 200, url
    assert client.post("/api/v1/validate", data={"file": (io.BytesIO(cube_stl()), "cube.stl")},
                       content_type="multipart/form-data").status_code == 200
    # accounts
    assert designer.get("/api/v1/account").status_code == 200
    tokens = designer.get("/api/v1/auth/tokens").get_json()["items"]
    extra = designer.post("/api/v1/auth/tokens", json={"email": designer.email, "password": "correct horse battery"})
    assert client.delete(f"/api/v1/auth/tokens/{extra.get_json()['id']}", headers=designer.headers).status_code == 204
    assert tokens and client.put("/api/v1/account/password", headers=designer.headers, json={
        "current_password": "correct horse battery", "new_password": "correct horse battery staple"}).status_code == 200
    # labs
    near = Lab(client, operator, "Near lab", 41.3874, 2.1686, machines=[printer("p1"), printer("p2")])
    lab = f"/api/v1/fablabs/{near.id}"
    for url in ("/api/v1/fablabs", "/api/v1/fablabs?near=41.39,2.17&radius_km=50&process=fdm", lab, f"{lab}/okw",
                f"{lab}/history?hours=2"):
        assert client.get(url).status_code == 200, url
    patched = client.patch(lab, json={"description": "Open Tuesdays"}, headers=operator.headers)
    assert patched.status_code == 200 and patched.get_json()["description"] == "Open Tuesdays"
    rotated = operator.post(f"{lab}/token")
    assert rotated.status_code == 201
    near.headers = {"Authorization": f"Bearer {rotated.get_json()['node_token']}"}
    near.beat()
    # rate cards and quotes
    assert client.put(f"{lab}/rates", json=CARD, headers=operator.headers).status_code == 200
    assert client.get(f"{lab}/rates").status_code == 200
    quoted = client.get(f"/api/v1/designs/{design['id']}/quotes?material=PLA&near=41.40,2.17&sort=cheapest")
    assert quoted.status_code == 200 and quoted.get_json()["items"][0]["price"] is not None
    # orders and the node's side of them: accept, progress, complete, report, confirm; decline; fail; cancel
    placed = order(citizen, design)
    assert placed.status_code == 201, placed.get_json()
    o = placed.get_json()
    for url in ("/api/v1/orders", f"/api/v1/orders/{o['id']}", f"/api/v1/orders/{o['id']}/candidates"):
        assert citizen.get(url).status_code == 200, url
    job = near.jobs("offered")[0]
    assert client.get(f"/api/v1/node/jobs/{job['id']}", headers=near.headers).status_code == 200
    assert near.post(job["id"], "accept", machine_key="p1").status_code == 200
    with app.extensions["cosmoloc.db"].session() as s:  # the price agreed when the lab accepts
        receipts.quote_agreed(s, o["id"], s.get(Design, design["id"]), s.get(Fablab, near.id), 4000, "EUR")
    assert client.get(f"/api/v1/node/jobs/{job['id']}/file", headers=near.headers).status_code == 200
    assert near.post(job["id"], "progress", percent=40, state="in_production", seq=1).status_code == 200
    assert near.post(job["id"], "complete", note="done").status_code == 200
    assert client.post(f"/api/v1/node/jobs/{job['id']}/report", headers=near.headers, json={
        "outcome": "success", "machine": {"make": "Prusa", "model": "MK4"}, "material": {"name": "PLA"},
        "settings": {"layer_height_mm": 0.2}}).status_code == 200
    photo = client.post(f"/api/v1/node/jobs/{job['id']}/report/photos", headers=near.headers,
                        data={"photo": (io.BytesIO(png()), "part.png", "image/png")}, content_type="multipart/form-data")
    assert photo.status_code == 201, photo.get_json()
    assert citizen.post(f"/api/v1/orders/{o['id']}/confirm", json={"fit_for_purpose": "yes"}).status_code == 200
    for url in (photo.get_json()["url"], photo.get_json()["thumbnail_url"], f"/api/v1/designs/{design['id']}/evidence",
                f"{lab}/reputation", "/api/v1/ledger/events?after=0&limit=5", "/api/v1/ledger/rules"):
        assert client.get(url).status_code == 200, url
    assert citizen.get(f"/api/v1/orders/{o['id']}/value").status_code == 200
    assert designer.get("/api/v1/accounts/me/earnings").get_json()["items"]
    assert client.put("/api/v1/accounts/me/value-choice", json={"redirect_to": "fund"},
                      headers=designer.headers).status_code == 200
    assert designer.get("/api/v1/accounts/me/value-choice").get_json()["redirect_to"] == "fund"
    second = order(citizen, design).get_json()
    assert near.post(near.jobs("offered")[0]["id"], "decline", reason="out of PLA").status_code == 200
    assert citizen.post(f"/api/v1/orders/{second['id']}/cancel").status_code == 200
    order(citizen, design)
    failing = near.jobs("offered")[0]
    assert near.post(failing["id"], "accept").status_code == 200
    assert near.post(failing["id"], "fail", reason="warped").status_code == 200
    # designs by the open standards: a file under its own name, an OKH manifest imported
    named = design["versions"][-1]["files"][0]
    assert client.get(f"/api/v1/designs/{design['id']}/files/{named['id']}/{named['filename']}").status_code == 200
    imported = designer.post("/api/v1/designs/import", content_type="multipart/form-data", data={
        "manifest": (io.BytesIO(MANIFEST.encode()), "okh.toml"), "files": [(io.BytesIO(cube_stl()), "lid.stl")]})
    assert imported.status_code == 201, imported.get_json()
    seen = {(method.lower(), ARG.sub(r"{\1}", rule)) for method, rule, status in app.extensions[SEEN] if status < 300}
    assert api_operations(app) - seen == set()


def test_the_api_page_uses_the_hubs_own_swagger_ui_or_links_the_document(client, monkeypatch):
    from server.web import apidocs

    monkeypatch.setattr(apidocs, "swagger_ui_installed", lambda: True)
    page = client.get("/api/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    html = page.get_data(as_text=True)
    assert '/static/vendor/swagger-ui/swagger-ui-bundle.js' in html and 'data-spec-url="/api/v1/openapi.json"' in html
    assert "<script>" not in html  # no inline script: the policy would block it
    monkeypatch.setattr(apidocs, "swagger_ui_installed", lambda: False)
    html = client.get("/api/docs").get_data(as_text=True)
    assert "swagger-ui-bundle.js" not in html and 'href="/api/v1/openapi.json"' in html
