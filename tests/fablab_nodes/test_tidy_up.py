"""What the agent clears away: delivered reports past their retention, the files of ended jobs."""
from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fablab_nodes.job_files import download_path, job_folder
from fablab_nodes.jobs import Job
from fablab_nodes.ledger import Phase
from fablab_nodes.outbox import Outbox, ReportKind, ReportStatus
from fablab_nodes.state_db import StateDB
from tests.fablab_nodes.conftest import fast_runner, machine_toml, run_until
from tests.fablab_nodes.fake_hub import FakeHub
from tests.fablab_nodes.test_hub_client_and_outbox import Recorder


def age(outbox: Outbox, days: float, *report_ids: int) -> None:
    """Pretend these reports left the queue ``days`` ago."""
    when = (datetime.now(UTC) - timedelta(days=days)).isoformat()
    with outbox.db.transaction() as c:
        c.executemany("UPDATE reports SET finished_at = ? WHERE id = ?", [(when, i) for i in report_ids])


# -- the outbox -----------------------------------------------------------------------------


def test_pruning_removes_old_delivered_reports_and_keeps_what_waits(tmp_path: Path) -> None:
    outbox = Outbox(StateDB(tmp_path))
    old = [outbox.append("1", ReportKind.ACCEPT, {"machine_key": "m"}), outbox.append_progress("1", 0)[0],
           outbox.append("gone", ReportKind.ACCEPT, {"machine_key": "m"}), outbox.append("1", ReportKind.COMPLETE, {})]
    recent = outbox.append("2", ReportKind.ACCEPT, {"machine_key": "m"})
    sender = Recorder()
    outbox.deliver(sender)
    sender.down = True
    waiting = [outbox.append_progress("2", 0)[0], outbox.append("2", ReportKind.COMPLETE, {})]
    outbox.deliver(sender)  # the hub is down: these stay pending
    age(outbox, 30, *old)

    assert outbox.prune(keep_days=7, keep_last=0) == 4  # three delivered and one dropped, a month ago
    assert [r.id for r in outbox.reports()] == [recent, *waiting]
    assert outbox.prune(keep_days=0, keep_last=0) == 1  # no retention at all: still, what waits stays
    assert [r.id for r in outbox.pending()] == waiting

    sender.down = False
    sender.sent.clear()
    outbox.deliver(sender)
    assert sender.sent == [("2", "progress"), ("2", "complete")]
    assert outbox.prune(keep_days=0, keep_last=0) == 2 and outbox.reports() == []
    # Ids and seqs go on from where they were: nothing pruned is reused or sent again.
    assert outbox.append_progress("1", 50) == (waiting[-1] + 1, 2)
    sender.sent.clear()
    outbox.deliver(sender)
    assert sender.sent == [("1", "progress")]


def test_pruning_keeps_the_newest_and_the_jobs_in_hand(tmp_path: Path) -> None:
    outbox = Outbox(StateDB(tmp_path))
    ids = [outbox.append(str(n), ReportKind.DECLINE, {"reason": "busy"}) for n in range(6)]
    outbox.deliver(Recorder())
    age(outbox, 30, *ids)
    assert outbox.prune(keep_days=7, keep_last=2, keep_jobs=["0"]) == 3
    assert [r.job_id for r in outbox.reports()] == ["0", "4", "5"]
    assert all(r.status is ReportStatus.DELIVERED for r in outbox.reports())
    assert outbox.prune(keep_days=7, keep_last=2, keep_jobs=["0"]) == 0


def test_an_agent_restarted_after_an_outage_prunes_only_what_was_delivered(
        hub: FakeHub, write_config: Callable[..., Path]) -> None:
    lab = write_config(machines=machine_toml(speed=1000))
    lab.write_text(lab.read_text().replace('accept = "auto"', 'accept = "auto"\noutbox_keep_days = 0\n'
                                                                'outbox_keep_reports = 0'))
    runner = fast_runner(lab)
    first_job = hub.add_job()
    run_until(runner, lambda: hub.job(first_job["id"])["state"] == "completed" and not runner.outbox.pending())
    second_job = hub.add_job(volume_mm3=20000)  # 2060 s at speed 1000: about 2 s
    run_until(runner, lambda: hub.job(second_job["id"])["state"] == "in_production")
    hub.stop()
    run_until(runner, lambda: not runner.ledger.active())
    waiting = [(r.job_id, r.kind, r.body) for r in runner.outbox.pending()]
    assert waiting and waiting[-1][1] is ReportKind.COMPLETE
    runner.close()

    again = fast_runner(lab)
    again.tidy_up()  # an agent prunes as it starts
    assert [(r.job_id, r.kind, r.body) for r in again.outbox.reports()] == waiting
    hub.start()
    run_until(again, lambda: not again.outbox.pending())
    for job in (first_job, second_job):
        posted = [path.rsplit("/", 1)[1] for method, path in hub.requests
                  if method == "POST" and path.startswith(f"/api/v1/node/jobs/{job['id']}/")]
        assert posted.count("accept") == 1 and posted.count("complete") == 1 and posted[-1] == "complete"
        seqs = [body["seq"] for kind, body in hub.reports_for(job["id"]) if kind == "progress"]
        assert posted.count("progress") == len(seqs)  # no report went twice
        assert seqs == list(range(1, len(seqs) + 1))
    assert hub.job(second_job["id"])["state"] == "completed"


# -- downloaded files -----------------------------------------------------------------------


def test_a_jobs_file_stays_while_it_is_made_and_goes_when_it_ends(hub: FakeHub,
                                                                 write_config: Callable[..., Path]) -> None:
    job = hub.add_job()
    runner = fast_runner(write_config(machines=machine_toml(speed=1)))  # about 460 s per part: stays busy
    run_until(runner, lambda: hub.job(job["id"])["state"] == "in_production")
    local = runner.ledger.get(str(job["id"]))
    assert local is not None and local.file_path is not None
    for _ in range(3):
        runner.step()
    assert local.file_path.read_bytes() == hub.files[str(job["id"])]
    hub.withdraw(job["id"])
    run_until(runner, lambda: runner.ledger.get(str(job["id"])).phase is Phase.CANCELLED)  # type: ignore[union-attr]
    run_until(runner, lambda: not local.file_path.parent.exists())  # type: ignore[union-attr]


def test_a_file_that_failed_its_check_is_not_kept(hub: FakeHub, write_config: Callable[..., Path]) -> None:
    job = hub.add_job(sha256="0" * 64)
    runner = fast_runner(write_config())
    run_until(runner, lambda: hub.job(job["id"])["state"] == "failed")
    run_until(runner, lambda: not job_folder(runner.config.state_dir, str(job["id"])).exists())


def test_leftovers_of_ended_jobs_go_when_the_agent_starts(hub: FakeHub, write_config: Callable[..., Path]) -> None:
    lab = write_config(machines=machine_toml(speed=1))
    runner = fast_runner(lab)
    state_dir = runner.config.state_dir
    waiting = Job.from_json(hub.add_job())
    runner.ledger.accept(waiting, "mk4-1")
    kept = download_path(state_dir, waiting)
    ended = Job.from_json({**hub.add_job(), "id": "77"})
    runner.ledger.accept(ended, "mk4-1")
    runner.ledger.finish("77", ok=False, reason="made by hand, badly")
    for job in (waiting, ended):
        path = download_path(state_dir, job)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"solid x\nendsolid x\n")
        path.with_suffix(".gcode").write_text("G28\n")
    stray = job_folder(state_dir, "unknown-job") / "part.stl"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"?")
    stop = threading.Event()
    stop.set()  # no step of the loop runs: only what the agent does as it starts
    assert fast_runner(lab).run(stop_event=stop) == 0
    assert kept.exists()  # the job is still in hand: its file may yet be made
    assert not job_folder(state_dir, "77").exists() and not stray.parent.exists()
    assert [p.name for p in (state_dir / "files").iterdir()] == [kept.parent.name]
