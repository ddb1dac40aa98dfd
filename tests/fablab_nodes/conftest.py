"""Fixtures for the agent's tests: a fake hub on loopback, a lab config, fast runners; a real
OctoPrint (one for the whole session) with a lab config for the octoprint driver."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trimesh

from fablab_nodes.config import load_config
from fablab_nodes.drivers import OctoPrintDriver
from fablab_nodes.drivers.slicer import find_slicer
from fablab_nodes.hub_client import HubClient
from fablab_nodes.runner import Runner
from tests.fablab_nodes.fake_hub import FakeHub
from tests.fablab_nodes.octoprint_server import OctoPrintServer, octoprint_program, octoprint_version


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


# -- OctoPrint and PrusaSlicer ------------------------------------------------------------

INSTALL_HINT = "run tests/setup/install_test_deps.sh (as root) to install it"
PROFILE_VOLUME = (180.0, 170.0, 160.0)  # the OctoPrint printer profile's; the TOML says 250 x 210 x 220

# A minimal PrusaSlicer profile: a 200 mm bed, 0.4 mm nozzle, thick layers, fast moves, one
# perimeter, no infill and no heating (the virtual printer would wait for its heaters).
FAST_INI = """\
bed_shape = 0x0,200x0,200x200,0x200
max_print_height = 200
gcode_flavor = marlin
nozzle_diameter = 0.4
filament_diameter = 1.75
layer_height = 0.3
first_layer_height = 0.3
perimeters = 1
top_solid_layers = 1
bottom_solid_layers = 1
fill_density = 0%
skirts = 0
perimeter_speed = 300
external_perimeter_speed = 300
infill_speed = 300
solid_infill_speed = 300
top_solid_infill_speed = 300
travel_speed = 300
first_layer_speed = 300
temperature = 0
first_layer_temperature = 0
bed_temperature = 0
first_layer_bed_temperature = 0
"""


def cube_stl(size_mm: float = 5.0) -> bytes:
    """A binary STL of a cube standing on z = 0."""
    mesh = trimesh.creation.box((size_mm, size_mm, size_mm))
    mesh.apply_translation((0, 0, size_mm / 2))
    data = mesh.export(file_type="stl")
    assert isinstance(data, bytes)
    return data


@pytest.fixture(scope="session")
def slicer() -> str:
    found = find_slicer()
    if found is None:
        pytest.skip(f"PrusaSlicer (prusa-slicer) is not installed: {INSTALL_HINT}")
    return found


@pytest.fixture(scope="session")
def octoprint(tmp_path_factory: pytest.TempPathFactory, slicer: str) -> Iterator[OctoPrintServer]:
    program = octoprint_program()
    if program is None:
        pytest.skip(f"OctoPrint is not installed in .octoprint-venv: {INSTALL_HINT}")
    assert octoprint_version(program).startswith("1.11.")
    server = OctoPrintServer(tmp_path_factory.mktemp("octoprint"), program, volume_mm=PROFILE_VOLUME)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def printer(octoprint: OctoPrintServer) -> Iterator[OctoPrintServer]:
    """The shared OctoPrint, idle before and after the test."""
    octoprint.wait_idle()
    yield octoprint
    if octoprint.get("/api/job").json().get("state") != "Operational":
        octoprint.post("/api/job", {"command": "cancel"})
    octoprint.wait_idle()


@pytest.fixture
def lab_config(write_config: Callable[..., Path], tmp_path: Path) -> Callable[..., Path]:
    """Write a lab TOML with one octoprint machine (key ``mk4-1``) pointing at ``url``; ``slicer``:
    the slicer program (a path relative to the lab folder, or a name on PATH)."""

    def write(url: str, api_key: str, ini: str = FAST_INI, slicer: str | None = None,
              slice_timeout_s: float = 120) -> Path:
        lab = tmp_path / "lab"
        lab.mkdir(exist_ok=True)
        (lab / "octoprint.key").write_text(api_key + "\n")
        (lab / "profiles").mkdir(exist_ok=True)
        (lab / "profiles" / "fast.ini").write_text(ini)
        table = (f'\n[machines.octoprint]\nurl = "{url}"\napi_key_file = "octoprint.key"\n'
                 f'slicer_config = "profiles/fast.ini"\nslice_timeout_s = {slice_timeout_s}\n')
        if slicer is not None:
            table += f'slicer = "{slicer}"\n'
        return write_config(machines=machine_toml(driver="octoprint") + table)

    return write


def octoprint_driver(runner: Runner) -> OctoPrintDriver:
    driver = runner.drivers["mk4-1"]
    assert isinstance(driver, OctoPrintDriver)
    # Tests stop and start things quickly: no quiet spell after a failed call.
    driver.client.quiet_after_failure_s = 0.0
    driver.client.backoff_s = 0.01
    return driver
