"""One fit rule for the hub and the agent: a part that fits on one side fits on the other, edges included."""
from __future__ import annotations

from itertools import permutations

from hypothesis import given, settings
from hypothesis import strategies as st

from design_commons.fitting import Misfit, fits
from fablab_nodes.config import MachineConfig
from fablab_nodes.fitting import Stage, check_machine
from fablab_nodes.jobs import Job
from server.orders.matching import MachineFacts
from server.orders.matching import fits as hub_fits

side = st.sampled_from([0.0, 10.0, 99.9, 100.0, 100.1, 250.0]) | st.floats(0, 600, allow_nan=False)
box = st.tuples(side, side, side)


def _brute(bbox: tuple[float, float, float], volume: tuple[float, float, float]) -> bool:
    return any(all(a <= b for a, b in zip(p, volume, strict=True)) for p in permutations(bbox))


def _agent_fits(process: str, volume: tuple[float, float, float], requirements: dict, thickness: float | None) -> bool:
    machine = MachineConfig(key="m", name="M", process=process, build_volume_mm=volume, materials=("PLA",), driver="simulated")
    job = Job.from_json({"id": 1, "order_id": 1, "state": "offered", "material": "PLA", "quantity": 1,
                         "file": {"id": 1, "filename": "p", "format": "stl", "sha256": "0" * 64, "size_bytes": 1,
                                  "requirements": {**requirements, "processes": [process],
                                                   "thickness_mm": thickness}}})
    return check_machine(machine, job).stage is not Stage.SIZE


def _hub_fits(process: str, volume: tuple[float, float, float], requirements: dict, thickness: float | None) -> bool:
    facts = MachineFacts(key="m", process=process, build_x_mm=volume[0], build_y_mm=volume[1], build_z_mm=volume[2],
                         materials=["PLA"], state=None, queue_length=0)  # type: ignore[arg-type]
    return hub_fits(requirements, facts, thickness) is None


@settings(max_examples=300, deadline=None)
@given(part=box, volume=box)
def test_a_mesh_fits_in_some_axis_aligned_orientation_on_hub_and_agent_alike(part: tuple, volume: tuple) -> None:
    requirements = {"bbox_mm": list(part)}
    expected = _brute(part, volume)
    assert (fits(requirements, volume, "fdm") is None) == expected
    assert _hub_fits("fdm", volume, requirements, None) == expected
    assert _agent_fits("fdm", volume, requirements, None) == expected


@settings(max_examples=300, deadline=None)
@given(sheet=st.tuples(side, side), bed=box, thickness=st.none() | side)
def test_a_sheet_fits_the_bed_turned_or_not_and_its_stock_the_cut_depth(sheet: tuple, bed: tuple,
                                                                        thickness: float | None) -> None:
    requirements = {"sheet_mm": list(sheet), "bbox_mm": [*sheet, 0.0]}
    lies = (sheet[0] <= bed[0] and sheet[1] <= bed[1]) or (sheet[1] <= bed[0] and sheet[0] <= bed[1])
    cuts = thickness is None or thickness <= bed[2]
    verdict = fits(requirements, bed, "laser_cutting", thickness)
    assert verdict == (None if lies and cuts else Misfit.TOO_SMALL if not lies else Misfit.TOO_THICK)
    assert _hub_fits("laser_cutting", bed, requirements, thickness) == (lies and cuts)
    assert _agent_fits("laser_cutting", bed, requirements, thickness) == (lies and cuts)


def test_a_part_of_unknown_size_fits_nowhere() -> None:
    for process in ("fdm", "laser_cutting"):
        assert fits({}, (300, 300, 300), process) is Misfit.TOO_SMALL
        assert not _hub_fits(process, (300, 300, 300), {}, None)
        assert not _agent_fits(process, (300, 300, 300), {}, None)


def test_a_drawing_without_sheet_size_uses_its_extent() -> None:
    assert fits({"bbox_mm": [500, 200, 0]}, (600, 400, 10), "laser_cutting") is None
    assert fits({"bbox_mm": [500, 200, 0]}, (400, 600, 10), "laser_cutting") is None
    assert fits({"bbox_mm": [700, 200, 0]}, (600, 400, 10), "laser_cutting") is Misfit.TOO_SMALL
