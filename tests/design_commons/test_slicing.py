"""The reference slice: a real PrusaSlicer run in a bounded child, its figures read from the G-code."""
from __future__ import annotations

import pytest
import trimesh

from design_commons import estimates, slicing

needs_slicer = pytest.mark.skipif(slicing.find_slicer() is None,
                                  reason="prusa-slicer is not installed (apt-get install prusa-slicer)")


@pytest.fixture
def cube(tmp_path):
    path = tmp_path / "cube.stl"
    trimesh.creation.box((20, 20, 20)).export(path)
    return path


@needs_slicer
def test_a_cube_sliced_for_two_materials(cube):
    pla, petg = slicing.slice_stl(cube, "polylactic acid"), slicing.slice_stl(cube, "PETG")
    assert pla.material == "PLA" and pla.slicer_version[0].isdigit()
    # grams are the slicer's cm3 at each material's density (design_commons.materials): 1.24 and 1.27 g/cm3
    assert pla.mass_g == pytest.approx(pla.material_cm3 * 1.24, rel=0.02)
    assert petg.mass_g == pytest.approx(petg.material_cm3 * 1.27, rel=0.02)
    # the same print settings as the geometry formula's (2 perimeters, 15 % infill): close to its 3.04 cm3
    assert 2.0 < pla.material_cm3 < 4.0
    assert 300 < pla.machine_time_s < 3600
    assert pla.profile_sha256 == slicing.profile_sha256("PLA") != petg.profile_sha256
    assert estimates.INFILL == 0.15 and slicing.REFERENCE["fill_density"] == "15%"


@needs_slicer
def test_bounds_and_failures_say_why(cube, tmp_path):
    with pytest.raises(slicing.SliceError) as bound:
        slicing.slice_stl(cube, "PLA", memory_mb=64)  # far less than PrusaSlicer needs to start
    assert bound.value.code in ("slicer_limit", "slicer_failed")
    with pytest.raises(slicing.SliceError) as timed:
        slicing.slice_stl(cube, "PLA", wall_s=0.001)
    assert timed.value.code == "slicer_limit"
    broken = tmp_path / "broken.stl"
    broken.write_bytes(b"solid nothing\nendsolid nothing\n")
    with pytest.raises(slicing.SliceError) as failed:
        slicing.slice_stl(broken, "PLA")
    assert failed.value.code == "slicer_failed"


def test_materials_without_a_reference_profile_are_refused(cube):
    with pytest.raises(slicing.SliceError) as e:
        slicing.slice_stl(cube, "Plywood", slicer="true")
    assert e.value.code == "unknown_material"
    with pytest.raises(slicing.SliceError) as none:
        slicing.slice_stl(cube, "PLA", slicer="no-such-slicer-here")
    assert none.value.code == "no_slicer"
