"""The agent's loop against a fake hub: heartbeat, offers, files, progress, withdrawal, shutdown."""
from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fablab_nodes import AGENT_NAME
from fablab_nodes.jobs import Job
from fablab_nodes.ledger import Phase
from tests.fablab_nodes.conftest import fast_runner, machine_toml, run_until
from tests.fablab_nodes.fake_hub import FakeHub


def kinds(hub: FakeHub, job_id: object) -> list[str]:
    return [kind for kind, _ in hub.reports_for(job_id)]


def test_heartbeat_describes_every_machine(hub: FakeHub, write_config: Callable[..., Path]) -> None:
    hub.poll_interval_s = 0.07
    machines = machine_toml() + "\n" + machine_toml(key="laser", process="laser_cutting", volume=(600, 400, 6),
                                                    materials=("plywood",), driver="manual")
    runner = fast_runner(write_config(machines=machines))
    runner.step()
    beat = hub.heartbeats[0]
    assert beat["agent"] == AGENT_NAME and AGENT_NAME.startswith("cosmoloc-agent/")
    assert beat["machines"] == [
        {"key": "mk4-1", "state": "idle", "queue_length": 0, "queue_s": 0.0, "name": "Machine mk4-1", "process": "fdm",
         "build_volume_mm": [250.0, 210.0, 220.0], "materials": ["PLA", "PETG"]},
        {"key": "laser", "state": "idle", "queue_length": 0, "name": "Machine laser", "process": "laser_cutting",
         "build_volume_mm": [600.0, 400.0, 6.0], "materials": ["plywood"]},
    ]
    assert runner.poll_interval_s == pytest.approx(0.07)  # the hub's answer wins


def test_heartbeat_queue_s_is_the_running_remainder_plus_the_accepted_jobs(hub: FakeHub,
                                                                          write_config: Callable[..., Path]) -> None:
    # at speed 1 the simulated printer takes 60 s + 4000 mm3 at 10 mm3/s = 460 s a part
    machines = machine_toml(speed=1.0) + "\n" + machine_toml(key="bench", driver="manual")
    job = hub.add_job(machine_key="mk4-1")
    runner = fast_runner(write_config(machines=machines))
    run_until(runner, lambda: runner.drivers["mk4-1"].state().status.value == "busy")
    started = time.time()
    waiting = hub.add_job()
    runner.ledger.accept(Job.from_json(waiting), "mk4-1")  # accepted, not started: it waits for the printer
    runner.heartbeat()
    beat = {m["key"]: m for m in hub.heartbeats[-1]["machines"]}
    assert hub.job(job["id"])["state"] in ("accepted", "in_production")
    assert beat["mk4-1"]["queue_length"] == 1
    assert 460 + 460 - (time.time() - started) - 5 <= beat["mk4-1"]["queue_s"] <= 460 + 460
    assert "queue_s" not in beat["bench"]  # how long a person takes is not known, so it is not said


def test_auto_accepts_a_fitting_job_and_makes_it(hub: FakeHub, write_config: Callable[..., Path]) -> None:
    # 240 mm long: it fits the 250 x 210 x 220 volume only lying along x; "pla" matches "PLA".
    content = b"solid long\n" * 50
    job = hub.add_job(material="pla", bbox_mm=(20, 240, 15), volume_mm3=6000, content=content)
    runner = fast_runner(write_config())
    run_until(runner, lambda: hub.job(job["id"])["state"] == "completed")
    assert hub.job(job["id"])["machine_key"] == "mk4-1"
    seen = kinds(hub, job["id"])
    assert seen[0] == "accept" and seen[-1] == "complete" and "progress" in seen
    local = runner.ledger.get(str(job["id"]))
    assert local is not None and local.phase is Phase.FINISHED
    assert ("GET", f"/api/v1/node/jobs/{job['id']}/file") in hub.requests
    assert local.file_path is not None and not local.file_path.exists()  # removed once the job was done
    assert runner.outbox.pending() == []


@pytest.mark.parametrize(("job_kw", "reason"), [
    ({"material": "PETG-CF"}, "no machine with material PETG-CF"),
    ({"bbox_mm": (300, 20, 20)}, "part 300x20x20 mm does not fit"),
    ({"processes": ("laser_cutting",)}, "no machine for process laser_cutting"),
])
def test_auto_declines_with_the_reason(hub: FakeHub, write_config: Callable[..., Path], job_kw: dict,
                                       reason: str) -> None:
    job = hub.add_job(**job_kw)
    runner = fast_runner(write_config())
    run_until(runner, lambda: hub.job(job["id"])["state"] == "declined")
    assert hub.job(job["id"])["decline_reason"] == reason
    assert kinds(hub, job["id"]) == ["decline"]


def test_a_busy_machine_declines_the_second_job(hub: FakeHub, write_config: Callable[..., Path]) -> None:
    first = hub.add_job()
    runner = fast_runner(write_config(machines=machine_toml(speed=1)))  # about 460 s per part: stays busy
    run_until(runner, lambda: hub.job(first["id"])["state"] == "in_production")
    second = hub.add_job()
    run_until(runner, lambda: hub.job(second["id"])["state"] == "declined")
    assert hub.job(second["id"])["decline_reason"] == "no free machine"
    assert hub.machines["mk4-1"]["state"] == "busy"


def test_two_offers_at_once_go_one_per_free_machine(hub: FakeHub, write_config: Callable[..., Path]) -> None:
    a, b = hub.add_job(), hub.add_job()
    runner = fast_runner(write_config(machines=machine_toml(speed=1)))
    run_until(runner, lambda: hub.job(b["id"])["state"] != "offered")
    states = {hub.job(a["id"])["state"], hub.job(b["id"])["state"]}
    assert "declined" in states and states & {"accepted", "in_production"}


def test_a_file_that_does_not_match_its_sha256_fails_the_job(hub: FakeHub, write_config: Callable[..., Path]) -> None:
    job = hub.add_job(sha256="0" * 64)
    runner = fast_runner(write_config())
    run_until(runner, lambda: hub.job(job["id"])["state"] == "failed")
    assert "sha256 mismatch" in hub.job(job["id"])["fail_reason"]
    assert kinds(hub, job["id"]) == ["accept", "fail"]  # nothing was made
    assert runner.drivers["mk4-1"].state().status.value == "idle"


def test_an_etag_that_does_not_match_the_content_fails_the_job(hub: FakeHub,
                                                                write_config: Callable[..., Path]) -> None:
    job = hub.add_job()
    hub.etags[str(job["id"])] = "f" * 64
    runner = fast_runner(write_config())
    run_until(runner, lambda: hub.job(job["id"])["state"] == "failed")
    assert "sha256 mismatch" in hub.job(job["id"])["fail_reason"]


def test_progress_seq_strictly_increases(hub: FakeHub, write_config: Callable[..., Path]) -> None:
    job = hub.add_job(volume_mm3=20000)  # 2060 s of printing at speed 2000: about 1 s
    runner = fast_runner(write_config(machines=machine_toml(speed=2000)))
    run_until(runner, lambda: hub.job(job["id"])["state"] == "completed")
    progress = [body for kind, body in hub.reports_for(job["id"]) if kind == "progress"]
    seqs = [p["seq"] for p in progress]
    assert len(seqs) >= 3
    assert seqs == sorted(set(seqs)) and seqs[0] == 1
    percents = [p["percent"] for p in progress]
    assert percents == sorted(percents) and all(p["state"] == "in_production" for p in progress)


def test_a_withdrawn_job_is_cancelled_on_the_machine(hub: FakeHub, write_config: Callable[..., Path]) -> None:
    job = hub.add_job()
    runner = fast_runner(write_config(machines=machine_toml(speed=1)))
    run_until(runner, lambda: hub.job(job["id"])["state"] == "in_production")
    assert runner.drivers["mk4-1"].state().status.value == "busy"
    hub.withdraw(job["id"])
    before = len(hub.reports_for(job["id"]))
    local_id = str(job["id"])
    run_until(runner, lambda: runner.ledger.get(local_id).phase is Phase.CANCELLED)  # type: ignore[union-attr]
    assert runner.drivers["mk4-1"].state().status.value == "idle"
    runner.step()
    assert len(hub.reports_for(job["id"])) == before
    assert runner.outbox.pending() == []


def test_an_accept_the_hub_no_longer_wants_is_dropped_not_retried(hub: FakeHub,
                                                                   write_config: Callable[..., Path]) -> None:
    job = hub.add_job()
    runner = fast_runner(write_config())
    runner.ledger.accept(Job.from_json(job), "mk4-1")  # queued while the offer still stood
    hub.withdraw(job["id"])  # ... and the offer went away before it was delivered
    runner.step()
    runner.step()
    local = runner.ledger.get(str(job["id"]))
    assert local is not None and local.phase is Phase.ABANDONED
    assert runner.outbox.pending() == []
    assert [r.status.value for r in runner.outbox.reports()] == ["dropped"]
    assert kinds(hub, job["id"]) == []


def test_run_stops_cleanly_on_sigterm(hub: FakeHub, write_config: Callable[..., Path]) -> None:
    runner = fast_runner(write_config(poll_interval_s=0.05))
    hub.poll_interval_s = 0.05
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGTERM))
    timer.start()
    started = time.monotonic()
    steps = runner.run()
    assert time.monotonic() - started < 3
    assert steps >= 2
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or callable(signal.getsignal(signal.SIGTERM))


def test_run_with_a_stop_event_and_max_iterations(hub: FakeHub, write_config: Callable[..., Path]) -> None:
    runner = fast_runner(write_config())
    assert runner.run(max_iterations=3) == 3
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, kwargs={"stop_event": stop})
    thread.start()
    time.sleep(0.1)
    stop.set()
    thread.join(2)
    assert not thread.is_alive()
    assert len(hub.heartbeats) >= 4
