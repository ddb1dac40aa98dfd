"""``cosmoloc validate``: reports per file, JSON lines, exit codes, keeps going after a bad file."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import trimesh

COSMOLOC = [sys.executable, "-m", "server.cli"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COSMOLOC, "validate", *args], capture_output=True, text=True, timeout=120,
                          cwd=str(Path(__file__).resolve().parents[2]))


def write_cube(path: Path, size: float = 20.0) -> Path:
    path.write_bytes(bytes(trimesh.creation.box(extents=(size, size, size)).export(file_type="stl")))
    return path


def test_good_file_exits_0(tmp_path):
    cube = write_cube(tmp_path / "cube.stl")
    result = run(str(cube))
    assert result.returncode == 0, result.stderr
    assert "PASS" in result.stdout and "cube.stl" in result.stdout


def test_json_lines_and_exit_1_when_one_fails(tmp_path):
    cube = write_cube(tmp_path / "cube.stl")
    bad = tmp_path / "broken.stl"
    bad.write_bytes(b"\x00" * 90)
    result = run("--json", str(bad), str(cube))
    assert result.returncode == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(r["file"]).name for r in lines] == ["broken.stl", "cube.stl"]
    assert lines[0]["status"] == "failed" and lines[1]["status"] == "passed"
    assert lines[1]["metrics"]["triangles"] == 12


def test_missing_file_is_exit_2_and_the_rest_still_runs(tmp_path):
    cube = write_cube(tmp_path / "cube.stl")
    result = run("--json", str(tmp_path / "missing.stl"), str(cube))
    assert result.returncode == 2
    assert "missing.stl" in result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["status"] == "passed"


def test_unit_option(tmp_path):
    cube = write_cube(tmp_path / "cube.stl", 2.0)
    result = run("--json", "--unit", "cm", str(cube))
    assert json.loads(result.stdout)["metrics"]["bbox_mm"] == [20.0, 20.0, 20.0]
    assert run("--unit", "furlong", str(cube)).returncode == 2
    assert run().returncode == 2


def test_the_whole_corpus_through_the_cli() -> None:
    from tests.conftest import corpus_dir

    files = sorted(str(p) for d in ("meshes", "drawings") for p in corpus_dir(d).iterdir())
    result = run("--json", *files)
    assert result.returncode == 1, result.stderr[-2000:]  # some corpus files are broken on purpose
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["file"] for r in reports] == files
    statuses = {r["status"] for r in reports}
    assert statuses <= {"passed", "warnings", "failed"} and {"passed", "failed"} <= statuses
    assert "Traceback" not in result.stderr
