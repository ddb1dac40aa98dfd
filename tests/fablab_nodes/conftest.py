"""Fixtures for the agent's tests: a fake hub on loopback, a lab config, fast runners."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fablab_nodes.config import load_config
from fablab_nodes.hub_client import HubClient
from fablab_nodes.runner import Runner
from tests.fablab_nodes.fake_hub import FakeHub


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    fake = FakeHub().start()
    yield fake
    fake.stop()


def machine_toml(key: str = "mk4-1", process: str = "fdm", volume: tuple[int, int, int] = (250, 210, 220),
                 materials: tuple[str, ...] = ("PLA", "PETG"), driver: str = "simulated", speed: float = 1000.0,
                 **extra: str) -> str:
    mats = ", ".join(f'"{m}"' for m in materials)
    lines = ["[[machines]]", f'key = "{key}"', f'name = "Machine {key}"', f'process = "{process}"',
             f"build_volume_mm = [{', '.join(str(v) for v in volume)}]", f"materials = [{mats}]",
             f'driver = "{driver}"', f"speed = {speed}"]
    lines += [f"{k} = {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def write_config(tmp_path: Path, hub: FakeHub) -> Callable[..., Path]:
    """Write ``lab.toml`` (and the token file) in a fresh folder; returns its path."""

    def write(machines: str | None = None, accept: str = "auto", token: str | None = None,
              poll_interval_s: float = 0.02, hub_url: str | None = None, folder: str = "lab") -> Path:
        lab = tmp_path / folder
        lab.mkdir(exist_ok=True)
        (lab / "node-token").write_text((token or hub.token) + "\n")
        text = (f'hub = "{hub_url or hub.url}"\ntoken_file = "node-token"\nstate_dir = "agent-state"\n'
                f'poll_interval_s = {poll_interval_s}\naccept = "{accept}"\n\n' + (machines or machine_toml()))
        path = lab / "lab.toml"
        path.write_text(text)
        return path

    return write


def fast_runner(config_path: Path) -> Runner:
    """A runner whose hub client gives up fast, so a hub that is down costs the tests little time."""
    config = load_config(config_path)
    return Runner(config, client=HubClient(config.hub, config.token, retries=1, backoff_s=0.005,
                                           max_backoff_s=0.02, timeout=(1.0, 5.0)))


def run_until(runner: Runner, done: Callable[[], Any], timeout_s: float = 8.0, pause_s: float = 0.02) -> None:
    """Step the runner until ``done()`` is true; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError("the agent did not get there in time")
        runner.step()
        time.sleep(pause_s)
