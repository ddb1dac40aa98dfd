"""The octoprint driver against a real OctoPrint 1.11 (virtual printer) and Debian's PrusaSlicer.

Both are installed by ``tests/setup/install_test_deps.sh`` (CI runs it); without them these tests
skip and say so. One OctoPrint serves the whole session (see ``conftest.py``): each test leaves its
printer idle.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fablab_nodes.config import ConfigError, OctoPrintSettings, load_config
from fablab_nodes.drivers import MachineStatus
from fablab_nodes.drivers.octoprint import time_left_s
from fablab_nodes.drivers.slicer import SlicingError, read_estimated_seconds, slice_stl
from fablab_nodes.jobs import Job
from tests.fablab_nodes.conftest import FAST_INI, PROFILE_VOLUME, cube_stl, fast_runner, octoprint_driver, run_until
from tests.fablab_nodes.fake_hub import FakeHub
from tests.fablab_nodes.octoprint_server import OctoPrintServer, free_port

pytestmark = pytest.mark.slow

# -- slicing ------------------------------------------------------------------------------


def test_slices_a_cube_and_reads_the_estimated_time(slicer: str, tmp_path: Path) -> None:
    stl = tmp_path / "cube.stl"
    stl.write_bytes(cube_stl())
    ini = tmp_path / "fast.ini"
    ini.write_text(FAST_INI)
    gcode = slice_stl(stl, ini, tmp_path / "out" / "cube.gcode", timeout_s=120)
    text = gcode.read_text()
    assert "G1 " in text and "M109" not in text and "M190" not in text  # moves, and no waiting for heat
    # 5 mm cube of 0.3 mm layers: the last layer is printed at z = 5.1 at most
    layers = {line.split("Z")[1].split()[0] for line in text.splitlines() if line.startswith("G1 Z")}
    assert 15 <= len(layers) <= 18
    comment = next(line for line in text.splitlines() if line.startswith("; estimated printing time (normal mode)"))
    seconds = read_estimated_seconds(gcode)
    assert seconds is not None and 5 < seconds < 600
    minutes, _, rest = comment.split("=")[1].strip().rpartition("m")
    expected = (int(minutes) * 60 if minutes else 0) + int(rest.strip().rstrip("s") or 0)
    assert seconds == expected


def test_estimated_time_in_days_hours_minutes(tmp_path: Path) -> None:
    gcode = tmp_path / "long.gcode"
    gcode.write_text("G1 X1\n; estimated printing time (normal mode) = 1d 2h 3m 4s\n"
                     "; estimated printing time (silent mode) = 2d 2h 3m 4s\n")
    assert read_estimated_seconds(gcode) == 86400 + 2 * 3600 + 3 * 60 + 4
    gcode.write_text("G1 X1\n")
    assert read_estimated_seconds(gcode) is None


def test_a_file_that_cannot_be_sliced_says_why(slicer: str, tmp_path: Path) -> None:
    stl = tmp_path / "broken.stl"
    stl.write_bytes(b"solid nothing\nendsolid nothing\n")
    ini = tmp_path / "fast.ini"
    ini.write_text(FAST_INI)
    with pytest.raises(SlicingError, match="PrusaSlicer failed"):
        slice_stl(stl, ini, tmp_path / "broken.gcode", timeout_s=120)
    with pytest.raises(SlicingError, match="not found"):
        slice_stl(stl, ini, tmp_path / "x.gcode", slicer="no-such-slicer-program")


# -- configuration ------------------------------------------------------------------------


def test_config_reads_the_octoprint_table(lab_config: Callable[..., Path]) -> None:
    path = lab_config("http://127.0.0.1:9/", "k3y-that-stays-secret")
    settings = load_config(path).machines[0].options["octoprint"]
    assert isinstance(settings, OctoPrintSettings)
    assert settings.url == "http://127.0.0.1:9"
    assert settings.api_key.reveal() == "k3y-that-stays-secret" and "k3y" not in repr(settings)
    assert settings.slicer_config == path.parent / "profiles" / "fast.ini"


@pytest.mark.parametrize(("edit", "key_named"), [
    (lambda t: t.split("[machines.octoprint]")[0], "machines[0] (mk4-1).driver"),
    (lambda t: t.replace('api_key_file = "octoprint.key"', 'api_key_file = "missing.key"'),
     "machines[0] (mk4-1).octoprint.api_key_file"),
    (lambda t: t.replace("profiles/fast.ini", "profiles/none.ini"), "machines[0] (mk4-1).octoprint.slicer_config"),
    (lambda t: t.replace('url = "http://127.0.0.1:9"', 'url = "127.0.0.1:9"'), "machines[0] (mk4-1).octoprint.url"),
])
def test_bad_octoprint_table_names_the_key(lab_config: Callable[..., Path], edit: Callable[[str], str],
                                           key_named: str) -> None:
    path = lab_config("http://127.0.0.1:9", "k3y-that-stays-secret")
    path.write_text(edit(path.read_text()))
    with pytest.raises(ConfigError, match=key_named.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")) as err:
        load_config(path)
    assert "k3y-that-stays-secret" not in str(err.value)


# -- a live OctoPrint ---------------------------------------------------------------------


def test_state_and_build_volume_from_a_live_octoprint(printer: OctoPrintServer, hub: FakeHub,
                                                      lab_config: Callable[..., Path]) -> None:
    runner = fast_runner(lab_config(printer.url, printer.api_key))
    state = octoprint_driver(runner).state()
    assert state.status is MachineStatus.IDLE
    assert state.build_volume_mm == PROFILE_VOLUME
    runner.step()
    beat = hub.machines["mk4-1"]
    assert beat["state"] == "idle"
    assert beat["build_volume_mm"] == list(PROFILE_VOLUME)  # the printer's profile, not the TOML's 250 x 210 x 220


def test_a_part_too_big_for_the_real_printer_is_declined(printer: OctoPrintServer, hub: FakeHub,
                                                         lab_config: Callable[..., Path]) -> None:
    job = hub.add_job(bbox_mm=(200, 20, 20))  # fits the configured 250 mm, not the profile's 180 mm
    runner = fast_runner(lab_config(printer.url, printer.api_key))
    run_until(runner, lambda: hub.job(job["id"])["state"] == "declined", timeout_s=20)
    assert hub.job(job["id"])["decline_reason"] == "part 200x20x20 mm does not fit"


def test_a_job_from_offer_to_completion(printer: OctoPrintServer, hub: FakeHub, lab_config: Callable[..., Path],
                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    job = hub.add_job(bbox_mm=(5, 5, 5), volume_mm3=125, content=cube_stl())
    runner = fast_runner(lab_config(printer.url, printer.api_key))
    seen_printing = []

    def completed() -> bool:
        if printer.get("/api/job").json().get("state") == "Printing":
            seen_printing.append(hub.machines.get("mk4-1", {}).get("state"))
        return hub.job(job["id"])["state"] == "completed"

    started = time.monotonic()
    run_until(runner, completed, timeout_s=120, pause_s=0.2)
    took = time.monotonic() - started
    reports = hub.reports_for(job["id"])
    kinds = [kind for kind, _ in reports]
    assert kinds[0] == "accept" and kinds[-1] == "complete"
    progress = [body for kind, body in reports if kind == "progress"]
    seqs = [p["seq"] for p in progress]
    percents = [p["percent"] for p in progress]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert percents == sorted(percents) and percents[0] == 0
    assert any(0 < p < 100 for p in percents), percents  # progress from /api/job while it printed
    assert "busy" in seen_printing  # the heartbeat told the hub the printer was busy
    name = octoprint_driver(runner).gcode_name(Job.from_json(job))
    assert name is not None and name.startswith(f"cosmoloc-job-{job['id']}-")
    assert printer.get(f"/api/files/local/{name}").status_code == 404  # the G-code is deleted once the job ended
    local = runner.ledger.get(str(job["id"]))
    assert local is not None and local.file_path is not None
    assert not local.file_path.parent.exists()  # and so are the downloaded STL and its G-code at the lab
    with runner.db.transaction() as c:  # the slicer's estimate, read from the G-code, is kept with the print
        estimate = c.execute("SELECT duration_s FROM driver_jobs WHERE job_id = ?", (str(job["id"]),)).fetchone()[0]
    assert 5 < estimate < 600
    assert printer.get("/api/job").json()["state"] == "Operational"
    assert took < 90
    assert all(printer.api_key not in record.getMessage() for record in caplog.records)


def test_time_left_from_the_job_answer() -> None:
    assert time_left_s({"state": "Operational", "progress": {"printTimeLeft": None}}) == 0.0
    assert time_left_s({"state": "Printing", "progress": {"printTimeLeft": 95, "printTime": 5}}) == 95.0
    # no estimate of OctoPrint's yet: the file's analysis less the time printed so far
    assert time_left_s({"state": "Printing", "job": {"estimatedPrintTime": 100.0},
                        "progress": {"printTimeLeft": None, "printTime": 30}}) == 70.0
    assert time_left_s({"state": "Printing", "job": {}, "progress": {}}) is None


def test_heartbeat_queue_is_the_print_time_left_plus_accepted_jobs(printer: OctoPrintServer, hub: FakeHub,
                                                                   lab_config: Callable[..., Path]) -> None:
    job = hub.add_job(bbox_mm=(5, 5, 5), volume_mm3=125, content=cube_stl())
    runner = fast_runner(lab_config(printer.url, printer.api_key))
    idle = runner.machine_reports()[0]
    assert idle["state"] == "idle" and idle["queue_s"] == 0.0

    def printing_with_an_estimate() -> bool:
        answer = printer.get("/api/job").json()
        return answer.get("state") == "Printing" and (answer["progress"].get("printTimeLeft") or 0) > 0

    run_until(runner, printing_with_an_estimate, timeout_s=60, pause_s=0.1)
    waiting = hub.add_job(bbox_mm=(10, 10, 10), volume_mm3=1000, content=cube_stl())
    runner.ledger.accept(Job.from_json(waiting), "mk4-1")  # accepted while the first one prints
    left_before = printer.get("/api/job").json()["progress"]["printTimeLeft"]
    report = runner.machine_reports()[0]
    left_after = printer.get("/api/job").json()["progress"]["printTimeLeft"] or 0
    queued = 1.0 / 12.0 * 3600  # 1 cm3 counted solid at 12 cm3/h until it is sliced: 300 s
    assert report["state"] == "busy" and report["queue_length"] == 1
    assert left_after + queued - 1 <= report["queue_s"] <= left_before + queued + 1
    printer.post("/api/job", {"command": "cancel"})  # the printer is left as it was found, its G-code deleted
    run_until(runner, lambda: hub.job(job["id"])["state"] == "failed", timeout_s=30)
    printer.wait_idle()
    name = octoprint_driver(runner).gcode_name(Job.from_json(job))
    run_until(runner, lambda: printer.get(f"/api/files/local/{name}").status_code == 404, timeout_s=20)


def test_withdrawn_job_is_cancelled_on_the_printer(printer: OctoPrintServer, hub: FakeHub,
                                                   lab_config: Callable[..., Path]) -> None:
    job = hub.add_job(bbox_mm=(5, 5, 5), volume_mm3=125, content=cube_stl())
    runner = fast_runner(lab_config(printer.url, printer.api_key))
    run_until(runner, lambda: printer.get("/api/job").json().get("state") == "Printing", timeout_s=60)
    hub.withdraw(job["id"])
    run_until(runner, lambda: printer.get("/api/job").json().get("state") in ("Cancelling", "Operational"),
              timeout_s=20)
    printer.wait_idle()
    name = octoprint_driver(runner).gcode_name(Job.from_json(job))
    # OctoPrint keeps a file it is still printing: the G-code goes once the cancelled print has wound down.
    run_until(runner, lambda: printer.get(f"/api/files/local/{name}").status_code == 404, timeout_s=20)
    assert [kind for kind, _ in hub.reports_for(job["id"])][-1] != "complete"
    local = runner.ledger.get(str(job["id"]))
    assert local is not None and local.phase.value == "cancelled"


def test_a_print_cancelled_at_the_printer_fails_the_job(printer: OctoPrintServer, hub: FakeHub,
                                                        lab_config: Callable[..., Path]) -> None:
    job = hub.add_job(bbox_mm=(5, 5, 5), volume_mm3=125, content=cube_stl())
    runner = fast_runner(lab_config(printer.url, printer.api_key))
    run_until(runner, lambda: printer.get("/api/job").json().get("state") == "Printing", timeout_s=60)
    assert printer.post("/api/job", {"command": "cancel"}).status_code == 204  # the operator stops it
    run_until(runner, lambda: hub.job(job["id"])["state"] == "failed", timeout_s=30)
    assert hub.job(job["id"])["fail_reason"] == "the print was cancelled or failed on OctoPrint"


def test_octoprint_down_reads_offline_and_the_loop_goes_on(hub: FakeHub, lab_config: Callable[..., Path]) -> None:
    runner = fast_runner(lab_config(f"http://127.0.0.1:{free_port()}", "whatever-key"))
    driver = octoprint_driver(runner)
    started = time.monotonic()
    for _ in range(3):
        runner.step()
    assert time.monotonic() - started < 10
    assert len(hub.heartbeats) == 3
    assert hub.machines["mk4-1"]["state"] == "offline"
    assert driver.state().status is MachineStatus.OFFLINE
    job = hub.add_job(bbox_mm=(5, 5, 5), volume_mm3=125)
    run_until(runner, lambda: hub.job(job["id"])["state"] == "declined")
    assert hub.job(job["id"])["decline_reason"] == "no free machine"


def test_octoprint_gone_mid_print_is_not_a_failure(hub: FakeHub, lab_config: Callable[..., Path]) -> None:
    runner = fast_runner(lab_config(f"http://127.0.0.1:{free_port()}", "whatever-key"))
    driver = octoprint_driver(runner)
    with runner.db.transaction() as c:  # a print started before OctoPrint went away
        c.execute("INSERT INTO driver_jobs (machine_key, job_id, started_at, duration_s, status) "
                  "VALUES ('mk4-1', '7', ?, 60, 'running')", (time.time() - 30,))
    job = Job.from_json(hub.add_job())
    job = Job.from_json({**job.raw, "id": "7"})
    progress = driver.poll(job)
    assert not progress.done and not progress.failed


def test_octoprint_stopped_and_started_again(octoprint: OctoPrintServer, tmp_path: Path, hub: FakeHub,
                                             lab_config: Callable[..., Path]) -> None:
    program = octoprint.program
    own = OctoPrintServer(tmp_path / "second-octoprint", program, volume_mm=PROFILE_VOLUME).start()
    try:
        runner = fast_runner(lab_config(own.url, own.api_key))
        driver = octoprint_driver(runner)
        runner.step()
        assert hub.machines["mk4-1"]["state"] == "idle"
        own.stop()
        for _ in range(3):
            runner.step()
        assert hub.machines["mk4-1"]["state"] == "offline"
        assert len(hub.heartbeats) == 4
        own.start()
        run_until(runner, lambda: hub.machines["mk4-1"]["state"] == "idle", timeout_s=10)
        assert driver.state().build_volume_mm == PROFILE_VOLUME
    finally:
        own.stop()


def test_a_wrong_api_key_reads_offline_and_is_logged_once(printer: OctoPrintServer, hub: FakeHub,
                                                          lab_config: Callable[..., Path],
                                                          caplog: pytest.LogCaptureFixture) -> None:
    wrong = "wrong-key-0123456789"
    runner = fast_runner(lab_config(printer.url, wrong))
    for _ in range(3):
        runner.step()
    assert hub.machines["mk4-1"]["state"] == "offline"
    refused = [r.getMessage() for r in caplog.records if "OctoPrint refused" in r.getMessage()]
    assert len(refused) == 1 and "403" in refused[0]
    assert all(wrong not in r.getMessage() for r in caplog.records)
