"""Manual mode: the operator lists, accepts, declines and finishes jobs with ``cosmoloc agent ...``."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from fablab_nodes.cli import agent
from fablab_nodes.ledger import Phase
from tests.fablab_nodes.conftest import fast_runner, machine_toml, run_until
from tests.fablab_nodes.fake_hub import FakeHub

MANUAL = machine_toml(driver="manual") + "\n" + machine_toml(key="big", volume=(400, 400, 400), materials=("PLA",),
                                                             driver="manual")


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(agent, list(args))
    return result.exit_code, result.output


@pytest.fixture
def lab(write_config: Callable[..., Path]) -> Path:
    return write_config(machines=MANUAL, accept="manual")


def test_manual_mode_leaves_offers_to_the_operator(hub: FakeHub, lab: Path) -> None:
    job = hub.add_job()
    runner = fast_runner(lab)
    for _ in range(3):
        runner.step()
    assert hub.job(job["id"])["state"] == "offered"
    code, out = cli("jobs", "--config", str(lab))
    assert code == 0
    assert f"{job['id']}  Part {job['id']}  1 x PLA  20x20x20 mm" in out
    assert "fits mk4-1" in out


def test_operator_accepts_makes_and_marks_done(hub: FakeHub, lab: Path) -> None:
    job = hub.add_job(bbox_mm=(300, 20, 20))  # only the big machine takes it
    job_id = str(job["id"])
    code, out = cli("accept", job_id, "--config", str(lab))
    assert code == 0, out
    assert f"accepted job {job_id} on big" in out
    assert hub.job(job_id)["state"] == "accepted" and hub.job(job_id)["machine_key"] == "big"

    runner = fast_runner(lab)  # the running agent fetches the file and "starts" the manual machine
    run_until(runner, lambda: hub.job(job_id)["state"] == "in_production")
    runner.step()
    assert hub.machines["big"]["state"] == "busy"
    code, out = cli("jobs", "--config", str(lab))
    assert f"{job_id}  Part {job_id}  on big  producing" in out

    code, out = cli("done", job_id, "--note", "left at the front desk", "--config", str(lab))
    assert code == 0, out
    assert hub.job(job_id)["state"] == "completed"
    runner.step()
    runner.step()
    assert [k for k, _ in hub.reports_for(job_id)] == ["accept", "progress", "complete"]
    assert hub.machines["big"]["state"] == "idle"
    local = runner.ledger.get(job_id)
    assert local is not None and local.phase is Phase.FINISHED
    code, out = cli("done", job_id, "--config", str(lab))
    assert code == 1 and "not in hand" in out


def test_done_without_the_loop_running_still_reaches_the_hub(hub: FakeHub, lab: Path) -> None:
    job_id = str(hub.add_job()["id"])
    assert cli("accept", job_id, "--machine", "mk4-1", "--config", str(lab))[0] == 0
    code, out = cli("done", job_id, "--config", str(lab))
    assert code == 0, out
    assert hub.job(job_id)["state"] == "completed"  # a progress went first, so the hub saw production start


def test_operator_declines_and_fails(hub: FakeHub, lab: Path) -> None:
    declined, failed = str(hub.add_job()["id"]), str(hub.add_job()["id"])
    code, out = cli("decline", declined, "--reason", "out of PLA this week", "--config", str(lab))
    assert code == 0, out
    assert hub.job(declined)["reason"] == "out of PLA this week"
    code, out = cli("accept", declined, "--config", str(lab))
    assert code == 1 and "already declined" in out

    assert cli("accept", failed, "--config", str(lab))[0] == 0
    code, out = cli("fail", failed, "--reason", "nozzle clogged", "--config", str(lab))
    assert code == 0, out
    assert hub.job(failed)["state"] == "failed" and hub.job(failed)["reason"] == "nozzle clogged"


def test_operator_command_errors(hub: FakeHub, lab: Path) -> None:
    job_id = str(hub.add_job(material="PETG")["id"])
    code, out = cli("accept", job_id, "--machine", "nope", "--config", str(lab))
    assert code == 2 and "no machine 'nope'" in out
    code, out = cli("accept", job_id, "--machine", "big", "--config", str(lab))
    assert code == 1 and "no machine with material PETG" in out
    code, out = cli("accept", "999", "--config", str(lab))
    assert code == 1 and "404" in out
    code, out = cli("decline", job_id, "--config", str(lab))
    assert code == 2  # --reason is required
    hub.withdraw(job_id)
    code, out = cli("accept", job_id, "--config", str(lab))
    assert code == 1 and "withdrawn, not offered" in out


def test_a_decline_while_the_hub_is_down_is_queued(hub: FakeHub, lab: Path) -> None:
    job_id = str(hub.add_job()["id"])
    hub.stop()
    code, out = cli("decline", job_id, "--reason", "closed for holidays", "--config", str(lab))
    assert code == 0 and "queued" in out
    hub.start()
    runner = fast_runner(lab)
    runner.step()
    assert hub.job(job_id)["state"] == "declined"
