"""``cosmoloc ledger verify`` and ``export``: clean on an untouched hub, exit 1 on a tampered row, from the hub's
database, from a hub over HTTP and from an export file; exit 2 when the chain cannot be read."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from werkzeug.serving import make_server

from server.cli import main
from tests.server.test_designs import cube_stl, publish


@pytest.fixture
def published(client, make_user) -> None:
    alice, bob = make_user("Alice"), make_user("Bob")
    first = publish(alice, [("cube.stl", cube_stl())], title="Kettle lid").get_json()
    publish(bob, [("cube.stl", cube_stl(25))], title="Larger lid", derived_from=str(first["id"]))
    publish(alice, [("cube.stl", cube_stl(30))], title="Handle")


def _run(database_url: str, tmp_path: Path, *args: str) -> Any:
    env = {"COSMOLOC_DATABASE_URL": database_url, "COSMOLOC_DATA_DIR": str(tmp_path / "cli-data")}
    return CliRunner().invoke(main, ["ledger", *args], env=env, catch_exceptions=False)


def _sql(database_url: str, statement: str) -> None:
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text(statement))
    engine.dispose()


def test_verify_is_clean_on_an_untouched_hub_and_finds_an_edited_row(published, database_url, tmp_path) -> None:
    clean = _run(database_url, tmp_path, "verify")
    assert clean.exit_code == 0, clean.output
    assert "4 events" in clean.output and "intact" in clean.output
    _sql(database_url, "UPDATE ledger_events SET provider = '{\"kind\": \"account\", \"id\": 99, \"name\": \"Mallory\"}' "
                       "WHERE seq = 2")
    tampered = _run(database_url, tmp_path, "verify")
    assert tampered.exit_code == 1
    assert "event 2: hash_mismatch" in tampered.output and "1 problem" in tampered.output


def test_verify_finds_a_removed_row(published, database_url, tmp_path) -> None:
    _sql(database_url, "DELETE FROM ledger_events WHERE seq = 3")
    result = _run(database_url, tmp_path, "verify")
    assert result.exit_code == 1 and "seq_gap" in result.output and "prev_mismatch" in result.output


def test_export_then_verify_the_file(published, database_url, tmp_path) -> None:
    out = tmp_path / "chain.json"
    assert _run(database_url, tmp_path, "export", "-o", str(out)).exit_code == 0
    doc = json.loads(out.read_text())
    assert len(doc["items"]) == 4 and doc["head"] == doc["items"][-1]["hash"]
    assert _run(database_url, tmp_path, "verify", "--export", str(out)).exit_code == 0
    doc["items"] = doc["items"][:-1]  # cut off the end: the stated head no longer matches
    out.write_text(json.dumps(doc))
    cut = _run(database_url, tmp_path, "verify", "--export", str(out))
    assert cut.exit_code == 1 and "head_mismatch" in cut.output


@pytest.fixture
def served(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_verify_a_hub_over_http(published, served, database_url, tmp_path, monkeypatch) -> None:
    from server.ledger import sources

    monkeypatch.setattr(sources, "PAGE", 3)  # more than one page
    result = _run(database_url, tmp_path, "verify", "--hub", served)
    assert result.exit_code == 0, result.output
    assert "4 events" in result.output
    _sql(database_url, "UPDATE ledger_events SET detail = '{\"title\": \"Kettle lid (edited)\"}' WHERE seq = 1")
    assert _run(database_url, tmp_path, "verify", "--hub", served).exit_code == 1


def test_an_unreadable_source_is_exit_2(tmp_path) -> None:
    database_url = f"sqlite:///{tmp_path / 'none.sqlite3'}"
    missing = _run(database_url, tmp_path, "verify", "--export", str(tmp_path / "nothing.json"))
    assert missing.exit_code == 2 and "cannot read" in missing.output
    assert _run(database_url, tmp_path, "verify", "--hub", "ftp://example.org").exit_code == 2
    assert _run(database_url, tmp_path, "verify", "--hub", "http://127.0.0.1:9", "--export", "x").exit_code == 2


def test_export_as_valueflows_json_ld(published, database_url, tmp_path) -> None:
    jsonld = pytest.importorskip("pyld.jsonld", reason="pyld (a test dependency) is not installed")
    out = tmp_path / "vf.jsonld"
    result = _run(database_url, tmp_path, "export", "--format", "valueflows", "--base-url", "https://hub.example.org",
                  "-o", str(out))
    assert result.exit_code == 0, result.output
    expanded = jsonld.expand(json.loads(out.read_text()))
    actions = {a["@id"] for n in expanded for a in n.get("https://w3id.org/valueflows/ont/vf#action", [])}
    assert actions == {"https://w3id.org/valueflows/ont/vf#produce", "https://w3id.org/valueflows/ont/vf#cite"}
    assert "https://hub.example.org/designs/1" in {n["@id"] for n in expanded}


def test_verify_an_export_needs_only_the_plain_package(published, database_url, tmp_path) -> None:
    """Anyone can check the books: `ledger verify --export` runs with the hub's libraries impossible to import."""
    from tests.test_packaging import _cosmoloc_without_hub

    out = tmp_path / "chain.json"
    assert _run(database_url, tmp_path, "export", "-o", str(out)).exit_code == 0
    clean = _cosmoloc_without_hub("ledger", "verify", "--export", str(out))
    assert clean.returncode == 0, clean.stderr[-2000:]
    assert "4 events" in clean.stdout and "intact" in clean.stdout
    doc = json.loads(out.read_text())
    doc["items"][1]["detail"]["title"] = "Larger lid, edited"
    out.write_text(json.dumps(doc))
    edited = _cosmoloc_without_hub("ledger", "verify", "--export", str(out))
    assert edited.returncode == 1 and "event 2: hash_mismatch" in edited.stdout
