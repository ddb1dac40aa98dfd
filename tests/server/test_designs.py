"""Publishing, versioning, browsing and downloading designs through the API (SQLite and PostgreSQL)."""
from __future__ import annotations

import hashlib
import io
import tomllib
import urllib.parse

import ezdxf
import trimesh


def cube_stl(size: float = 20.0) -> bytes:
    return bytes(trimesh.creation.box(extents=(size, size, size)).export(file_type="stl"))


def open_box_stl() -> bytes:
    box = trimesh.creation.box(extents=(20, 20, 20))
    box.update_faces([i for i in range(len(box.faces)) if i != 0])
    return bytes(box.export(file_type="stl"))


def plate_dxf() -> bytes:
    doc = ezdxf.new("R2010", units=4)
    doc.modelspace().add_lwpolyline([(0, 0), (100, 0), (100, 50), (0, 50)], close=True)
    out = io.StringIO()
    doc.write(out)
    return out.getvalue().encode()


def publish(user, files, **form):
    data = {"title": "Bracket", "license": "CERN-OHL-S-2.0", "tags": "Bracket, printable", "unit": "mm", **form}
    data["files"] = [(io.BytesIO(content), name) for name, content in files]
    return user.post("/api/v1/designs", data=data, content_type="multipart/form-data")


def test_publish_validates_and_serves_files(client, make_user):
    designer = make_user("designer")
    r = publish(designer, [("cube.stl", cube_stl()), ("plate.dxf", plate_dxf()), ("README.md", b"# notes")])
    assert r.status_code == 201, r.get_json()
    design = client.get(f"/api/v1/designs/{r.get_json()['id']}").get_json()
    assert design["title"] == "Bracket" and design["tags"] == ["bracket", "printable"]
    assert design["license"]["id"] == "CERN-OHL-S-2.0" and design["license"]["share_alike"] is True
    assert design["owner"]["name"] == "designer" and design["latest_version"] == 1
    cube, plate, readme = design["versions"][0]["files"]
    assert cube["kind"] == "mesh" and cube["format"] == "stl" and cube["validation"]["status"] == "passed"
    assert cube["validation"]["metrics"]["triangles"] == 12
    assert [round(v, 3) for v in cube["requirements"]["bbox_mm"]] == [20.0, 20.0, 20.0]
    assert abs(cube["requirements"]["volume_mm3"] - 8000) < 1e-3
    assert "fdm" in cube["requirements"]["processes"]
    assert plate["kind"] == "drawing" and plate["validation"]["status"] == "passed"
    assert [round(v, 3) for v in plate["requirements"]["sheet_mm"]] == [100.0, 50.0]
    assert "laser_cutting" in plate["requirements"]["processes"]
    assert readme["kind"] == "other" and readme["requirements"]["processes"] == []
    # downloads: the bytes as uploaded, ETag = sha256, thumbnail PNG, canonical file
    content = client.get(f"/api/v1/files/{cube['id']}/content")
    assert content.data == cube_stl()
    assert content.headers["ETag"].strip('"') == hashlib.sha256(cube_stl()).hexdigest()
    again = client.get(f"/api/v1/files/{cube['id']}/content", headers={"If-None-Match": content.headers["ETag"]})
    assert again.status_code == 304
    thumb = client.get(cube["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.data.startswith(b"\x89PNG")
    assert client.get(plate["thumbnail_url"]).data.startswith(b"\x89PNG")
    canonical = client.get(f"/api/v1/files/{cube['id']}/manufacturing")
    assert canonical.status_code == 200 and len(canonical.data) == 84 + 50 * 12


def test_failed_file_keeps_its_report(client, make_user):
    designer = make_user("designer")
    r = publish(designer, [("open.stl", open_box_stl())])
    assert r.status_code == 201
    f = client.get(f"/api/v1/designs/{r.get_json()['id']}").get_json()["versions"][0]["files"][0]
    assert f["validation"]["status"] == "failed"
    assert "not_watertight" in [i["code"] for i in f["validation"]["issues"]]
    assert f["requirements"].get("processes") == []
    assert client.get(f"/api/v1/files/{f['id']}/manufacturing").status_code == 404


def test_refused_licences_say_why(make_user):
    designer = make_user("designer")
    for licence, code in (("CC-BY-NC-4.0", "licence_non_commercial"), ("CC-BY-ND-4.0", "licence_no_derivatives"),
                          ("Proprietary", "licence_not_open"), ("WTFPL-9", "licence_unknown")):
        r = publish(designer, [("cube.stl", cube_stl())], license=licence)
        assert r.status_code == 422 and r.get_json()["code"] == code, (licence, r.get_json())
        assert r.get_json()["detail"]


def test_bad_publish_input_stores_nothing(app, client, make_user):
    from sqlalchemy import func, select

    from server.designs.models import Blob, Design

    designer = make_user("designer")
    assert publish(designer, []).status_code == 422
    assert publish(designer, [("cube.stl", cube_stl())], title="").status_code == 422
    assert publish(designer, [("cube.stl", cube_stl())], unit="furlong").get_json()["code"] == "invalid_unit"
    assert publish(designer, [("cube.stl", cube_stl())], derived_from="999999").status_code == 422
    r = publish(designer, [("cube.stl", cube_stl())], license="CC-BY-NC-4.0")
    assert r.status_code == 422
    assert client.post("/api/v1/designs", data={"title": "x"}).status_code == 401
    big = b"solid x\n" + b" " * (6 * 1024 * 1024)
    r = publish(designer, [("big.stl", big)])
    assert r.status_code == 413 and r.get_json()["code"] == "too_large"
    with app.extensions["cosmoloc.db"].session() as s:
        assert s.scalar(select(func.count()).select_from(Design)) == 0
        assert s.scalar(select(func.count()).select_from(Blob)) == 0
    files_dir = app.config["COSMOLOC"].files_dir
    assert not [p for p in files_dir.rglob("*") if p.is_file()]


def test_files_are_stored_once(app, make_user):
    designer = make_user("designer")
    publish(designer, [("a.stl", cube_stl())])
    publish(designer, [("b.stl", cube_stl())], title="Another")
    files_dir = app.config["COSMOLOC"].files_dir
    uploads = [p for p in files_dir.rglob("*") if p.is_file() and p.name == hashlib.sha256(cube_stl()).hexdigest()]
    assert len(uploads) == 1


def test_versions_owner_only(client, make_user):
    designer, other = make_user("designer"), make_user("other")
    design_id = publish(designer, [("cube.stl", cube_stl())]).get_json()["id"]
    files = [(io.BytesIO(cube_stl(30)), "cube30.stl")]
    r = other.post(f"/api/v1/designs/{design_id}/versions", data={"files": files}, content_type="multipart/form-data")
    assert r.status_code == 403 and r.get_json()["code"] == "not_owner"
    files = [(io.BytesIO(cube_stl(30)), "cube30.stl")]
    r = designer.post(f"/api/v1/designs/{design_id}/versions", data={"files": files, "changelog": "bigger"},
                      content_type="multipart/form-data")
    assert r.status_code == 201
    body = r.get_json()
    assert body["latest_version"] == 2 and body["versions"][1]["changelog"] == "bigger"
    assert client.post(f"/api/v1/designs/{design_id}/versions").status_code == 401
    assert designer.post("/api/v1/designs/424242/versions", data={}).status_code == 404


def test_unit_scales_the_part(client, make_user):
    designer = make_user("designer")
    design = publish(designer, [("cube.stl", cube_stl(2.0))], unit="cm").get_json()
    f = client.get(f"/api/v1/designs/{design['id']}").get_json()["versions"][0]["files"][0]
    assert [round(v, 3) for v in f["requirements"]["bbox_mm"]] == [20.0, 20.0, 20.0]


def test_browse_search_and_paginate(client, make_user):
    designer = make_user("designer")
    publish(designer, [("cube.stl", cube_stl())], title="Hinge", tags="hinge,door", license="CC-BY-4.0")
    publish(designer, [("plate.dxf", plate_dxf())], title="Sign plate", description="a laser cut door sign", tags="sign")
    publish(designer, [("cube.stl", cube_stl(10))], title="Cube", tags="calibration", license="CC0-1.0")

    def titles(**params):
        r = client.get("/api/v1/designs", query_string=params)
        assert r.status_code == 200
        return [d["title"] for d in r.get_json()["items"]]

    assert titles(q="door") == ["Sign plate", "Hinge"]
    assert titles(tag="hinge") == ["Hinge"]
    assert titles(process="laser_cutting") == ["Sign plate"]
    assert set(titles(process="fdm")) == {"Hinge", "Cube"}
    assert titles(license="cc0-1.0") == ["Cube"]
    page = client.get("/api/v1/designs", query_string={"per_page": 2, "page": 2}).get_json()
    assert page["total"] == 3 and page["page"] == 2 and len(page["items"]) == 1
    assert client.get("/api/v1/designs?per_page=1000").status_code == 422
    assert client.get("/api/v1/designs?process=welding").status_code == 422


def test_remix_lineage_both_ways(client, make_user):
    designer, remixer = make_user("designer"), make_user("remixer")
    parent = publish(designer, [("cube.stl", cube_stl())], title="Original").get_json()
    child = publish(remixer, [("cube.stl", cube_stl(25))], title="Remix", derived_from=str(parent["id"])).get_json()
    grandchild = publish(designer, [("cube.stl", cube_stl(26))], title="Remix of remix",
                         derived_from=str(child["id"])).get_json()
    assert child["derived_from"] == parent["id"]
    parent_now = client.get(f"/api/v1/designs/{parent['id']}").get_json()
    assert [d["title"] for d in parent_now["lineage"]["derivatives"]] == ["Remix"]
    assert [d["title"] for d in grandchild["lineage"]["ancestors"]] == ["Remix", "Original"]


def test_okh_manifest(client, make_user):
    from tests.design_commons.test_okh import schema_errors

    designer = make_user("designer")
    parent = publish(designer, [("cube.stl", cube_stl())], title="Base").get_json()
    design = publish(designer, [("cube.stl", cube_stl()), ("plate.dxf", plate_dxf()), ("cube.scad", b"cube(20);")],
                     title="Kit", description="A kit of parts", derived_from=str(parent["id"])).get_json()
    r = client.get(f"/api/v1/designs/{design['id']}/okh")
    assert r.status_code == 200 and r.mimetype == "application/toml"
    manifest = tomllib.loads(r.get_data(as_text=True))
    assert schema_errors(manifest) == []
    assert manifest["okhv"] == "OKH-LOSHv1.0" and manifest["name"] == "Kit"
    assert manifest["license"] == "CERN-OHL-S-2.0" and manifest["licensor"] == {"name": "designer"}
    assert manifest["version"] == "1" and manifest["function"] == "A kit of parts"
    assert manifest["repo"].endswith(f"/designs/{design['id']}")
    assert manifest["fork-of"] == manifest["derivative-of"]
    assert manifest["fork-of"].endswith(f"/designs/{parent['id']}")
    parts = {p["name"]: p for p in manifest["part"]}
    assert set(parts) == {"cube.stl", "plate.dxf"}
    assert set(parts["cube.stl"]["tsdc"]) == {"3DP", "CNC"} and "3DP" not in parts["plate.dxf"]["tsdc"]
    cube, plate, scad = design["versions"][0]["files"]
    assert parts["cube.stl"]["export"][0].endswith(f"/api/v1/designs/{design['id']}/files/{cube['id']}/cube.stl")
    assert parts["cube.stl"]["source"][0].endswith(f"/files/{scad['id']}/cube.scad")
    # the URL ending in the file's name serves what the old content URL serves, which keeps working
    for row in (cube, plate, scad):
        by_name = client.get(f"/api/v1/designs/{design['id']}/files/{row['id']}/{row['filename']}")
        assert by_name.status_code == 200 and hashlib.sha256(by_name.data).hexdigest() == row["sha256"]
        assert by_name.headers["ETag"].strip('"') == row["sha256"]
        assert client.get(f"/api/v1/files/{row['id']}/content").data == by_name.data
    export_path = urllib.parse.urlsplit(parts["cube.stl"]["export"][0]).path
    assert client.get(export_path).data == cube_stl()
    assert client.get(f"/api/v1/designs/{design['id']}/files/{cube['id']}/plate.dxf").status_code == 404
    wrong_design = client.get(f"/api/v1/designs/{parent['id']}/files/{cube['id']}/cube.stl")
    assert wrong_design.status_code == 404
    assert wrong_design.mimetype == "application/problem+json"


def test_validate_endpoint_stores_nothing(app, client):
    from sqlalchemy import func, select

    from server.designs.models import Blob

    r = client.post("/api/v1/validate", data={"file": (io.BytesIO(cube_stl()), "cube.stl")},
                    content_type="multipart/form-data")
    assert r.status_code == 200
    body = r.get_json()
    assert body["status"] == "passed" and body["metrics"]["triangles"] == 12
    r = client.post("/api/v1/validate", data={"file": (io.BytesIO(b"\x00garbage" * 20), "junk.stl")},
                    content_type="multipart/form-data")
    assert r.status_code == 200 and r.get_json()["status"] == "failed"
    assert "parse_error" in [i["code"] for i in r.get_json()["issues"]]
    assert client.post("/api/v1/validate", data={}).status_code == 422
    with app.extensions["cosmoloc.db"].session() as s:
        assert s.scalar(select(func.count()).select_from(Blob)) == 0


def test_unknown_things_are_404_problems(client):
    for url in ("/api/v1/designs/99999", "/api/v1/files/99999", "/api/v1/files/99999/content", "/api/v1/nowhere"):
        r = client.get(url)
        assert r.status_code == 404 and r.mimetype == "application/problem+json", url


def test_idempotent_publish(client, make_user):
    designer = make_user("designer")
    headers = {"Idempotency-Key": "publish-1"}
    data = lambda: {"title": "Once", "license": "MIT", "files": [(io.BytesIO(cube_stl()), "c.stl")]}  # noqa: E731
    a = designer.post("/api/v1/designs", data=data(), content_type="multipart/form-data", headers=headers)
    b = designer.post("/api/v1/designs", data=data(), content_type="multipart/form-data", headers=headers)
    assert a.status_code == b.status_code == 201 and a.get_json()["id"] == b.get_json()["id"]
    assert client.get("/api/v1/designs").get_json()["total"] == 1
