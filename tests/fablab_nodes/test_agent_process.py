"""``cosmoloc agent --config lab.toml`` as a real process: it makes a job, and SIGTERM ends it cleanly."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.fablab_nodes.fake_hub import FakeHub

REPO = Path(__file__).resolve().parents[2]


def test_the_agent_process_makes_a_job_and_stops_on_sigterm(hub: FakeHub, write_config: Callable[..., Path]) -> None:
    job = hub.add_job()
    config = write_config()
    proc = subprocess.Popen([sys.executable, "-c", "from fablab_nodes.cli import agent; agent()", "--config",
                             str(config)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while hub.job(job["id"])["state"] != "completed" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert hub.job(job["id"])["state"] == "completed"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "accepting job" in err and "agent stopped" in err
    assert hub.token not in out + err
    assert hub.heartbeats and hub.heartbeats[0]["agent"].startswith("cosmoloc-agent/")
