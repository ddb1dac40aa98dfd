"""The hub goes away mid-job, the agent restarts: every report still arrives, in order, once."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fablab_nodes.ledger import Phase
from fablab_nodes.outbox import ReportStatus
from fablab_nodes.runner import Runner
from tests.fablab_nodes.conftest import fast_runner, machine_toml, run_until
from tests.fablab_nodes.fake_hub import FakeHub

# 1060 s of printing at speed 1000: about a second of real time.
SPEED = machine_toml(speed=1000)


def hub_down(hub: FakeHub, how: str) -> None:
    if how == "refused":
        hub.stop()
    else:
        hub.mode = "503"


def hub_up(hub: FakeHub, how: str) -> None:
    if how == "refused":
        hub.start()
    else:
        hub.mode = "up"


def assert_hub_got_everything_in_order(hub: FakeHub, runner: Runner, job_id: str) -> None:
    sent = [(r.kind.value, r.body) for r in runner.outbox.reports(job_id)]
    assert all(r.status is ReportStatus.DELIVERED for r in runner.outbox.reports(job_id))
    assert hub.reports_for(job_id) == sent  # nothing lost, nothing reordered, nothing twice
    kinds = [k for k, _ in sent]
    assert kinds[0] == "accept" and kinds[-1] == "complete"
    seqs = [b["seq"] for k, b in sent if k == "progress"]
    assert seqs == list(range(1, len(seqs) + 1))
    assert hub.job(job_id)["state"] == "completed"


@pytest.mark.parametrize("how", ["refused", "503"])
def test_hub_down_mid_job_then_back(hub: FakeHub, write_config: Callable[..., Path], how: str) -> None:
    job = hub.add_job()
    job_id = str(job["id"])
    runner = fast_runner(write_config(machines=SPEED))
    run_until(runner, lambda: hub.job(job_id)["state"] == "in_production")
    hub_down(hub, how)
    # The loop goes on while the hub is away: the job finishes, its reports wait.
    run_until(runner, lambda: runner.ledger.get(job_id).phase is Phase.FINISHED)  # type: ignore[union-attr]
    assert runner.hub_reachable is False
    waiting = runner.outbox.pending()
    assert waiting and waiting[-1].kind.value == "complete"
    hub_up(hub, how)
    run_until(runner, lambda: not runner.outbox.pending())
    assert_hub_got_everything_in_order(hub, runner, job_id)
    assert runner.hub_reachable is True


def test_agent_restarted_while_the_hub_is_down(hub: FakeHub, write_config: Callable[..., Path]) -> None:
    job = hub.add_job(volume_mm3=9400)  # 1000 s: 1 s at speed 1000
    job_id = str(job["id"])
    config = write_config(machines=SPEED)
    first = fast_runner(config)
    run_until(first, lambda: hub.job(job_id)["state"] == "in_production")
    hub.stop()
    deadline = time.monotonic() + 0.3
    run_until(first, lambda: time.monotonic() > deadline)
    queued_before = len(first.outbox.pending())
    assert queued_before >= 1
    first.close()
    del first

    # A new agent over the same state_dir: it finds its outbox, its job and the print where it was.
    second = fast_runner(config)
    assert len(second.outbox.pending()) == queued_before
    run_until(second, lambda: second.ledger.get(job_id).phase is Phase.FINISHED)  # type: ignore[union-attr]
    hub.start()
    run_until(second, lambda: not second.outbox.pending())
    assert_hub_got_everything_in_order(hub, second, job_id)


def test_reports_queued_by_an_earlier_agent_go_first(hub: FakeHub, write_config: Callable[..., Path]) -> None:
    """Two jobs, the hub away while both end: their reports arrive in the order they were made."""
    a, b = hub.add_job(), hub.add_job()
    machines = SPEED + "\n" + machine_toml(key="mk4-2", speed=1000)
    config = write_config(machines=machines)
    runner = fast_runner(config)
    run_until(runner, lambda: all(hub.job(j["id"])["state"] == "in_production" for j in (a, b)))
    hub.stop()
    run_until(runner, lambda: not runner.ledger.active())
    order = [(r.job_id, r.kind.value, r.body) for r in runner.outbox.reports()]
    runner = fast_runner(config)
    hub.start()
    run_until(runner, lambda: not runner.outbox.pending())
    assert [(j, k, b) for j, k, b in hub.received] == order
