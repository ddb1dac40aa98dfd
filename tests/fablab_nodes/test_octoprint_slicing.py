"""Slicing and uploading off the agent's loop: a slow, failing, hanging or withdrawn slice, with a
stand-in slicer, and a slow, failing or withdrawn upload (the client's upload held or made to fail).

The stand-in (a small Python program configured as the machine's ``slicer``) takes PrusaSlicer's
arguments, notes its pid beside itself and then, as the test asks: waits for a ``release`` file
before writing a short G-code, fails with a message, or hangs. The prints go to the real OctoPrint
of ``conftest.py``.
"""
from __future__ import annotations

import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fablab_nodes.drivers.octoprint import UPLOAD_ATTEMPTS
from fablab_nodes.drivers.octoprint_client import OctoPrintError, OctoPrintRejected, OctoPrintUnavailable, UploadRun
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
    assert hub.job(second["id"])["reason"] == "no free machine"
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
    reason = hub.job(job["id"])["reason"]
    assert reason.startswith("PrusaSlicer failed (exit 3)") and "Objects could not fit on the bed" in reason
    assert uploads_of(printer, job["id"]) == []
    runner.step()
    assert hub.machines["mk4-1"]["state"] == "idle"  # free for the next job


def test_a_slice_past_its_time_limit_is_killed_and_fails_the_job(slicing_lab: Callable[..., tuple[Runner, Path]],
                                                                 hub: FakeHub, printer: OctoPrintServer) -> None:
    runner, slicer = slicing_lab("hang", slice_timeout_s=1)
    job = hub.add_job(bbox_mm=(5, 5, 5), volume_mm3=125, content=cube_stl())
    run_until(runner, lambda: hub.job(job["id"])["state"] == "failed", timeout_s=30)
    assert hub.job(job["id"])["reason"] == "PrusaSlicer took longer than 1 s"
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


# -- the upload -----------------------------------------------------------------------------


class HeldUpload:
    """Stands in for the driver's ``client.upload``: reads the G-code (as a real upload holds its file
    open), then waits for :attr:`release` before sending it with the real upload; :attr:`sent` is set
    once it is on OctoPrint. ``failures``: that many calls first fail with it instead."""

    def __init__(self, runner: Runner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                 failures: list[OctoPrintError] | None = None) -> None:
        self.client = octoprint_driver(runner).client
        self.real = self.client.upload
        self.folder = tmp_path / "held-uploads"
        self.folder.mkdir()
        self.release = threading.Event()
        self.sent = threading.Event()
        self.calls: list[str] = []
        self.failures = list(failures or [])
        monkeypatch.setattr(self.client, "upload", self.upload)

    def upload(self, path: Path, name: str) -> dict[str, object]:
        self.calls.append(name)
        if self.failures:
            raise self.failures.pop(0)
        data = path.read_bytes()
        if not self.release.wait(60):
            raise AssertionError("the held upload was never released")
        copy = self.folder / name
        copy.write_bytes(data)
        answer = self.real(copy, name)
        self.sent.set()
        return answer


@pytest.fixture
def upload_lab(slicing_lab: Callable[..., tuple[Runner, Path]], monkeypatch: pytest.MonkeyPatch,
               tmp_path: Path) -> Iterator[Callable[..., tuple[Runner, HeldUpload]]]:
    """A runner whose stand-in slicer gives its G-code at once and whose uploads are held."""
    held: list[HeldUpload] = []

    def make(failures: list[OctoPrintError] | None = None) -> tuple[Runner, HeldUpload]:
        runner, slicer = slicing_lab("slow")
        (slicer / "release").touch()
        held.append(HeldUpload(runner, monkeypatch, tmp_path, failures))
        return runner, held[-1]

    yield make
    for upload in held:
        upload.release.set()  # a failed test must not leave a worker waiting


def test_heartbeats_go_on_while_a_slow_upload_runs(upload_lab: Callable[..., tuple[Runner, HeldUpload]],
                                                   hub: FakeHub, printer: OctoPrintServer) -> None:
    runner, upload = upload_lab()
    job = hub.add_job(bbox_mm=(5, 5, 5), volume_mm3=125, content=cube_stl())
    run_until(runner, lambda: upload.calls and hub.job(job["id"])["state"] == "in_production", timeout_s=30)
    beats = len(hub.heartbeats)
    second = hub.add_job(bbox_mm=(5, 5, 5), volume_mm3=125)
    # The upload cannot end before it is released: every heartbeat here came while it was on its way.
    run_until(runner, lambda: len(hub.heartbeats) >= beats + 5 and hub.job(second["id"])["state"] != "offered",
              timeout_s=30)
    assert hub.machines["mk4-1"]["state"] == "busy"
    assert hub.job(second["id"])["reason"] == "no free machine"
    assert [body["percent"] for kind, body in hub.reports_for(job["id"]) if kind == "progress"] == [0]
    assert uploads_of(printer, job["id"]) == []
    assert len(upload.calls) == 1

    upload.release.set()
    run_until(runner, lambda: hub.job(job["id"])["state"] == "completed", timeout_s=90, pause_s=0.1)
    run_until(runner, lambda: uploads_of(printer, job["id"]) == [], timeout_s=20)  # the G-code is deleted
    assert len(upload.calls) == 1


def test_a_failing_upload_is_tried_again_then_fails_the_job(upload_lab: Callable[..., tuple[Runner, HeldUpload]],
                                                            hub: FakeHub, printer: OctoPrintServer) -> None:
    runner, upload = upload_lab([OctoPrintUnavailable("POST /api/files/local: OctoPrint answered 503")]
                                + [OctoPrintRejected(415, "POST /api/files/local", "Unsupported file type")]
                                * UPLOAD_ATTEMPTS)
    job = hub.add_job(bbox_mm=(5, 5, 5), volume_mm3=125, content=cube_stl())
    run_until(runner, lambda: hub.job(job["id"])["state"] == "failed", timeout_s=30)
    assert hub.job(job["id"])["reason"] == (
        f"the G-code could not be uploaded to OctoPrint ({UPLOAD_ATTEMPTS} attempts): "
        "OctoPrint refused POST /api/files/local (415): Unsupported file type")
    assert len(upload.calls) == UPLOAD_ATTEMPTS
    assert len(set(upload.calls)) == 1  # one name for the job's G-code, whatever the attempt
    assert uploads_of(printer, job["id"]) == []
    runner.step()
    assert hub.machines["mk4-1"]["state"] == "idle"  # free for the next job


def test_an_upload_that_fails_once_is_tried_again(upload_lab: Callable[..., tuple[Runner, HeldUpload]],
                                                  hub: FakeHub, printer: OctoPrintServer) -> None:
    runner, upload = upload_lab([OctoPrintUnavailable("POST /api/files/local: ConnectionError")])
    upload.release.set()
    job = hub.add_job(bbox_mm=(5, 5, 5), volume_mm3=125, content=cube_stl())
    run_until(runner, lambda: hub.job(job["id"])["state"] == "completed", timeout_s=90, pause_s=0.1)
    assert len(upload.calls) == 2


def test_a_job_withdrawn_mid_upload_is_not_printed_and_its_gcode_is_deleted(
        upload_lab: Callable[..., tuple[Runner, HeldUpload]], hub: FakeHub, printer: OctoPrintServer) -> None:
    runner, upload = upload_lab()
    job = hub.add_job(bbox_mm=(5, 5, 5), volume_mm3=125, content=cube_stl())
    run_until(runner, lambda: upload.calls and hub.job(job["id"])["state"] == "in_production", timeout_s=30)
    hub.withdraw(job["id"])
    run_until(runner, lambda: runner.ledger.get(str(job["id"])).phase is Phase.CANCELLED)  # type: ignore[union-attr]
    runner.step()
    assert hub.machines["mk4-1"]["state"] == "idle"  # nobody waits for the upload any more
    upload.release.set()  # the file arrives after all ...
    assert upload.sent.wait(30)
    assert uploads_of(printer, job["id"]) == upload.calls
    run_until(runner, lambda: uploads_of(printer, job["id"]) == [], timeout_s=20)  # ... and is deleted
    assert printer.get("/api/job").json()["state"] == "Operational"
    local = runner.ledger.get(str(job["id"]))
    assert local is not None and local.file_path is not None and not local.file_path.parent.exists()


def test_an_upload_run_answers_without_waiting(tmp_path: Path) -> None:
    gate = threading.Event()

    class Client:
        def upload(self, path: Path, name: str) -> dict[str, object]:
            gate.wait(30)
            if name == "bad.gcode":
                raise OctoPrintRejected(400, "POST /api/files/local", "No file included")
            return {}

    good = UploadRun(Client(), tmp_path / "part.gcode", "good.gcode")  # type: ignore[arg-type]
    bad = UploadRun(Client(), tmp_path / "part.gcode", "bad.gcode")  # type: ignore[arg-type]
    assert not good.poll() and not good.finished
    gate.set()
    assert good.wait(30) and bad.wait(30)
    assert good.poll()
    for _ in range(2):  # asking again gives the same answer
        with pytest.raises(OctoPrintRejected, match="No file included"):
            bad.poll()


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
