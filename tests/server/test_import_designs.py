"""OKH-LOSH import: ``cosmoloc import-designs`` and ``POST /api/v1/designs/import`` (SQLite and PostgreSQL)."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from server.accounts.models import Account
from server.db import Database
from server.designs import importing
from server.designs.models import Design
from server.storage import BlobStore
from tests.conftest import REPO
from tests.server import okh_projects

BASE = "https://hub.example.org"


@pytest.fixture
def db(database_url: str) -> Any:
    database = Database(database_url)
    yield database
    database.dispose()


def _owner(db: Database) -> Account:
    with db.session() as session:
        account = Account(email="importer@example.org", name="Importer", password_hash="x")
        session.add(account)
        session.flush()
        return account


def run_import(db: Database, store: BlobStore, *paths: Path) -> importing.Summary:
    owner = _owner(db)
    with db.session() as session:
        account = session.get(Account, owner.id)
        return importing.import_manifests(session, store, account, importing.find_manifests(paths), BASE,
                                          after_each=session.commit)


def designs(db: Database) -> dict[str, Design]:
    from sqlalchemy.orm import selectinload

    with db.session() as session:
        rows = session.scalars(select(Design).options(selectinload(Design.versions), selectinload(Design.tags)))
        out = {d.title: d for d in rows}
        for d in out.values():
            _ = [f.filename for v in d.versions for f in v.files]
        return out


def test_real_projects_import_with_licence_lineage_and_files(db: Database, tmp_path: Path) -> None:
    root = okh_projects.every_project(tmp_path / "projects")
    summary = run_import(db, BlobStore(tmp_path / "files"), root)
    imported = {i.design.title: i for i in summary.imported}
    assert set(imported) == {"OpenFlexure Microscope", "OpenFlexure Microscope, low-profile feet", "ATLeS enclosure",
                             "LOSH Dummy MOSH-A"}
    skipped = {s.manifest.split("projects/")[-1]: s for s in summary.skipped}
    assert {k: s.code for k, s in skipped.items()} == {
        "template/okh.toml": "licence_unknown",                  # 'the-SPDX-ID'
        "organiser/okh.toml": "licence_non_commercial",          # CC-BY-NC-SA-4.0 is refused, and said why
        "losh/3DParts/ClampRing/okh-ClampRing.toml": "no_license"}
    assert "forbids commercial use" in skipped["organiser/okh.toml"].reason

    made = designs(db)
    ofm = made["OpenFlexure Microscope"]
    assert ofm.license_id == "CERN-OHL-1.2" and sorted(t.tag for t in ofm.tags) == ["3d-printing", "laboratory",
                                                                                      "microscope"]
    assert ofm.description.startswith("A 3D printed microscope with a precise mechanical stage")
    assert "Licensor: Richard Bowman." in ofm.description
    assert "Imported from https://gitlab.com/openflexure/openflexure-microscope (version 5.20)." in ofm.description
    assert [f.filename for f in ofm.versions[0].files] == ["feet.stl", "small_gear.stl", "sample_clips.stl"]
    notes = "\n".join(imported["OpenFlexure Microscope"].notes)
    assert "openscad/small_gear.scad: no such file" in notes
    assert "https://build.openflexure.org/sample_clips.stl: a remote file, not fetched" in notes
    assert "../../outside/optics.stl: outside the manifest's folder" in notes
    # the fork was listed first, yet imported after its parent, whose design it now derives from
    assert made["OpenFlexure Microscope, low-profile feet"].derived_from_id == ofm.id
    atles = made["ATLeS enclosure"]
    assert atles.license_id == "MIT"
    assert [(f.filename, f.kind) for f in atles.versions[0].files] == [
        ("side1.dxf", "drawing"), ("top.dxf", "drawing"), ("piCameraEnclosure.stl", "mesh")]
    losh = made["LOSH Dummy MOSH-A"]
    assert losh.license_id == "CERN-OHL-S-2.0" and [f.filename for f in losh.versions[0].files] == ["ClampRing.stl"]
    assert any("okhv is '2.0'" in n for n in imported["LOSH Dummy MOSH-A"].notes)


def test_importing_again_adds_nothing(db: Database, tmp_path: Path) -> None:
    root = okh_projects.atles(tmp_path / "atles")
    store = BlobStore(tmp_path / "files")
    first = run_import(db, store, root)
    assert len(first.imported) == 1
    owner_id = first.imported[0].design.owner_id
    with db.session() as session:
        account = session.get(Account, owner_id)
        second = importing.import_manifests(session, store, account, [root / "okh.toml"], BASE)
    assert second.imported == [] and [s.code for s in second.skipped] == ["already_imported"]
    assert len(designs(db)) == 1


def test_paths_stay_inside_the_manifests_folder(db: Database, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.stl"
    secret.write_bytes(okh_projects.corpus("meshes/ofm_feet.stl")[0].read_bytes())
    root = tmp_path / "project"
    root.mkdir()
    (root / "link.stl").symlink_to(secret)
    (root / "ok.stl").write_bytes(secret.read_bytes())
    (root / "okh.toml").write_text('''okhv = "OKH-LOSHv1.0"
name = "Escapes"
repo = "https://example.org/escapes"
version = "1"
license = "MIT"
licensor = "x"
function = "Tries to leave its folder."
[[part]]
name = "p"
export = ["link.stl", "../outside/secret.stl", "/etc/passwd", "ok.stl", "sub/../../outside/secret.stl"]
''')
    summary = run_import(db, BlobStore(tmp_path / "files"), root)
    (item,) = summary.imported
    assert item.files == ["ok.stl"]
    notes = "\n".join(item.notes)
    assert "link.stl: leads outside the manifest's folder" in notes
    assert "../outside/secret.stl: outside the manifest's folder" in notes
    assert "/etc/passwd: no such file beside the manifest" in notes  # read as repo-relative etc/passwd
    assert "sub/../../outside/secret.stl: outside" in notes


def test_bounds_on_manifests_and_files(db: Database, tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.mkdir()
    (big / "okh.toml").write_text('name = "x"\nlicense = "MIT"\nfunction = "' + "a" * 300_000 + '"\n')
    many = tmp_path / "many"
    many.mkdir()
    names = [f"p{i}.stl" for i in range(importing.service.MAX_FILES + 1)]
    for name in names:
        (many / name).write_bytes(b"solid x\nendsolid x\n")
    (many / "okh.toml").write_text('name = "Many"\nlicense = "MIT"\nexport = [' + ", ".join(f'"{n}"' for n in names)
                                    + ']\n')
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "okh.toml").write_text('name = "x\nlicense = ')
    summary = run_import(db, BlobStore(tmp_path / "files"), big, many, broken)
    assert sorted(s.code for s in summary.skipped) == ["manifest_too_large", "not_toml", "too_many_files"]
    assert summary.imported == [] and designs(db) == {}
    with pytest.raises(importing.ImportFileError, match="no such file"):
        importing.find_manifests([tmp_path / "nowhere"])


# ---------------------------------------------------------------- the API


def _zip(root: Path, extra: dict[str, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(root).as_posix())
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return out.getvalue()


def test_api_imports_a_zip_of_projects(client, make_user, tmp_path: Path) -> None:
    user = make_user("importer")
    root = tmp_path / "projects"
    okh_projects.openflexure(root / "openflexure")
    okh_projects.low_feet(root / "low-feet")
    okh_projects.non_commercial(root / "organiser")
    r = user.post("/api/v1/designs/import", data={"archive": (io.BytesIO(_zip(root)), "projects.zip")},
                  content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert sorted(i["manifest"] for i in body["imported"]) == ["low-feet/okh.toml", "openflexure/okh.toml"]
    assert body["skipped"] == [{"manifest": "organiser/okh.toml", "code": "licence_non_commercial",
                                "reason": body["skipped"][0]["reason"]}]
    by_title = {i["title"]: i for i in body["imported"]}
    ofm = client.get(f"/api/v1/designs/{by_title['OpenFlexure Microscope']['design_id']}").get_json()
    assert ofm["owner"]["name"] == "importer" and ofm["license"]["id"] == "CERN-OHL-1.2"
    files = ofm["versions"][0]["files"]
    assert [f["filename"] for f in files] == ["feet.stl", "small_gear.stl", "sample_clips.stl"]
    # validated as any upload: the real sample clips are not watertight, and keep their report
    assert {f["filename"]: f["validation"]["status"] for f in files} == {
        "feet.stl": "warnings", "small_gear.stl": "passed", "sample_clips.stl": "failed"}
    fork = client.get(f"/api/v1/designs/{by_title['OpenFlexure Microscope, low-profile feet']['design_id']}")
    assert fork.get_json()["derived_from"] == ofm["id"]


def test_api_manifest_and_files_one_by_one(client, make_user, tmp_path: Path) -> None:
    user = make_user("importer")
    root = okh_projects.atles(tmp_path / "atles")
    def send() -> Any:
        files = [(io.BytesIO((root / rel).read_bytes()), rel) for rel in
                 ("laser/side1.dxf", "laser/top.dxf", "printed/piCameraEnclosure.stl")]
        return user.post("/api/v1/designs/import", content_type="multipart/form-data",
                         headers={"Idempotency-Key": "atles-1"},
                         data={"manifest": (io.BytesIO((root / "okh.toml").read_bytes()), "okh.toml"), "files": files})

    r = send()
    assert r.status_code == 201, r.get_json()
    (item,) = r.get_json()["imported"]
    assert item["files"] == ["laser/side1.dxf", "laser/top.dxf", "printed/piCameraEnclosure.stl"]
    again = send()  # the same key: the first answer, nothing new
    assert again.status_code == 201 and again.get_json() == r.get_json()
    assert client.get("/api/v1/designs").get_json()["total"] == 1


@pytest.mark.parametrize("member", ["../evil.stl", "/abs/evil.stl", "a/../../evil.stl", "C:/evil.stl"])
def test_api_refuses_archives_that_leave_their_folder(client, make_user, tmp_path: Path, member: str) -> None:
    user = make_user("importer")
    root = okh_projects.atles(tmp_path / "atles")
    r = user.post("/api/v1/designs/import", content_type="multipart/form-data",
                  data={"archive": (io.BytesIO(_zip(root, {member: b"solid x\nendsolid x\n"})), "a.zip")})
    assert r.status_code == 422 and r.get_json()["code"] == "unsafe_path"
    assert not (tmp_path / "evil.stl").exists()
    assert client.get("/api/v1/designs").get_json()["total"] == 0  # nothing half-written


def test_api_answers_what_cannot_be_imported(client, make_user, tmp_path: Path) -> None:
    user = make_user("importer")
    root = okh_projects.non_commercial(tmp_path / "organiser")
    r = user.post("/api/v1/designs/import", content_type="multipart/form-data",
                  data={"archive": (io.BytesIO(_zip(root)), "a.zip")})
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    assert r.get_json()["code"] == "nothing_imported"
    assert r.get_json()["errors"]["okh.toml"][0] == "licence_non_commercial"
    bad = user.post("/api/v1/designs/import", content_type="multipart/form-data",
                    data={"archive": (io.BytesIO(b"not a zip at all"), "a.zip")})
    assert bad.status_code == 422 and bad.get_json()["code"] == "bad_archive"
    (tmp_path / "empty").mkdir()
    empty = user.post("/api/v1/designs/import", content_type="multipart/form-data",
                      data={"archive": (io.BytesIO(_zip(tmp_path / "empty", {"x/readme.md": b"hi"})), "a.zip")})
    assert empty.status_code == 422 and empty.get_json()["code"] == "no_manifest"
    none = user.post("/api/v1/designs/import", content_type="multipart/form-data", data={})
    assert none.status_code == 422 and none.get_json()["code"] == "no_files"
    anonymous = client.post("/api/v1/designs/import", content_type="multipart/form-data",
                            data={"archive": (io.BytesIO(_zip(root)), "a.zip")})
    assert anonymous.status_code == 401


def test_api_bounds_the_unpacked_size(client, make_user, tmp_path: Path) -> None:
    user = make_user("importer")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("okh.toml", okh_projects.NON_COMMERCIAL.replace("CC-BY-NC-SA-4.0", "MIT"))
        archive.writestr("tray.stl", b"\0" * (6 * 1024 * 1024))  # past the tests' 5 MB uploads, a few kB zipped
    r = user.post("/api/v1/designs/import", content_type="multipart/form-data",
                  data={"archive": (io.BytesIO(out.getvalue()), "bomb.zip")})
    assert r.status_code == 422 and r.get_json()["code"] == "too_large"


# ---------------------------------------------------------------- the command


def test_cli_imports_a_folder_with_a_summary_and_exit_codes(tmp_path: Path) -> None:
    root = okh_projects.every_project(tmp_path / "projects")
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSMOLOC_")}
    env["COSMOLOC_DATA_DIR"] = str(tmp_path / "data")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "server.cli", "import-designs", *args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=600)

    from server.config import Settings
    from server.hub import Hub
    from server.schema import upgrade

    settings = Settings.from_env(data_dir=tmp_path / "data")
    hub = Hub(settings)
    upgrade(hub.db.engine)
    owner = _owner(hub.db)
    hub.close()

    assert cli(str(root), "--owner", "nobody@example.org").returncode == 2
    missing = cli(str(tmp_path / "nowhere"), "--owner", owner.email)
    assert missing.returncode == 2 and "no such file or folder" in missing.stderr and "Traceback" not in missing.stderr

    done = cli(str(root), "--owner", owner.email)
    assert done.returncode == 1, done.stderr  # some manifests were skipped: a finding
    assert "imported 4 designs, skipped 3 manifests" in done.stdout
    assert "skipped " in done.stdout and "[licence_non_commercial]" in done.stdout
    assert "Importing designs" in done.stderr and "Checking files" in done.stderr
    assert "small_gear.stl: passed" in done.stdout and "sample_clips.stl: failed" in done.stdout

    atles_only = cli(str(tmp_path / "projects" / "atles" / "okh.toml"), "--owner", owner.email)
    assert atles_only.returncode == 1 and "[already_imported]" in atles_only.stdout
