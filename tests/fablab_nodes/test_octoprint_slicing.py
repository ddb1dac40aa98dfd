"""Slicing off the agent's loop: a slow, failing, hanging or withdrawn slice, with a stand-in slicer.

The stand-in (a small Python program configured as the machine's ``slicer``) takes PrusaSlicer's
arguments, notes its pid beside itself and then, as the test asks: waits for a ``release`` file
before writing a short G-code, fails with a message, or hangs. The prints go to the real OctoPrint
of ``conftest.py``.
"""
from __future__ import annotations

import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fablab_nodes.drivers.slicer import SliceRun, SlicingError
from fablab_nodes.ledger import Phase
from fablab_nodes.runner import Runner
from fablab_nodes.state_db import DB_NAME, StateDB
from tests.fablab_nodes.conftest import cube_stl, fast_runner, octoprint_driver, run_until
from tests.fablab_nodes.fake_hub import FakeHub
from tests.fablab_nodes.octoprint_server import OctoPrintServer

pytestmark = pytest.mark.slow

GCODE = """\
; made by the stand-in slicer
G28
G1 Z0.3 F600
G1 X10 Y10 F3000
G1 X20 Y10
G1 X20 Y20
; estimated printing time (normal mode) = 7s
"""

STAND_IN = """\
#!{python}
import os, pathlib, sys, time
args = sys.argv[1:]
out = pathlib.Path(args[args.index("--output") + 1])
here = pathlib.Path(__file__).resolve().parent
(here / "slicer.pid").write_text(str(os.getpid()))
mode = {mode!r}
if mode == "fail":
    print("[error] Objects could not fit on the bed", file=sys.stderr)
    sys.exit(3)
deadline = time.monotonic() + 120
while mode == "hang" or not (here / "release").exists():
    if time.monotonic() > deadline:
        sys.exit(9)
    time.sleep(0.05)
out.write_text({gcode!r})
"""


def stand_in_slicer(folder: Path, mode: str) -> Path:
    """Write the stand-in slicer into ``folder`` (``mode``: ``slow``, ``fail`` or ``hang``); returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "stand-in-slicer"
    path.write_text(STAND_IN.format(python=sys.executable, mode=mode, gcode=GCODE))
    path.chmod(0o755)
    return path


def slicer_pid(folder: Path) -> int | None:
    pid_file = folder / "slicer.pid"
    return int(pid_file.read_text()) if pid_file.exists() and pid_file.read_text() else None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def uploads_of(printer: OctoPrintServer, job_id: object) -> list[str]:
    files = printer.get("/api/files?recursive=true").json()["files"]
    return [f["name"] for f in files if f["name"].startswith(f"cosmoloc-job-{job_id}-")]


@pytest.fixture
def slicing_lab(printer: OctoPrintServer, lab_config: Callable[..., Path],
                tmp_path: Path) -> Iterator[Callable[..., tuple[Runner, Path]]]:
    """A runner whose octoprint machine slices with the stand-in in ``mode``; returns it and the
    stand-in's folder."""
    runners: list[Runner] = []

    def make(mode: str, slice_timeout_s: float = 120) -> tuple[Runner, Path]:
        stand_in_slicer(tmp_path / "lab" / "slicer", mode)
        runner = fast_runner(lab_config(printer.url, printer.api_key, slicer="slicer/stand-in-slicer",
                                        slice_timeout_s=slice_timeout_s))
        octoprint_driver(runner)
        runners.append(runner)
        return runner, tmp_path / "lab" / "slicer"

    yield make
    for runner in runners:
        runner.close()  # kills a slicer a failed test left running


def test_heartbeats_go_on_while_a_slow_slice_runs(slicing_lab: Callable[..., tuple[Runner, Path]], hub: FakeHub,
                                                  printer: OctoPrintServer) -> None:
    runner, slicer = slicing_lab("slow")
    job = hub.add_job(bbox_mm=(5, 5, 5), volume_mm3=125, content=cube_stl())
    run_until(runner, lambda: slicer_pid(slicer) is not None and hub.job(job["id"])["state"] == "in_production",
              timeout_s=30)
    beats = len(hub.heartbeats)
    second = hub.add_job(bbox_mm=(5, 5, 5), volume_mm3=125)
    # The slicer cannot end before the release file exists: every heartbeat here came while it ran.
    run_until(runner, lambda: len(hub.heartbeats) >= beats + 5 and hub.job(second["id"])["state"] != "offered",
              timeout_s=30)
    assert alive(slicer_pid(slicer) or 0)
    assert hub.machines["mk4-1"]["state"] == "busy"  # OctoPrint is idle, but the machine is taken
    assert hub.job(second["id"])["decline_reason"] == "no free machine"
    assert [body["percent"] for kind, body in hub.reports_for(job["id"]) if kind == "progress"] == [0]
    assert uploads_of(printer, job["id"]) == []

    (slicer / "release").touch()
    run_until(runner, lambda: hub.job(job["id"])["state"] == "completed", timeout_s=90, pause_s=0.1)
    run_until(runner, lambda: uploads_of(printer, job["id"]) == [], timeout_s=20)  # the G-code is deleted
    local = runner.ledger.get(str(job["id"]))
    assert local is not None and local.file_path is not None and not local.file_path.parent.exists()


def test_a_failing_slicer_fails_the_job_with_its_reason(slicing_lab: Callable[..., tuple[Runner, Path]],
                                                        hub: FakeHub, printer: OctoPrintServer) -> None:
    runner, _ = slicing_lab("fail")
    job = hub.add_job(bbox_mm=(5, 5, 5), volume_mm3=125, content=cube_stl())
    run_until(runner, lambda: hub.job(job["id"])["state"] == "failed", timeout_s=30)
    reason = hub.job(job["id"])["fail_reason"]
    assert reason.startswith("PrusaSlicer failed (exit 3)") and "Objects could not fit on the bed" in reason
    assert uploads_of(printer, job["id"]) == []
    runner.step()
    assert hub.machines["mk4-1"]["state"] == "idle"  # free for the next job


def test_a_slice_past_its_time_limit_is_killed_and_fails_the_job(slicing_lab: Callable[..., tuple[Runner, Path]],
                                                                 hub: FakeHub, printer: OctoPrintServer) -> None:
    runner, slicer = slicing_lab("hang", slice_timeout_s=1)
    job = hub.add_job(bbox_mm=(5, 5, 5), volume_mm3=125, content=cube_stl())
    run_until(runner, lambda: hub.job(job["id"])["state"] == "failed", timeout_s=30)
    assert hub.job(job["id"])["fail_reason"] == "PrusaSlicer took longer than 1 s"
    assert not alive(slicer_pid(slicer) or 0)
    assert uploads_of(printer, job["id"]) == []


def test_a_job_withdrawn_while_slicing_kills_the_slicer_and_uploads_nothing(
        slicing_lab: Callable[..., tuple[Runner, Path]], hub: FakeHub, printer: OctoPrintServer) -> None:
    runner, slicer = slicing_lab("slow")
    job = hub.add_job(bbox_mm=(5, 5, 5), volume_mm3=125, content=cube_stl())
    run_until(runner, lambda: slicer_pid(slicer) is not None and hub.job(job["id"])["state"] == "in_production",
              timeout_s=30)
    pid = slicer_pid(slicer) or 0
    hub.withdraw(job["id"])
    run_until(runner, lambda: runner.ledger.get(str(job["id"])).phase is Phase.CANCELLED)  # type: ignore[union-attr]
    assert not alive(pid)
    (slicer / "release").touch()  # too late: nobody is left to write the G-code
    for _ in range(5):
        runner.step()
    assert uploads_of(printer, job["id"]) == []
    assert printer.get("/api/job").json()["state"] == "Operational"
    assert hub.machines["mk4-1"]["state"] == "idle"  # free for the next job
    local = runner.ledger.get(str(job["id"]))
    assert local is not None and local.file_path is not None and not local.file_path.parent.exists()


def test_an_agent_restarted_mid_slice_slices_again(slicing_lab: Callable[..., tuple[Runner, Path]], hub: FakeHub,
                                                   printer: OctoPrintServer) -> None:
    runner, slicer = slicing_lab("slow")
    job = hub.add_job(bbox_mm=(5, 5, 5), volume_mm3=125, content=cube_stl())
    run_until(runner, lambda: slicer_pid(slicer) is not None, timeout_s=30)
    first = slicer_pid(slicer) or 0
    runner.close()  # the agent stops: its slicer goes with it
    assert not alive(first)
    again = fast_runner(runner.config.path or Path())
    octoprint_driver(again)
    try:
        run_until(again, lambda: slicer_pid(slicer) not in (None, first), timeout_s=30)
        (slicer / "release").touch()
        run_until(again, lambda: hub.job(job["id"])["state"] == "completed", timeout_s=90, pause_s=0.1)
    finally:
        again.close()


# -- the slice run itself ------------------------------------------------------------------


def test_a_slice_run_answers_without_waiting_and_can_be_killed(tmp_path: Path) -> None:
    slicer = stand_in_slicer(tmp_path / "slicer", "slow")
    run = SliceRun(tmp_path / "part.stl", tmp_path / "profile.ini", tmp_path / "out" / "part.gcode",
                   slicer=str(slicer), timeout_s=60)
    assert run.poll() is None
    deadline = time.monotonic() + 30
    while slicer_pid(slicer.parent) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    run.kill()
    assert not alive(run.pid)
    with pytest.raises(SlicingError, match="stopped"):
        run.poll()
    assert not (tmp_path / "out" / "part.gcode").exists()


def test_a_released_slice_run_gives_its_gcode(tmp_path: Path) -> None:
    slicer = stand_in_slicer(tmp_path / "slicer", "slow")
    (slicer.parent / "release").touch()
    run = SliceRun(tmp_path / "part.stl", tmp_path / "profile.ini", tmp_path / "part.gcode", slicer=str(slicer))
    assert run.wait() == tmp_path / "part.gcode"
    assert run.poll() == tmp_path / "part.gcode"
    assert (tmp_path / "part.gcode").read_text() == GCODE


def test_a_state_file_from_an_older_agent_gains_the_new_columns(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / DB_NAME)
    old.execute("CREATE TABLE driver_jobs (machine_key TEXT NOT NULL, job_id TEXT NOT NULL, started_at REAL NOT NULL, "
                "duration_s REAL NOT NULL, status TEXT NOT NULL, reason TEXT, PRIMARY KEY (machine_key, job_id))")
    old.execute("INSERT INTO driver_jobs VALUES ('mk4-1', '7', 1700000000, 60, 'running', NULL)")
    old.commit()
    old.close()
    db = StateDB(tmp_path)
    StateDB(tmp_path)  # opening again changes nothing
    with db.transaction() as c:
        row = c.execute("SELECT * FROM driver_jobs").fetchone()
    assert (row["job_id"], row["status"], row["gcode_name"], row["gcode_removed"]) == ("7", "running", None, 0)
