"""cosmoloc backup / restore: a restored hub answers as the original did (SQLite and PostgreSQL)."""
from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from server.app import create_app
from server.cli import main
from server.config import Settings
from tests.conftest import ROOMY_LIMITS, fresh_postgres_url
from tests.server.orderflow import BARCELONA, Lab, order, publish


def run(args: list[str], **env: str | None) -> Any:
    return CliRunner().invoke(main, args, env={"COSMOLOC_SECRET_KEY": None, **env}, catch_exceptions=False)


def answers(client: Any, user: Any, design_id: int, lab_id: int, order_id: int) -> dict[str, Any]:
    """What a user sees of the hub: designs, files' bytes, a lab, an order, and that their token still works."""
    design = client.get(f"/api/v1/designs/{design_id}").get_json()
    files = {f["id"]: client.get(f"/api/v1/files/{f['id']}/content").data
             for v in design["versions"] for f in v["files"]}
    return {"designs": client.get("/api/v1/designs").get_json(), "design": design, "files": files,
            "lab": client.get(f"/api/v1/fablabs/{lab_id}").get_json(),
            "order": user.get(f"/api/v1/orders/{order_id}").get_json(),
            "okh": client.get(f"/api/v1/designs/{design_id}/okh").data}


@contextlib.contextmanager
def fresh_database(kind: str, tmp: Path) -> Iterator[str | None]:
    """``None``: the embedded default (SQLite in the new data dir); else an empty PostgreSQL database."""
    if kind == "sqlite":
        yield None
    else:
        with fresh_postgres_url("cosmoloc_restore") as url:
            yield url


def test_a_restored_hub_answers_as_before(app: Any, client: Any, make_user: Any, database_url: str,
                                          tmp_path: Path) -> None:
    designer, operator, citizen = make_user("designer"), make_user("operator"), make_user("citizen")
    design = publish(designer)
    lab = Lab(client, operator, "Fab Lab Poblenou", BARCELONA[0], BARCELONA[1])
    made = order(citizen, design).get_json()
    before = answers(client, citizen, design["id"], lab.id, made["id"])
    assert before["files"] and before["order"]["status"] == "offered"
    settings = app.config["COSMOLOC"]
    dest = tmp_path / "backups" / "monday"
    dest.parent.mkdir()
    r = run(["backup", str(dest)], COSMOLOC_DATA_DIR=str(settings.data_dir), COSMOLOC_DATABASE_URL=database_url)
    assert r.exit_code == 0, r.output
    manifest = json.loads((dest / "manifest.json").read_text())
    assert {e["path"].split("/")[0] for e in manifest["entries"]} >= {"files", manifest["database"]["file"]}
    assert run(["restore", "--check", str(dest)]).exit_code == 0

    kind = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    with fresh_database(kind, tmp_path) as new_url:
        fresh = tmp_path / "restored"
        env = {"COSMOLOC_DATA_DIR": str(fresh), "COSMOLOC_DATABASE_URL": new_url}
        r = run(["restore", str(dest)], **env)
        assert r.exit_code == 0, r.output
        restored = create_app(Settings.from_env(data_dir=fresh, database_url=new_url or "", eager_tasks=True,
                                                sweeper_interval_s=0, secret_key="test-secret", limits=ROOMY_LIMITS))
        try:
            again = restored.test_client()
            citizen.client = again  # the same bearer token, on the restored hub
            assert answers(again, citizen, design["id"], lab.id, made["id"]) == before
            assert again.get("/readyz").status_code == 200
            # restoring twice into the same place is refused: it is no longer fresh
            r = run(["restore", str(dest)], **env)
            assert r.exit_code == 2 and ("fresh data dir" in r.output or "not empty" in r.output), r.output
        finally:
            restored.extensions["cosmoloc.hub"].close()


def _small_backup(tmp_path: Path) -> Path:
    """A design published on an embedded-default hub (SQLite in the data dir, migrated), backed up."""
    data = tmp_path / "data"
    app = create_app(Settings.from_env(data_dir=data, eager_tasks=True, sweeper_interval_s=0, secret_key="k",
                                       limits=ROOMY_LIMITS))
    from tests.conftest import ApiUser

    publish(ApiUser(app.test_client(), "designer"))
    app.extensions["cosmoloc.hub"].close()
    dest = tmp_path / "backup"
    r = run(["backup", str(dest)], COSMOLOC_DATA_DIR=str(data), COSMOLOC_DATABASE_URL=None)
    assert r.exit_code == 0, r.output
    return dest


@pytest.fixture
def small_backup(tmp_path: Path) -> Path:
    from server.db import make_engine
    from server.schema import upgrade

    (tmp_path / "data").mkdir(mode=0o700)
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'cosmoloc.sqlite3'}")
    upgrade(engine)
    engine.dispose()
    return _small_backup(tmp_path)


def test_a_tampered_backup_fails_its_check(small_backup: Path, tmp_path: Path) -> None:
    blob = next(p for p in (small_backup / "files").rglob("*") if p.is_file())
    blob.write_bytes(blob.read_bytes() + b"\0")
    r = run(["restore", "--check", str(small_backup)])
    assert r.exit_code == 2 and "fails its check" in r.output and blob.name in r.output
    fresh = tmp_path / "fresh"
    r = run(["restore", str(small_backup)], COSMOLOC_DATA_DIR=str(fresh), COSMOLOC_DATABASE_URL=None)
    assert r.exit_code == 2
    # nothing restored from a backup that fails its check
    assert not (fresh / "cosmoloc.sqlite3").exists() and not any((fresh / "files").rglob("*"))


def test_a_missing_file_or_manifest_is_reported(small_backup: Path, tmp_path: Path) -> None:
    blob = next(p for p in (small_backup / "files").rglob("*") if p.is_file())
    blob.unlink()
    r = run(["restore", "--check", str(small_backup)])
    assert r.exit_code == 2 and "missing" in r.output
    (small_backup / "manifest.json").unlink()
    r = run(["restore", "--check", str(small_backup)])
    assert r.exit_code == 2 and "not a cosmoloc backup" in r.output
    r = run(["restore", "--check", str(tmp_path / "nowhere")])
    assert r.exit_code == 2 and "is not a folder" in r.output


def test_backup_refuses_a_used_destination_and_leaves_nothing_half_written(small_backup: Path, tmp_path: Path) -> None:
    r = run(["backup", str(small_backup)], COSMOLOC_DATA_DIR=str(tmp_path / "data"), COSMOLOC_DATABASE_URL=None)
    assert r.exit_code == 2 and "not an empty folder" in r.output
    r = run(["backup", str(tmp_path / "no" / "such" / "dir")], COSMOLOC_DATA_DIR=str(tmp_path / "data"),
            COSMOLOC_DATABASE_URL=None)
    assert r.exit_code == 2 and "is not a folder" in r.output
    # a SQLite database that is not there: an error, and no partial folder beside the destination
    r = run(["backup", str(tmp_path / "b2")], COSMOLOC_DATA_DIR=str(tmp_path / "empty"), COSMOLOC_DATABASE_URL=None)
    assert r.exit_code == 2 and "does not exist" in r.output
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".b2")) == []


def test_a_postgresql_backup_without_pg_dump_says_what_to_install(tmp_path: Path, monkeypatch: Any) -> None:
    import server.backup as backup

    monkeypatch.setattr(backup.shutil, "which", lambda _name: None)
    settings = Settings.from_env(data_dir=tmp_path / "d", database_url="postgresql+psycopg://postgres@127.0.0.1:1/x",
                                 secret_key="k")
    monkeypatch.setattr(backup, "_revision", lambda _url: "0008")
    with pytest.raises(backup.BackupError, match="pg_dump is not installed"):
        backup.make_backup(settings, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_a_restore_that_fails_half_way_leaves_the_data_dir_as_it_was(small_backup: Path, tmp_path: Path,
                                                                     monkeypatch: Any) -> None:
    import server.backup as backup

    def broken(_src: Path, _target: Path) -> None:
        raise backup.BackupError("disk full")

    monkeypatch.setattr(backup, "_restore_sqlite", broken)
    fresh = tmp_path / "fresh"
    settings = Settings.from_env(data_dir=fresh, secret_key="k")
    with pytest.raises(backup.BackupError, match="disk full"):
        backup.restore_backup(settings, small_backup)
    assert not (fresh / "cosmoloc.sqlite3").exists()
    assert not (fresh / "files").exists() and not [p for p in fresh.iterdir() if p.name.startswith(".files")]
    monkeypatch.undo()
    backup.restore_backup(settings, small_backup)  # and the same restore then succeeds
    assert backup.blob_paths(fresh / "files")
